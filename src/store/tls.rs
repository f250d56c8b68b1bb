//! SQL for HTTPS: the private CA and ACME account keys, and one certificate per host name.

use rusqlite::{Connection, OptionalExtension, params};

/// A certificate as kept: PEM text and what the status listing shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCert {
    pub name: String,
    pub issuer: String,
    pub chain_pem: String,
    pub key_pem: String,
    pub not_before: i64,
    pub not_after: i64,
    pub renewed_at: i64,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
}

/// The PEM text kept under `kind` ('ca', 'acme-account <url>').
pub fn key(conn: &Connection, kind: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT pem FROM tls_keys WHERE kind = ?1", [kind], |r| {
        r.get(0)
    })
    .optional()
}

/// Keeps `pem` under `kind` unless something is already there; returns what is kept, so two
/// processes racing to make a CA end up using the same one.
pub fn key_or_insert(conn: &Connection, kind: &str, pem: &str) -> rusqlite::Result<String> {
    conn.execute(
        "INSERT INTO tls_keys (kind, pem) VALUES (?1, ?2) ON CONFLICT(kind) DO NOTHING",
        params![kind, pem],
    )?;
    conn.query_row("SELECT pem FROM tls_keys WHERE kind = ?1", [kind], |r| {
        r.get(0)
    })
}

fn row(r: &rusqlite::Row) -> rusqlite::Result<StoredCert> {
    Ok(StoredCert {
        name: r.get(0)?,
        issuer: r.get(1)?,
        chain_pem: r.get(2)?,
        key_pem: r.get(3)?,
        not_before: r.get(4)?,
        not_after: r.get(5)?,
        renewed_at: r.get(6)?,
        last_error: r.get(7)?,
        last_error_at: r.get(8)?,
    })
}

const COLUMNS: &str = "name, issuer, chain_pem, key_pem, not_before, not_after, renewed_at, last_error, last_error_at";

/// Every certificate, by name.
pub fn certificates(conn: &Connection) -> rusqlite::Result<Vec<StoredCert>> {
    conn.prepare(&format!("SELECT {COLUMNS} FROM certificates ORDER BY name"))?
        .query_map([], row)?
        .collect()
}

/// Keeps a newly obtained certificate for its name (replacing the one it renews).
pub fn put_certificate(conn: &Connection, c: &StoredCert) -> rusqlite::Result<()> {
    conn.execute(
        &format!(
            "INSERT OR REPLACE INTO certificates ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, NULL)"
        ),
        params![c.name, c.issuer, c.chain_pem, c.key_pem, c.not_before, c.not_after, c.renewed_at],
    )?;
    Ok(())
}

/// Notes why renewing `name`'s certificate failed (the certificate itself stays in use).
pub fn note_error(conn: &Connection, name: &str, error: &str, at: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE certificates SET last_error = ?2, last_error_at = ?3 WHERE name = ?1",
        params![name, error, at],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renewal_replaces_the_certificate_and_clears_its_error() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open(&dir.path().join("cc.db")).unwrap();
        let mut c = StoredCert {
            name: "a.example".into(),
            issuer: "internal".into(),
            chain_pem: "chain".into(),
            key_pem: "key".into(),
            not_before: 1,
            not_after: 100,
            renewed_at: 1,
            last_error: None,
            last_error_at: None,
        };
        put_certificate(&conn, &c).unwrap();
        note_error(&conn, "a.example", "timed out", 50).unwrap();
        assert_eq!(
            certificates(&conn).unwrap()[0].last_error.as_deref(),
            Some("timed out")
        );
        c.chain_pem = "chain2".into();
        put_certificate(&conn, &c).unwrap();
        assert_eq!(certificates(&conn).unwrap(), vec![c]);
        assert_eq!(key_or_insert(&conn, "ca", "first").unwrap(), "first");
        assert_eq!(key_or_insert(&conn, "ca", "second").unwrap(), "first");
        assert_eq!(key(&conn, "nope").unwrap(), None);
    }
}
