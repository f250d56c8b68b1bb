//! The `audit_log` table: who did what and when. Callers pass names and targets only, never a
//! secret.

use rusqlite::{Connection, params};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub created_at: String,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
}

/// `record`, for callers whose change is already done: a row that cannot be written is
/// logged on stderr, never a failure of the change itself.
pub fn record_or_log(
    conn: &Connection,
    actor: &str,
    action: &str,
    target: Option<&str>,
    ip: Option<&str>,
) {
    if let Err(e) = record(conn, actor, action, target, ip) {
        eprintln!("audit: could not record {action} by {actor}: {e}");
    }
}

pub fn record(
    conn: &Connection,
    actor: &str,
    action: &str,
    target: Option<&str>,
    ip: Option<&str>,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO audit_log (actor, action, target, ip) VALUES (?1, ?2, ?3, ?4)",
        params![actor, action, target, ip],
    )?;
    Ok(())
}

/// The newest `limit` entries, newest first.
pub fn recent(conn: &Connection, limit: u32) -> rusqlite::Result<Vec<AuditRow>> {
    let mut stmt = conn.prepare(
        "SELECT created_at, actor, action, target, ip FROM audit_log ORDER BY id DESC LIMIT ?1",
    )?;
    stmt.query_map([limit], |r| {
        Ok(AuditRow {
            created_at: r.get(0)?,
            actor: r.get(1)?,
            action: r.get(2)?,
            target: r.get(3)?,
            ip: r.get(4)?,
        })
    })?
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_first() {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate(&conn).unwrap();
        record(&conn, "admin", "login", None, Some("127.0.0.1")).unwrap();
        record(&conn, "bob", "deploy", Some("blog"), None).unwrap();
        let rows = recent(&conn, 10).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].actor.as_str(), rows[0].action.as_str()),
            ("bob", "deploy")
        );
        assert_eq!(recent(&conn, 1).unwrap().len(), 1);
    }
}
