//! The `tracked_domains` table: which domains hosted elsewhere may send pageviews.

use rusqlite::Connection;

pub fn list(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT domain FROM tracked_domains ORDER BY domain")?;
    stmt.query_map([], |r| r.get(0))?.collect()
}

pub fn is_tracked(conn: &Connection, domain: &str) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM tracked_domains WHERE domain = ?1")?;
    stmt.exists([domain])
}

/// Adds a domain; `false` when it was already there.
pub fn add(conn: &Connection, domain: &str) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "INSERT OR IGNORE INTO tracked_domains (domain) VALUES (?1)",
        [domain],
    )?;
    Ok(n == 1)
}

/// Removes a domain; `false` when it was not there.
pub fn remove(conn: &Connection, domain: &str) -> rusqlite::Result<bool> {
    let n = conn.execute("DELETE FROM tracked_domains WHERE domain = ?1", [domain])?;
    Ok(n == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_list_remove() {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate(&conn).unwrap();
        assert!(add(&conn, "b.example").unwrap());
        assert!(!add(&conn, "b.example").unwrap());
        assert!(add(&conn, "a.example").unwrap());
        assert_eq!(list(&conn).unwrap(), ["a.example", "b.example"]);
        assert!(is_tracked(&conn, "a.example").unwrap());
        assert!(remove(&conn, "a.example").unwrap());
        assert!(!is_tracked(&conn, "a.example").unwrap());
        assert!(!remove(&conn, "a.example").unwrap());
    }
}
