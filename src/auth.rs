//! Dashboard authentication: the admin password (Argon2id), first-start setup, login sessions
//! in a host-only cookie, CSRF checks (same origin + a per-session token), and the per-IP
//! failed-login limit. SQL stays in `store::auth`; HTTP stays in `dashboard`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rusqlite::Connection;

use crate::secret;
use crate::store::{self, auth::SessionRow};

pub const SESSION_COOKIE: &str = "cc_session";
/// The session cookie over HTTPS: the `__Host-` prefix makes browsers refuse it unless it is
/// `Secure`, host-only and for `/`, so no site on a subdomain (nor a plain-HTTP page) can
/// plant or shadow it.
pub const SECURE_SESSION_COOKIE: &str = "__Host-cc_session";

fn cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}
/// A login lasts a week; logging out or a new password ends it sooner.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
pub const MIN_PASSWORD_LEN: usize = 8;
const MAX_PASSWORD_LEN: usize = 1024;
/// The settings key holding the SHA-256 of the one-time setup token.
const SETUP_TOKEN_SETTING: &str = "setup_token_hash";

/// Why a new password was refused.
pub fn check_new_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(format!(
            "the password is too short: use at least {MIN_PASSWORD_LEN} characters"
        ));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(format!(
            "the password is too long: use at most {MAX_PASSWORD_LEN} bytes"
        ));
    }
    Ok(())
}

/// An Argon2id PHC string (`$argon2id$v=19$…`) with a fresh 16-byte salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = secret::random_bytes::<16>();
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("could not hash the password: {e}"))
}

/// True when `password` matches the stored PHC string (constant time inside argon2).
pub fn verify_password(password: &str, phc: &str) -> bool {
    password.len() <= MAX_PASSWORD_LEN
        && Argon2::default()
            .verify_password(password.as_bytes(), phc)
            .is_ok()
}

/// Checks, hashes and stores a new admin password; ends every session.
pub fn set_password(conn: &mut Connection, password: &str) -> Result<(), String> {
    check_new_password(password)?;
    let hash = hash_password(password)?;
    store::auth::set_password_hash(conn, &hash).map_err(|e| e.to_string())?;
    store::settings::delete(conn, SETUP_TOKEN_SETTING).map_err(|e| e.to_string())
}

/// What the server does about the admin password when it starts.
#[derive(Debug, PartialEq, Eq)]
pub enum FirstStart {
    /// A password was set before.
    Ready,
    /// There was none; `CC_ADMIN_PASSWORD` became it.
    PasswordFromEnv,
    /// There is none: this one-time token opens `/setup?token=…`.
    SetupToken(String),
}

pub fn first_start(
    conn: &mut Connection,
    env_password: Option<&str>,
) -> Result<FirstStart, String> {
    if store::auth::password_hash(conn)
        .map_err(|e| e.to_string())?
        .is_some()
    {
        return Ok(FirstStart::Ready);
    }
    if let Some(password) = env_password.filter(|p| !p.is_empty()) {
        set_password(conn, password).map_err(|e| format!("CC_ADMIN_PASSWORD: {e}"))?;
        return Ok(FirstStart::PasswordFromEnv);
    }
    // A new token at every start without a password: an old printed URL stops working.
    let token = secret::hex(&secret::random_bytes::<24>());
    store::settings::set(conn, SETUP_TOKEN_SETTING, &hash_hex(&token))
        .map_err(|e| e.to_string())?;
    Ok(FirstStart::SetupToken(token))
}

/// True when `token` is the current setup token and no password exists yet.
pub fn setup_token_valid(conn: &Connection, token: &str) -> bool {
    let Ok(None) = store::auth::password_hash(conn) else {
        return false;
    };
    matches!(
        store::settings::get(conn, SETUP_TOKEN_SETTING),
        Ok(Some(stored)) if constant_time_eq(stored.as_bytes(), hash_hex(token).as_bytes())
    )
}

/// A session just created: the cookie value goes to the browser, only its hash is stored.
pub struct NewSession {
    pub cookie_value: String,
    pub csrf_token: String,
}

pub fn start_session(
    conn: &Connection,
    ip: &str,
    user_agent: &str,
) -> rusqlite::Result<NewSession> {
    let cookie_value = secret::hex(&secret::random_bytes::<32>());
    let csrf_token = secret::hex(&secret::random_bytes::<32>());
    let ua: String = user_agent.chars().take(200).collect();
    store::auth::insert_session(
        conn,
        &hash_hex(&cookie_value),
        &csrf_token,
        SESSION_LIFETIME.as_secs(),
        ip,
        &ua,
    )?;
    Ok(NewSession {
        cookie_value,
        csrf_token,
    })
}

