//! The `admin` and `sessions` tables: the one dashboard password (an Argon2id PHC string, never
//! the password) and login sessions (only the SHA-256 of each cookie value is stored).

use rusqlite::{Connection, OptionalExtension, params};

/// The stored Argon2id hash of the admin password, if one was ever set.
pub fn password_hash(conn: &Connection) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT password_hash FROM admin WHERE id = 1", [], |r| {
        r.get(0)
    })
    .optional()
}

/// Sets the admin password hash and ends every session: a new password locks out whoever
/// knew the old one.
pub fn set_password_hash(conn: &mut Connection, hash: &str) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO admin (id, password_hash, updated_at) VALUES (1, ?1, CURRENT_TIMESTAMP)
         ON CONFLICT(id) DO UPDATE SET password_hash = excluded.password_hash,
                                       updated_at = excluded.updated_at",
        [hash],
    )?;
    tx.execute("DELETE FROM sessions", [])?;
    tx.commit()
}

/// A live session: its CSRF token, for forms and the `X-CSRF-Token` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id_hash: String,
    pub csrf_token: String,
}

pub fn insert_session(
    conn: &Connection,
    id_hash: &str,
    csrf_token: &str,
    lifetime_secs: u64,
    ip: &str,
    user_agent: &str,
) -> rusqlite::Result<()> {
    // Expired sessions are removed whenever someone logs in, so the table stays small.
    conn.execute(
        "DELETE FROM sessions WHERE expires_at <= datetime('now')",
        [],
    )?;
    conn.execute(
        "INSERT INTO sessions (id_hash, csrf_token, expires_at, ip, user_agent)
         VALUES (?1, ?2, datetime('now', ?3), ?4, ?5)",
        params![
            id_hash,
            csrf_token,
            format!("+{lifetime_secs} seconds"),
            ip,
            user_agent
        ],
    )?;
    Ok(())
}

/// The session with this id hash, unless it has expired.
pub fn live_session(conn: &Connection, id_hash: &str) -> rusqlite::Result<Option<SessionRow>> {
    conn.query_row(
        "SELECT id_hash, csrf_token FROM sessions
         WHERE id_hash = ?1 AND expires_at > datetime('now')",
        [id_hash],
        |r| {
            Ok(SessionRow {
                id_hash: r.get(0)?,
                csrf_token: r.get(1)?,
            })
        },
    )
    .optional()
}

pub fn delete_session(conn: &Connection, id_hash: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM sessions WHERE id_hash = ?1", [id_hash])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_and_sessions() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrate(&conn).unwrap();
        assert_eq!(password_hash(&conn).unwrap(), None);
        set_password_hash(&mut conn, "h1").unwrap();
        insert_session(&conn, "s1", "c1", 60, "127.0.0.1", "test").unwrap();
        assert_eq!(live_session(&conn, "s1").unwrap().unwrap().csrf_token, "c1");
        assert_eq!(live_session(&conn, "nope").unwrap(), None);

        conn.execute("UPDATE sessions SET expires_at = '2000-01-01 00:00:00'", [])
            .unwrap();
        assert_eq!(live_session(&conn, "s1").unwrap(), None, "expired");

        insert_session(&conn, "s2", "c2", 60, "127.0.0.1", "test").unwrap();
        set_password_hash(&mut conn, "h2").unwrap();
        assert_eq!(password_hash(&conn).unwrap().as_deref(), Some("h2"));
        assert_eq!(
            live_session(&conn, "s2").unwrap(),
            None,
            "a new password ends sessions"
        );
    }
}
