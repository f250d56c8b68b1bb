//! The `events` table: inserting batches of visits. Queries for the dashboard come later.

use rusqlite::{Connection, params};

/// One visit, ready to store: no raw IP, only the salted hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// Seconds since the Unix epoch (UTC).
    pub unix_time: i64,
    pub source_type: &'static str,
    pub domain: String,
    pub path: String,
    pub status: u16,
    pub referrer: Option<String>,
    pub ua_family: &'static str,
    pub visitor_hash: String,
    pub event_type: String,
    pub tags: Option<String>,
    pub payload: Option<String>,
}

/// Inserts all rows in one transaction (one fsync for the batch, not one per visit).
pub fn insert_batch(conn: &mut Connection, rows: &[EventRow]) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO events
               (created_at, source_type, domain, path, status, referrer, ua_family, visitor_hash,
                event_type, tags, payload)
             VALUES (datetime(?1, 'unixepoch'), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for e in rows {
            stmt.execute(params![
                e.unix_time,
                e.source_type,
                e.domain,
                e.path,
                e.status,
                e.referrer,
                e.ua_family,
                e.visitor_hash,
                e.event_type,
                e.tags,
                e.payload
            ])?;
        }
    }
    tx.commit()
}

pub fn count(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_a_batch_with_utc_timestamps() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrate(&conn).unwrap();
        let row = EventRow {
            unix_time: 1_767_225_600, // 2026-01-01 00:00:00 UTC
            source_type: "hosting",
            domain: "blog".into(),
            path: "/".into(),
            status: 200,
            referrer: None,
            ua_family: "curl",
            visitor_hash: "abc".into(),
            event_type: "pageview".into(),
            tags: None,
            payload: None,
        };
        insert_batch(&mut conn, &[row.clone(), row]).unwrap();
        assert_eq!(count(&conn).unwrap(), 2);
        let ts: String = conn
            .query_row("SELECT created_at FROM events LIMIT 1", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ts, "2026-01-01 00:00:00");
    }
}
