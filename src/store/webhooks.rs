//! The `webhooks` table (endpoints and their optional signing secrets) and the payloads they
//! received, read back from `events` (`source_type='webhook'`, `domain` = the endpoint name).

use rusqlite::{Connection, OptionalExtension, params};

/// One endpoint as the list shows it: never its secret, only whether it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub endpoint: String,
    pub signed: bool,
    pub created_at: String,
    /// Events received and still kept (raw events are pruned after the retention period).
    pub events: i64,
}

/// One endpoint with its secret, for checking a request's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub endpoint: String,
    /// `None`: requests need no signature.
    pub secret: Option<String>,
    pub created_at: String,
}

/// One received request, newest first from `recent_payloads`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    pub created_at: String,
    pub event_type: String,
    pub payload: String,
}

pub fn list(conn: &Connection) -> rusqlite::Result<Vec<Endpoint>> {
    let mut stmt = conn.prepare_cached(
        "SELECT w.endpoint, w.secret IS NOT NULL, w.created_at,
                (SELECT count(*) FROM events e
                  WHERE e.domain = w.endpoint AND e.source_type = 'webhook')
           FROM webhooks w ORDER BY w.endpoint",
    )?;
    stmt.query_map([], |r| {
        Ok(Endpoint {
            endpoint: r.get(0)?,
            signed: r.get(1)?,
            created_at: r.get(2)?,
            events: r.get(3)?,
        })
    })?
    .collect()
}

pub fn get(conn: &Connection, endpoint: &str) -> rusqlite::Result<Option<Webhook>> {
    conn.prepare_cached("SELECT endpoint, secret, created_at FROM webhooks WHERE endpoint = ?1")?
        .query_row([endpoint], |r| {
            Ok(Webhook {
                endpoint: r.get(0)?,
                secret: r.get(1)?,
                created_at: r.get(2)?,
            })
        })
        .optional()
}

/// Adds an endpoint; `false` when one of that name exists (its secret is left alone).
pub fn create(conn: &Connection, endpoint: &str, secret: Option<&str>) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "INSERT OR IGNORE INTO webhooks (endpoint, secret) VALUES (?1, ?2)",
        params![endpoint, secret],
    )?;
    Ok(n == 1)
}

/// Removes an endpoint; `false` when there was none. Its received events stay in `events`
/// (Analytics keeps counting them) until the retention period prunes them.
pub fn delete(conn: &Connection, endpoint: &str) -> rusqlite::Result<bool> {
    let n = conn.execute("DELETE FROM webhooks WHERE endpoint = ?1", [endpoint])?;
    Ok(n == 1)
}

/// The `limit` newest payloads an endpoint received, newest first.
pub fn recent_payloads(
    conn: &Connection,
    endpoint: &str,
    limit: u32,
) -> rusqlite::Result<Vec<Payload>> {
    // `id` breaks ties within one second: rows are inserted in arrival order.
    let mut stmt = conn.prepare_cached(
        "SELECT created_at, event_type, coalesce(payload, '') FROM events
          WHERE domain = ?1 AND source_type = 'webhook'
          ORDER BY created_at DESC, id DESC LIMIT ?2",
    )?;
    stmt.query_map(params![endpoint, limit], |r| {
        Ok(Payload {
            created_at: r.get(0)?,
            event_type: r.get(1)?,
            payload: r.get(2)?,
        })
    })?
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_their_payloads() {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate(&conn).unwrap();
        assert!(create(&conn, "github", Some("s3cret")).unwrap());
        assert!(!create(&conn, "github", None).unwrap(), "duplicate");
        assert!(create(&conn, "plain", None).unwrap());
        assert_eq!(
            get(&conn, "github").unwrap().unwrap().secret.as_deref(),
            Some("s3cret"),
            "a duplicate create keeps the first secret"
        );
        assert!(get(&conn, "nope").unwrap().is_none());

        let insert = |domain: &str, source: &str, time: &str, kind: &str, body: &str| {
            conn.execute(
                "INSERT INTO events (created_at, source_type, domain, path, status, ua_family,
                                     visitor_hash, event_type, payload)
                 VALUES (?1, ?2, ?3, '/', 202, 'curl', 'h', ?4, ?5)",
                params![time, source, domain, kind, body],
            )
            .unwrap();
        };
        insert("github", "webhook", "2026-01-01 10:00:00", "push", "one");
        insert("github", "webhook", "2026-01-01 10:00:00", "ping", "two");
        insert("github", "webhook", "2026-01-02 09:00:00", "push", "three");
        insert(
            "github",
            "web",
            "2026-01-03 09:00:00",
            "pageview",
            "not a webhook",
        );
        insert(
            "plain",
            "webhook",
            "2026-01-01 09:00:00",
            "webhook",
            "other endpoint",
        );

        let all = list(&conn).unwrap();
        assert_eq!(
            all.iter()
                .map(|e| (e.endpoint.as_str(), e.signed, e.events))
                .collect::<Vec<_>>(),
            [("github", true, 3), ("plain", false, 1)]
        );
        let recent = recent_payloads(&conn, "github", 2).unwrap();
        assert_eq!(
            recent
                .iter()
                .map(|p| (p.event_type.as_str(), p.payload.as_str()))
                .collect::<Vec<_>>(),
            [("push", "three"), ("ping", "two")]
        );
        assert!(delete(&conn, "github").unwrap());
        assert!(!delete(&conn, "github").unwrap());
        assert_eq!(list(&conn).unwrap().len(), 1);
    }
}
