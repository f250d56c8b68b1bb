//! The `api_keys` table: deploy keys. Only the SHA-256 of a token is stored; the token itself
//! is shown once, at creation.

use rusqlite::{Connection, OptionalExtension, params};

/// A key as listed (never with its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked: bool,
}

pub fn insert(
    conn: &Connection,
    name: &str,
    key_hash: &str,
    scopes: &[String],
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO api_keys (name, key_hash, scopes) VALUES (?1, ?2, ?3)",
        params![
            name,
            key_hash,
            serde_json::to_string(scopes).unwrap_or_else(|_| "[]".into())
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

fn row(r: &rusqlite::Row) -> rusqlite::Result<KeyRow> {
    let scopes: String = r.get(2)?;
    Ok(KeyRow {
        id: r.get(0)?,
        name: r.get(1)?,
        scopes: serde_json::from_str(&scopes).unwrap_or_default(),
        created_at: r.get(3)?,
        last_used_at: r.get(4)?,
        revoked: r.get::<_, Option<String>>(5)?.is_some(),
    })
}

const COLUMNS: &str = "id, name, scopes, created_at, last_used_at, revoked_at";

pub fn list(conn: &Connection) -> rusqlite::Result<Vec<KeyRow>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM api_keys ORDER BY id"))?;
    stmt.query_map([], row)?.collect()
}

/// The live (not revoked) key with this token hash; marks it used.
pub fn use_by_hash(conn: &Connection, key_hash: &str) -> rusqlite::Result<Option<KeyRow>> {
    let key = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL"),
            [key_hash],
            row,
        )
        .optional()?;
    if let Some(k) = &key {
        conn.execute(
            "UPDATE api_keys SET last_used_at = CURRENT_TIMESTAMP WHERE id = ?1",
            [k.id],
        )?;
    }
    Ok(key)
}

/// Revokes a key; `false` when no live key has this id.
pub fn revoke(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE api_keys SET revoked_at = CURRENT_TIMESTAMP WHERE id = ?1 AND revoked_at IS NULL",
        [id],
    )?;
    Ok(n == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_use_revoke() {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate(&conn).unwrap();
        let id = insert(&conn, "bob", "h1", &["deploy:blog".into()]).unwrap();
        let k = use_by_hash(&conn, "h1").unwrap().unwrap();
        assert_eq!(
            (k.id, k.name.as_str(), k.scopes.clone()),
            (id, "bob", vec!["deploy:blog".to_string()])
        );
        assert!(list(&conn).unwrap()[0].last_used_at.is_some());
        assert!(use_by_hash(&conn, "nope").unwrap().is_none());
        assert!(revoke(&conn, id).unwrap());
        assert!(!revoke(&conn, id).unwrap(), "revoking twice");
        assert!(use_by_hash(&conn, "h1").unwrap().is_none());
        assert!(list(&conn).unwrap()[0].revoked);
    }
}
