//! SQL for what a site has besides its files: its Basic-auth users and its custom domains.

use rusqlite::{Connection, OptionalExtension, params};

/// Who set a site's password or domain: the admin, or a file in its deployed folder (`AUTH`,
/// `CNAME`). A deploy replaces what its files set and leaves what the admin set: a file never
/// takes over a user or a domain the admin set (the admin may take over a file's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Admin,
    File,
}

impl Source {
    fn word(self, file: &'static str) -> &'static str {
        match self {
            Source::Admin => "admin",
            Source::File => file,
        }
    }
}

/// `(user, phc)` of every user of a protected site (none: the site is public).
pub fn site_users(conn: &Connection, site: &str) -> rusqlite::Result<Vec<(String, String)>> {
    conn.prepare_cached("SELECT user, phc FROM site_passwords WHERE site = ?1 ORDER BY user")?
        .query_map([site], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

/// `(user, phc)` of the users `source` gave `site`.
pub fn site_users_from(
    conn: &Connection,
    site: &str,
    source: Source,
) -> rusqlite::Result<Vec<(String, String)>> {
    conn.prepare_cached(
        "SELECT user, phc FROM site_passwords WHERE site = ?1 AND source = ?2 ORDER BY user",
    )?
    .query_map(params![site, source.word("AUTH")], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?
    .collect()
}

/// `(site, user, phc)` of every protected site.
pub fn all_site_users(conn: &Connection) -> rusqlite::Result<Vec<(String, String, String)>> {
    conn.prepare_cached("SELECT site, user, phc FROM site_passwords ORDER BY site, user")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect()
}

/// Adds the admin's `user` to `site` (or replaces its password).
pub fn set_user(conn: &Connection, site: &str, user: &str, phc: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO site_passwords (site, user, phc, source) VALUES (?1, ?2, ?3, 'admin')
         ON CONFLICT(site, user) DO UPDATE SET phc = excluded.phc, source = 'admin'",
        params![site, user, phc],
    )?;
    Ok(())
}

/// Replaces the users `source` set for `site` with `users` (`(user, phc)`), in one step.
/// A user the admin set stays as the admin set it.
pub fn set_site_users(
    conn: &mut Connection,
    site: &str,
    source: Source,
    users: &[(String, String)],
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute(
        "DELETE FROM site_passwords WHERE site = ?1 AND source = ?2",
        params![site, source.word("AUTH")],
    )?;
    add_site_users(&tx, site, source, users)?;
    tx.commit()
}

/// Adds `users` to `site` (replacing the password of those `source` had set), keeping the
/// others. A user the admin set stays as the admin set it.
pub fn add_site_users(
    conn: &Connection,
    site: &str,
    source: Source,
    users: &[(String, String)],
) -> rusqlite::Result<()> {
    for (user, phc) in users {
        conn.execute(
            "INSERT INTO site_passwords (site, user, phc, source) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(site, user) DO UPDATE SET phc = excluded.phc, source = excluded.source
             WHERE site_passwords.source <> 'admin' OR excluded.source = 'admin'",
            params![site, user, phc, source.word("AUTH")],
        )?;
    }
    Ok(())
}

/// Removes every user of `site` (it becomes public); the number removed.
pub fn clear_site_users(conn: &Connection, site: &str) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM site_passwords WHERE site = ?1", [site])
}

/// Every `(host, site)` custom domain.
pub fn domains(conn: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    conn.prepare_cached("SELECT host, site FROM domains ORDER BY site, host")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

/// The site that owns `host`, if any.
pub fn domain_owner(conn: &Connection, host: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT site FROM domains WHERE host = ?1", [host], |r| {
        r.get(0)
    })
    .optional()
}

/// Gives `host` to `site`. `Ok(Some(other))` when another site holds it (nothing changes).
/// A host the admin gave the site stays the admin's.
pub fn claim_domain(
    conn: &Connection,
    host: &str,
    site: &str,
    source: Source,
) -> rusqlite::Result<Option<String>> {
    if let Some(owner) = domain_owner(conn, host)?
        && owner != site
    {
        return Ok(Some(owner));
    }
    conn.execute(
        "INSERT INTO domains (host, site, source) VALUES (?1, ?2, ?3)
         ON CONFLICT(host) DO UPDATE SET source = excluded.source
         WHERE domains.source <> 'admin' OR excluded.source = 'admin'",
        params![host, site, source.word("CNAME")],
    )?;
    Ok(None)
}

/// Drops the hosts a site's `CNAME` file gave it except `keep` (a new deploy's file).
pub fn release_file_domains(
    conn: &Connection,
    site: &str,
    keep: Option<&str>,
) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM domains WHERE site = ?1 AND source = 'CNAME' AND host IS NOT ?2",
        params![site, keep],
    )?;
    Ok(())
}

