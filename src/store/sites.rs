//! Per-site rows: deployment history, and removing a site's key-value data and env vars.

use rusqlite::{Connection, OptionalExtension, params};

pub fn record_deployment(
    conn: &Connection,
    site: &str,
    size_bytes: u64,
    file_count: u64,
    deployed_by: &str,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO deployments (site_id, size_bytes, file_count, deployed_by) VALUES (?1, ?2, ?3, ?4)",
        params![site, size_bytes as i64, file_count as i64, deployed_by],
    )?;
    Ok(conn.last_insert_rowid())
}

/// When the site was last deployed and by whom, if ever.
pub fn last_deployment(
    conn: &Connection,
    site: &str,
) -> rusqlite::Result<Option<(String, String)>> {
    conn.query_row(
        "SELECT created_at, coalesce(deployed_by, '') FROM deployments
         WHERE site_id = ?1 ORDER BY id DESC LIMIT 1",
        [site],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// Deletes a site's `db` keys and env vars (teardown without `keep_data`).
pub fn delete_data(conn: &mut Connection, site: &str) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM kv_store WHERE site_id = ?1", [site])?;
    tx.execute("DELETE FROM env_vars WHERE site_id = ?1", [site])?;
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployments_and_data() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrate(&conn).unwrap();
        assert_eq!(last_deployment(&conn, "blog").unwrap(), None);
        record_deployment(&conn, "blog", 10, 2, "bob").unwrap();
        assert_eq!(last_deployment(&conn, "blog").unwrap().unwrap().1, "bob");
        conn.execute("INSERT INTO kv_store (site_id, key, value) VALUES ('blog', 'k', '1'), ('other', 'k', '1')", [])
            .unwrap();
        delete_data(&mut conn, "blog").unwrap();
        let left: i64 = conn
            .query_row("SELECT count(*) FROM kv_store", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 1, "only the torn-down site's keys go");
    }
}
