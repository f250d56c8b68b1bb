//! The `short_links` table: every SQL statement for `/r/<slug>` links. Checking slugs and
//! targets is `crate::public::links`' job; this module stores what it is given.

use rusqlite::{Connection, OptionalExtension, params};

/// A short link as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRow {
    pub slug: String,
    pub target: String,
    pub clicks: i64,
    pub created_at: String,
    pub updated_at: String,
}

const COLUMNS: &str = "slug, target, clicks, created_at, updated_at";

fn row(r: &rusqlite::Row) -> rusqlite::Result<LinkRow> {
    Ok(LinkRow {
        slug: r.get(0)?,
        target: r.get(1)?,
        clicks: r.get(2)?,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
    })
}

/// Every link, newest first (rowid breaks ties within one second).
pub fn list(conn: &Connection) -> rusqlite::Result<Vec<LinkRow>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM short_links ORDER BY created_at DESC, rowid DESC"
    ))?;
    stmt.query_map([], row)?.collect()
}

pub fn get(conn: &Connection, slug: &str) -> rusqlite::Result<Option<LinkRow>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM short_links WHERE slug = ?1"),
        [slug],
        row,
    )
    .optional()
}

/// Adds a link; `false` when the slug is taken (the existing link is left alone).
pub fn create(conn: &Connection, slug: &str, target: &str) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "INSERT INTO short_links (slug, target) VALUES (?1, ?2) ON CONFLICT (slug) DO NOTHING",
        params![slug, target],
    )?;
    Ok(n == 1)
}

/// Points a link elsewhere, keeping its clicks; `false` when there is no such link.
pub fn update_target(conn: &Connection, slug: &str, target: &str) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE short_links SET target = ?2, updated_at = CURRENT_TIMESTAMP WHERE slug = ?1",
        params![slug, target],
    )?;
    Ok(n == 1)
}

/// Removes a link; `false` when there was none.
pub fn delete(conn: &Connection, slug: &str) -> rusqlite::Result<bool> {
    let n = conn.execute("DELETE FROM short_links WHERE slug = ?1", [slug])?;
    Ok(n == 1)
}

/// Counts one click and returns where to send it, or `None` for an unknown slug. One
/// statement, so concurrent clicks are never lost and a link deleted meanwhile is not counted.
pub fn click(conn: &Connection, slug: &str) -> rusqlite::Result<Option<String>> {
    let mut stmt = conn.prepare_cached(
        "UPDATE short_links SET clicks = clicks + 1 WHERE slug = ?1 RETURNING target",
    )?;
    stmt.query_row([slug], |r| r.get(0)).optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_click_update_delete() {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate(&conn).unwrap();
        assert!(create(&conn, "a", "https://a.example/").unwrap());
        assert!(
            !create(&conn, "a", "https://other.example/").unwrap(),
            "slug taken"
        );
        assert!(create(&conn, "B", "https://b.example/").unwrap());
        assert_eq!(
            click(&conn, "a").unwrap().as_deref(),
            Some("https://a.example/")
        );
        assert_eq!(click(&conn, "A").unwrap(), None, "slugs are case-sensitive");
        assert_eq!(click(&conn, "nope").unwrap(), None);
        let a = get(&conn, "a").unwrap().unwrap();
        assert_eq!((a.target.as_str(), a.clicks), ("https://a.example/", 1));

        assert!(update_target(&conn, "a", "https://new.example/x").unwrap());
        assert!(!update_target(&conn, "nope", "https://x.example/").unwrap());
        let a = get(&conn, "a").unwrap().unwrap();
        assert_eq!(
            (a.target.as_str(), a.clicks),
            ("https://new.example/x", 1),
            "clicks survive an edit"
        );
        let slugs: Vec<String> = list(&conn).unwrap().into_iter().map(|l| l.slug).collect();
        assert_eq!(slugs, ["B", "a"], "newest first");

        assert!(delete(&conn, "a").unwrap());
        assert!(!delete(&conn, "a").unwrap());
        assert_eq!(get(&conn, "a").unwrap(), None);
        assert_eq!(click(&conn, "a").unwrap(), None);
    }
}