/// Removes `host` from `site`; `false` when the site did not have it.
pub fn release_domain(conn: &Connection, site: &str, host: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "DELETE FROM domains WHERE host = ?1 AND site = ?2",
        params![host, site],
    )? == 1)
}

/// Frees every host name of a site (torn down).
pub fn release_all_domains(conn: &Connection, site: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM domains WHERE site = ?1", [site])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_domains() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrate(&conn).unwrap();
        set_site_users(
            &mut conn,
            "blog",
            Source::Admin,
            &[("ann".into(), "h1".into())],
        )
        .unwrap();
        set_site_users(
            &mut conn,
            "blog",
            Source::File,
            &[("bob".into(), "h2".into())],
        )
        .unwrap();
        set_site_users(
            &mut conn,
            "blog",
            Source::File,
            &[("cy".into(), "h3".into())],
        )
        .unwrap();
        let users: Vec<String> = site_users(&conn, "blog")
            .unwrap()
            .into_iter()
            .map(|u| u.0)
            .collect();
        assert_eq!(users, ["ann", "cy"]);
        assert_eq!(clear_site_users(&conn, "blog").unwrap(), 2);

        assert_eq!(
            claim_domain(&conn, "www.a.com", "blog", Source::File).unwrap(),
            None
        );
        assert_eq!(
            claim_domain(&conn, "www.a.com", "shop", Source::Admin).unwrap(),
            Some("blog".into())
        );
        claim_domain(&conn, "a.com", "blog", Source::Admin).unwrap();
        release_file_domains(&conn, "blog", None).unwrap();
        assert_eq!(
            domains(&conn).unwrap(),
            [("a.com".to_string(), "blog".to_string())]
        );
        release_all_domains(&conn, "blog").unwrap();
        assert!(domains(&conn).unwrap().is_empty());
    }

    #[test]
    fn a_file_never_takes_over_what_the_admin_set() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrate(&conn).unwrap();
        set_user(&conn, "blog", "ann", "admin-hash").unwrap();
        let from_file = [("ann".to_string(), "file-hash".to_string())];
        set_site_users(&mut conn, "blog", Source::File, &from_file).unwrap();
        add_site_users(&conn, "blog", Source::File, &from_file).unwrap();
        // A later deploy without AUTH clears the file's users: the admin's stays.
        set_site_users(&mut conn, "blog", Source::File, &[]).unwrap();
        assert_eq!(
            site_users(&conn, "blog").unwrap(),
            [("ann".to_string(), "admin-hash".to_string())]
        );
        assert_eq!(site_users_from(&conn, "blog", Source::File).unwrap(), []);
        // The admin may take over a file's user.
        set_site_users(
            &mut conn,
            "blog",
            Source::File,
            &[("bob".into(), "f".into())],
        )
        .unwrap();
        set_user(&conn, "blog", "bob", "admin-bob").unwrap();
        assert_eq!(
            site_users_from(&conn, "blog", Source::Admin).unwrap().len(),
            2
        );

        claim_domain(&conn, "www.a.com", "blog", Source::Admin).unwrap();
        assert_eq!(
            claim_domain(&conn, "www.a.com", "blog", Source::File).unwrap(),
            None
        );
        release_file_domains(&conn, "blog", None).unwrap();
        assert_eq!(
            domains(&conn).unwrap(),
            [("www.a.com".to_string(), "blog".to_string())]
        );
    }
}
