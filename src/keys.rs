//! Deploy keys: token format, scopes, and what a key may do. Tokens are `cc_` + 64 hex digits
//! (32 random bytes); only their SHA-256 is stored (`store::keys`).

use rusqlite::Connection;

use crate::names::is_valid_site_name;
use crate::secret;
use crate::store::keys::{self as rows, KeyRow};

pub const TOKEN_PREFIX: &str = "cc_";

/// Checks one scope: `deploy:*`, `deploy:<site>` or `read:stats`.
pub fn check_scope(scope: &str) -> Result<(), String> {
    match scope.split_once(':') {
        Some(("deploy", "*")) => Ok(()),
        Some(("deploy", site)) if is_valid_site_name(site) => Ok(()),
        Some(("read", "stats")) => Ok(()),
        _ => Err(format!(
            "'{scope}' is not a scope: use deploy:*, deploy:<site> (a-z 0-9 -) or read:stats"
        )),
    }
}

/// True when `scopes` allow deploying (and managing) `site`.
pub fn may_deploy(scopes: &[String], site: &str) -> bool {
    scopes
        .iter()
        .any(|s| s == "deploy:*" || s.strip_prefix("deploy:") == Some(site))
}

/// Creates a key and returns `(id, token)`; the token is never retrievable again.
pub fn create(conn: &Connection, name: &str, scopes: &[String]) -> Result<(i64, String), String> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err("a key needs a name of 1-100 printable characters".into());
    }
    // The audit log names the admin 'admin', the CLI 'cli' and unknown users '-': a key may
    // not pass for one of them.
    if ["admin", "cli", "-"]
        .iter()
        .any(|r| name.eq_ignore_ascii_case(r))
    {
        return Err(format!("'{name}' is reserved: give the key another name"));
    }
    if scopes.is_empty() {
        return Err("a key needs at least one scope".into());
    }
    for s in scopes {
        check_scope(s)?;
    }
    let token = format!(
        "{TOKEN_PREFIX}{}",
        secret::hex(&secret::random_bytes::<32>())
    );
    let id = rows::insert(conn, name, &hash_token(&token), scopes).map_err(|e| e.to_string())?;
    Ok((id, token))
}

/// Creates a key (as `create`) and records it in the audit log as done by `actor` from `ip`
/// (the admin from the dashboard, a key through the API, `cli` on the server's machine).
pub fn create_audited(
    conn: &Connection,
    name: &str,
    scopes: &[String],
    actor: &str,
    ip: Option<&str>,
) -> Result<(i64, String), String> {
    let (id, token) = create(conn, name, scopes)?;
    let target = format!("#{id} {}", name.trim());
    crate::store::audit::record_or_log(conn, actor, "key.create", Some(&target), ip);
    Ok((id, token))
}

/// Revokes key `id` and records it in the audit log; `Err` with what to say when no active
/// key has that id.
pub fn revoke_audited(
    conn: &Connection,
    id: i64,
    actor: &str,
    ip: Option<&str>,
) -> Result<(), RevokeError> {
    if !rows::revoke(conn, id).map_err(RevokeError::Store)? {
        return Err(RevokeError::NoSuchKey(format!(
            "there is no active key with id {id}"
        )));
    }
    crate::store::audit::record_or_log(conn, actor, "key.revoke", Some(&format!("#{id}")), ip);
    Ok(())
}

pub enum RevokeError {
    NoSuchKey(String),
    Store(rusqlite::Error),
}

pub fn hash_token(token: &str) -> String {
    secret::hex(&secret::sha256(&[token.as_bytes()]))
}

/// The live key an `Authorization: Bearer <token>` header names, marking it used.
pub fn authenticate(
    conn: &Connection,
    authorization: Option<&str>,
) -> rusqlite::Result<Option<KeyRow>> {
    let Some(token) = authorization
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return Ok(None);
    };
    rows::use_by_hash(conn, &hash_token(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        for ok in ["deploy:*", "deploy:blog", "read:stats"] {
            assert!(check_scope(ok).is_ok(), "{ok}");
        }
        for bad in [
            "deploy:",
            "deploy:Blog",
            "deploy:a_b",
            "admin",
            "read:*",
            "deploy:../x",
        ] {
            assert!(check_scope(bad).is_err(), "{bad}");
        }
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(may_deploy(&s(&["deploy:*"]), "blog"));
        assert!(may_deploy(&s(&["read:stats", "deploy:blog"]), "blog"));
        assert!(!may_deploy(&s(&["deploy:blog"]), "blog2"));
        assert!(!may_deploy(&s(&["read:stats"]), "blog"));
    }

    #[test]
    fn create_then_authenticate() {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate(&conn).unwrap();
        let (id, token) = create(&conn, "bob", &["deploy:blog".into()]).unwrap();
        assert!(token.starts_with("cc_") && token.len() == 67);
        let auth = format!("Bearer {token}");
        assert_eq!(authenticate(&conn, Some(&auth)).unwrap().unwrap().id, id);
        assert!(
            authenticate(&conn, Some("Bearer cc_wrong"))
                .unwrap()
                .is_none()
        );
        assert!(
            authenticate(&conn, Some(&token)).unwrap().is_none(),
            "no Bearer prefix"
        );
        assert!(authenticate(&conn, None).unwrap().is_none());
        assert!(create(&conn, "", &["deploy:*".into()]).is_err());
        assert!(create(&conn, "x", &["root".into()]).is_err());
    }
}