const MAX_SESSION_COOKIES: usize = 200;

/// The live session named by a `Cookie` header, if any.
/// Every `cc_session` value is tried: a site on a subdomain can plant a second cookie of the
/// same name for the parent domain, and must not be able to lock the admin out with it.
pub fn session(conn: &Connection, cookie_header: Option<&str>, secure: bool) -> Option<SessionRow> {
    cookie_values(cookie_header?, cookie_name(secure))
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        // As many as a browser keeps for one domain (Chrome 180, Firefox 150): a site cannot
        // plant enough look-alikes to hide the real one.
        .take(MAX_SESSION_COOKIES)
        .find_map(|v| store::auth::live_session(conn, &hash_hex(v)).ok().flatten())
}

pub fn end_session(conn: &Connection, session: &SessionRow) -> rusqlite::Result<()> {
    store::auth::delete_session(conn, &session.id_hash)
}

/// The `Set-Cookie` value for a new session. Host-only (no `Domain=`), so site subdomains
/// never receive it; `Secure` only when the browser reached us over HTTPS.
pub fn session_cookie(value: &str, secure: bool) -> String {
    format!(
        "{}={value}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{}",
        cookie_name(secure),
        SESSION_LIFETIME.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{}",
        cookie_name(secure),
        if secure { "; Secure" } else { "" }
    )
}

/// Every value a `Cookie` header gives the cookie `name`, in order.
pub fn cookie_values<'a>(header: &'a str, name: &str) -> impl Iterator<Item = &'a str> {
    header.split(';').filter_map(move |pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// True when a state-changing request comes from a page of the dashboard itself: its `Origin`
/// (or, when a browser sends none, its `Referer`) names exactly the host the request was sent
/// to. Site subdomains are same-site with the dashboard, so `SameSite=Lax` alone lets a site's
/// page post forms here; this check does not.
pub fn same_origin(host: Option<&str>, origin: Option<&str>, referer: Option<&str>) -> bool {
    let Some(host) = host.map(str::trim).filter(|h| !h.is_empty()) else {
        return false;
    };
    let source = match origin {
        Some(o) => o,
        None => match referer {
            Some(r) => r,
            None => return false,
        },
    };
    let Some(rest) = source
        .strip_prefix("http://")
        .or_else(|| source.strip_prefix("https://"))
    else {
        return false; // "null", file:, data:, …
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    !authority.is_empty() && authority.eq_ignore_ascii_case(host)
}

/// Compares two secrets without stopping at the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hash_hex(value: &str) -> String {
    secret::hex(&secret::sha256(&[value.as_bytes()]))
}

/// Failed logins per IP: after `MAX_FAILURES` within `WINDOW`, that IP gets 429 until the
/// oldest failure ages out. Kept in memory: a restart forgives, which is fine for a limit
/// whose job is to make guessing slow.
pub struct LoginLimiter {
    failures: Mutex<HashMap<IpAddr, Vec<Instant>>>,
}

pub const MAX_FAILURES: usize = 10;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter {
            failures: Mutex::new(HashMap::new()),
        }
    }
}

