//! Per-site rows: deployment history, env vars (main.js's `process.env`), and removing a
//! site's key-value data and env vars.

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

/// One row of a site's deployment history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentRow {
    pub id: i64,
    pub size_bytes: i64,
    pub file_count: i64,
    pub deployed_by: String,
    pub created_at: String,
}

/// The site's newest `limit` deployments, newest first.
pub fn deployments(
    conn: &Connection,
    site: &str,
    limit: u32,
) -> rusqlite::Result<Vec<DeploymentRow>> {
    let mut stmt = conn.prepare(
        "SELECT id, size_bytes, file_count, coalesce(deployed_by, ''), created_at
         FROM deployments WHERE site_id = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    stmt.query_map(params![site, limit], |r| {
        Ok(DeploymentRow {
            id: r.get(0)?,
            size_bytes: r.get(1)?,
            file_count: r.get(2)?,
            deployed_by: r.get(3)?,
            created_at: r.get(4)?,
        })
    })?
    .collect()
}

/// Sets one env var; `true` when it is new, `false` when an existing value was replaced.
pub fn set_env(conn: &Connection, site: &str, key: &str, value: &str) -> rusqlite::Result<bool> {
    let existed = conn
        .prepare_cached("SELECT 1 FROM env_vars WHERE site_id = ?1 AND key = ?2")?
        .exists(params![site, key])?;
    conn.execute(
        "INSERT INTO env_vars (site_id, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT(site_id, key) DO UPDATE SET value = excluded.value,
                                                 updated_at = CURRENT_TIMESTAMP",
        params![site, key, value],
    )?;
    Ok(!existed)
}

/// The sites whose env var `key` is switched on (`1`, `true`, `on`, `yes`).
pub fn sites_with_flag(conn: &Connection, key: &str) -> rusqlite::Result<Vec<String>> {
    conn.prepare_cached(
        "SELECT site_id FROM env_vars WHERE key = ?1 AND lower(trim(value)) IN ('1', 'true', 'on', 'yes')",
    )?
    .query_map([key], |r| r.get(0))?
    .collect()
}

/// Removes one env var; `false` when it did not exist.
pub fn delete_env(conn: &Connection, site: &str, key: &str) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "DELETE FROM env_vars WHERE site_id = ?1 AND key = ?2",
        params![site, key],
    )?;
    Ok(n == 1)
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

        assert!(set_env(&conn, "blog", "A", "1").unwrap());
        assert!(!set_env(&conn, "blog", "A", "2").unwrap(), "replaced");
        assert!(delete_env(&conn, "blog", "A").unwrap());
        assert!(!delete_env(&conn, "blog", "A").unwrap());
        assert_eq!(
            deployments(&conn, "blog", 10).unwrap()[0].deployed_by,
            "bob"
        );
    }
}
