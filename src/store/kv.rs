//! The `kv_store` table: main.js's `db`, one namespace per site. Reads happen one by one while
//! a script runs; its writes are applied by `commit`, in one IMMEDIATE transaction that first
//! checks that nothing the script read has changed since (optimistic concurrency).

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

pub fn get(conn: &Connection, site: &str, key: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT value FROM kv_store WHERE site_id = ?1 AND key = ?2")?
        .query_row(params![site, key], |r| r.get(0))
        .optional()
}

/// Keys starting with `prefix`, sorted (byte order: SQLite's BINARY collation).
///
/// Sorted here, not by `ORDER BY`: the bundled SQLite re-prepares a statement with a bound
/// `site_id = ?` and an `ORDER BY` at every binding (its REPREPARE counter says so), a full
/// parse per call.
pub fn list(conn: &Connection, site: &str, prefix: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT key FROM kv_store WHERE site_id = ?1 AND substr(key, 1, length(?2)) = ?2",
    )?;
    let mut keys: Vec<String> = stmt
        .query_map(params![site, prefix], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    keys.sort_unstable();
    Ok(keys)
}

pub fn count(conn: &Connection, site: &str) -> rusqlite::Result<u64> {
    conn.prepare_cached("SELECT count(*) FROM kv_store WHERE site_id = ?1")?
        .query_row([site], |r| r.get::<_, i64>(0))
        .map(|n| n as u64)
}

/// What a script run saw and wants to change.
#[derive(Debug, Default)]
pub struct Changes {
    /// Keys read, with the value seen (`None`: absent).
    pub reads: Vec<(String, Option<String>)>,
    /// Prefixes listed, with the keys seen.
    pub lists: Vec<(String, Vec<String>)>,
    /// Keys to write (`None`: delete).
    pub writes: Vec<(String, Option<String>)>,
}

/// Applies `changes.writes` if every read and list still holds; `Ok(false)` on a conflict
/// (nothing written: the caller re-runs the script).
pub fn commit(conn: &mut Connection, site: &str, changes: &Changes) -> rusqlite::Result<bool> {
    if changes.writes.is_empty() {
        return Ok(true); // a read-only run saw a consistent snapshot of each key it read
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for (key, seen) in &changes.reads {
        if &get(&tx, site, key)? != seen {
            return Ok(false);
        }
    }
    for (prefix, seen) in &changes.lists {
        if &list(&tx, site, prefix)? != seen {
            return Ok(false);
        }
    }
    apply(&tx, site, &changes.writes)?;
    tx.commit()?;
    Ok(true)
}

/// Starts a write transaction held for a whole script run: the fallback after repeated
/// conflicts, so that a hot key makes progress instead of failing (other writers wait).
pub fn lock(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")
}

/// Ends a `lock`ed run: applies `writes` and commits, or rolls back when `writes` is `None`.
pub fn unlock(
    conn: &Connection,
    site: &str,
    writes: Option<&[(String, Option<String>)]>,
) -> rusqlite::Result<()> {
    let Some(writes) = writes else {
        return conn.execute_batch("ROLLBACK");
    };
    let result = (|| {
        apply(conn, site, writes)?;
        conn.execute_batch("COMMIT")
    })();
    if result.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

/// Writes (`Some`) and deletes (`None`) keys, inside the caller's transaction.
fn apply(
    conn: &Connection,
    site: &str,
    writes: &[(String, Option<String>)],
) -> rusqlite::Result<()> {
    let mut put = conn.prepare_cached(
        "INSERT INTO kv_store (site_id, key, value, updated_at) VALUES (?1, ?2, ?3, CURRENT_TIMESTAMP)
         ON CONFLICT(site_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )?;
    let mut delete = conn.prepare_cached("DELETE FROM kv_store WHERE site_id = ?1 AND key = ?2")?;
    for (key, value) in writes {
        match value {
            Some(v) => put.execute(params![site, key, v])?,
            None => delete.execute(params![site, key])?,
        };
    }
    Ok(())
}

/// Bytes a site's `db` holds (keys and values), for its disk quota.
pub fn bytes(conn: &Connection, site: &str) -> rusqlite::Result<u64> {
    conn.prepare_cached(
        "SELECT coalesce(sum(length(CAST(key AS BLOB)) + length(CAST(value AS BLOB))), 0)
         FROM kv_store WHERE site_id = ?1",
    )?
    .query_row([site], |r| r.get::<_, i64>(0))
    .map(|n| n as u64)
}

/// A site's environment variables, for `process.env`.
pub fn env_vars(conn: &Connection, site: &str) -> rusqlite::Result<Vec<(String, String)>> {
    // Sorted here, not by `ORDER BY` (see `list`): this runs once per script batch.
    let mut stmt = conn.prepare_cached("SELECT key, value FROM env_vars WHERE site_id = ?1")?;
    let mut vars: Vec<(String, String)> = stmt
        .query_map([site], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    vars.sort_unstable();
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_per_run_queries_are_not_prepared_again_for_each_site() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open(&dir.path().join("cc.db")).unwrap();
        for site in ["a", "b", "c"] {
            env_vars(&conn, site).unwrap();
            list(&conn, site, "").unwrap();
        }
        for sql in [
            "SELECT key, value FROM env_vars WHERE site_id = ?1",
            "SELECT key FROM kv_store WHERE site_id = ?1 AND substr(key, 1, length(?2)) = ?2",
        ] {
            let stmt = conn.prepare_cached(sql).unwrap();
            assert_eq!(
                stmt.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "{sql}"
            );
        }
    }

    #[test]
    fn commit_detects_a_changed_read() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrate(&conn).unwrap();
        let mut c = Changes::default();
        c.reads.push(("n".into(), None));
        c.writes.push(("n".into(), Some("1".into())));
        assert!(commit(&mut conn, "a", &c).unwrap());
        assert_eq!(get(&conn, "a", "n").unwrap().as_deref(), Some("1"));
        // The same changes again: the read (absent) no longer holds.
        assert!(!commit(&mut conn, "a", &c).unwrap());
        assert_eq!(get(&conn, "b", "n").unwrap(), None, "sites are separate");
        assert_eq!(list(&conn, "a", "").unwrap(), vec!["n".to_string()]);
        assert_eq!(list(&conn, "a", "x").unwrap(), Vec::<String>::new());
    }
}