impl LoginLimiter {
    /// Checks and counts one attempt in a single step (so parallel guesses cannot all pass
    /// the check before any is counted): `Err(wait)` when this client may not try yet. A
    /// successful attempt then calls `succeeded`, which forgives the client.
    pub fn attempt(&self, ip: IpAddr) -> Result<(), Duration> {
        let key = crate::ratelimit::client_key(ip);
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        // Forget clients whose failures are all old, so the map cannot grow without bound.
        if map.len() > 10_000 {
            map.retain(|_, l| l.last().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        let list = map.entry(key).or_default();
        list.retain(|t| now.duration_since(*t) < WINDOW);
        if list.len() >= MAX_FAILURES {
            return Err(WINDOW.saturating_sub(now.duration_since(list[0])));
        }
        list.push(now);
        Ok(())
    }

    /// Takes back the attempt `attempt` just counted (it succeeded) without forgiving the
    /// address's failures: for site passwords, where knowing one must not buy more guesses.
    pub fn uncount_last(&self, ip: IpAddr) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = map.get_mut(&crate::ratelimit::client_key(ip)) {
            list.pop();
        }
    }

    pub fn succeeded(&self, ip: IpAddr) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&crate::ratelimit::client_key(ip));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_round_trip() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct hors", &h));
        assert!(!verify_password("x", "not a phc string"));
        assert!(check_new_password("short").is_err());
        assert!(check_new_password(&"x".repeat(2000)).is_err());
    }

    #[test]
    fn origins() {
        let h = Some("localhost:4698");
        assert!(same_origin(h, Some("http://localhost:4698"), None));
        assert!(same_origin(h, Some("https://LOCALHOST:4698"), None));
        assert!(same_origin(h, None, Some("http://localhost:4698/keys?x=1")));
        assert!(!same_origin(h, Some("http://evil.localhost:4698"), None));
        assert!(!same_origin(h, Some("http://localhost:4699"), None));
        assert!(!same_origin(
            h,
            Some("http://localhost:4698.evil.com"),
            None
        ));
        assert!(!same_origin(
            h,
            Some("null"),
            Some("http://localhost:4698/")
        ));
        assert!(!same_origin(h, None, None));
        assert!(!same_origin(None, Some("http://localhost:4698"), None));
        assert!(!same_origin(
            h,
            None,
            Some("http://evil.localhost:4698/localhost:4698")
        ));
    }

    #[test]
    fn cookies() {
        let h = "a=1; cc_session=abc; b=2";
        assert_eq!(cookie_values(h, "cc_session").next(), Some("abc"));
        assert_eq!(cookie_values(h, "c").next(), None);
        let c = session_cookie("v", false);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && !c.contains("Domain"));
        assert!(!c.contains("Secure"));
        let secure = session_cookie("v", true);
        assert!(secure.starts_with("__Host-cc_session=v; Path=/;") && secure.ends_with("; Secure"));
        assert!(clear_cookie(true).starts_with("__Host-cc_session=;"));
    }

    #[test]
    fn first_start_and_setup_token() {
        let mut conn = Connection::open_in_memory().unwrap();
        store::migrate(&conn).unwrap();
        let FirstStart::SetupToken(t) = first_start(&mut conn, None).unwrap() else {
            panic!("expected a setup token");
        };
        assert!(setup_token_valid(&conn, &t));
        assert!(!setup_token_valid(&conn, "wrong"));
        // A restart makes a new token; the old one stops working.
        let FirstStart::SetupToken(t2) = first_start(&mut conn, None).unwrap() else {
            panic!("expected a setup token");
        };
        assert!(!setup_token_valid(&conn, &t) && setup_token_valid(&conn, &t2));
        set_password(&mut conn, "a good password").unwrap();
        assert!(
            !setup_token_valid(&conn, &t2),
            "used up once a password exists"
        );
        assert_eq!(
            first_start(&mut conn, Some("other")).unwrap(),
            FirstStart::Ready
        );
    }

    #[test]
    fn env_password_on_first_start() {
        let mut conn = Connection::open_in_memory().unwrap();
        store::migrate(&conn).unwrap();
        assert!(first_start(&mut conn, Some("short")).is_err());
        assert_eq!(
            first_start(&mut conn, Some("long enough")).unwrap(),
            FirstStart::PasswordFromEnv
        );
        let h = store::auth::password_hash(&conn).unwrap().unwrap();
        assert!(verify_password("long enough", &h));
    }

    #[test]
    fn limiter_blocks_after_ten_failures() {
        let l = LoginLimiter::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(l.attempt(ip).is_ok());
        }
        assert!(l.attempt(ip).is_err());
        assert!(l.attempt("10.0.0.2".parse().unwrap()).is_ok());
        l.succeeded(ip);
        assert!(l.attempt(ip).is_ok());
        // One IPv6 /64 is one client.
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(l.attempt(a).is_ok());
        }
        assert!(l.attempt("2001:db8::ffff".parse().unwrap()).is_err());
        assert!(l.attempt("2001:db8:0:1::1".parse().unwrap()).is_ok());
    }

    #[test]
    fn a_planted_second_cookie_does_not_hide_the_session() {
        let conn = Connection::open_in_memory().unwrap();
        store::migrate(&conn).unwrap();
        let s = start_session(&conn, "127.0.0.1", "t").unwrap();
        let header = format!(
            "cc_session={}; cc_session={}",
            "0".repeat(64),
            s.cookie_value
        );
        assert!(session(&conn, Some(&header), false).is_some());
        assert!(
            session(
                &conn,
                Some(&format!("cc_session={}", "0".repeat(64))),
                false
            )
            .is_none()
        );
        // Over HTTPS only the `__Host-` cookie counts: a plain `cc_session` (which a site on
        // a subdomain, or a plain-HTTP page, could set) is not even looked at.
        assert!(session(&conn, Some(&header), true).is_none());
        let secure = format!("__Host-cc_session={}", s.cookie_value);
        assert!(session(&conn, Some(&secure), true).is_some());
        assert!(session(&conn, Some(&secure), false).is_none());
    }
}
