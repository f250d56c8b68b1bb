//! Password-protected sites: HTTP Basic auth in front of a site's files, `main.js` and
//! WebSocket. Owns the check and what it keeps in memory — each protected site's users (read
//! again from the database every few seconds, so `cc-server protect` from another process
//! applies without a restart) and the credentials that verified lately, so that Argon2 runs
//! once per visitor rather than on every request. Never stores a password: hashing and SQL
//! are `auth`'s and `store`'s.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;

use crate::auth::{self, LoginLimiter};
use crate::http::{Request, Response};
use crate::refreshed::Refreshed;
use crate::secret;

/// How long credentials that verified are taken without running Argon2 again.
const VERIFIED_FOR: Duration = Duration::from_secs(10 * 60);
/// At most this many verified credentials are remembered (then all are forgotten at once).
const MAX_VERIFIED: usize = 10_000;
/// A user name: 1–64 printable ASCII characters, no ':' (Basic auth splits on the first).
pub const MAX_USER: usize = 64;

/// Protected sites → `(user, Argon2id PHC)`.
pub type Users = HashMap<String, Vec<(String, String)>>;

#[derive(Default)]
pub struct Protection {
    users: Refreshed<Users>,
    /// SHA-256 of (site, user, password, the site's users) → when it verified.
    verified: Mutex<HashMap<[u8; 32], Instant>>,
    /// Argon2 runs in progress.
    verifying: AtomicUsize,
}

/// At most this many Argon2 checks run at once (each takes ~20 ms and ~19 MiB).
const MAX_VERIFYING: usize = 2;

/// One of the `MAX_VERIFYING` places, given back when dropped.
struct ArgonSlot<'a>(&'a AtomicUsize);

impl<'a> ArgonSlot<'a> {
    fn take(count: &'a AtomicUsize) -> Option<ArgonSlot<'a>> {
        let taken = count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_VERIFYING).then_some(n + 1)
            })
            .is_ok();
        taken.then_some(ArgonSlot(count))
    }
}

impl Drop for ArgonSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A hash of a password no one has, checked when the user name is unknown.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| auth::hash_password("no such user here").unwrap_or_default())
}

/// What the check decided.
pub enum Verdict {
    /// A public site, or a protected one with good credentials (its answers must then not
    /// be kept by shared caches).
    Pass { protected: bool },
    /// The answer to send instead (401 asking for credentials, or 429 after too many misses).
    Answer(Response),
}

impl Protection {
    /// Whether `req` may reach `site`. `load` reads every protected site's users (called at
    /// most every couple of seconds); attempts count in `limiter` by `ip`, with the
    /// dashboard's logins, and a success here forgives nothing.
    pub fn check(
        &self,
        site: &str,
        req: &Request,
        ip: IpAddr,
        limiter: &LoginLimiter,
        load: impl FnOnce() -> Option<Users>,
    ) -> Verdict {
        // Until the password table has been read once, no site can be known to be public.
        let Some(users) = self.users.get_loaded(load) else {
            return Verdict::Answer(
                Response::text(
                    503,
                    "503 Service Unavailable: the database does not answer; retry",
                )
                .with_header("Retry-After", "1"),
            );
        };
        let Some(site_users) = users.get(site) else {
            return Verdict::Pass { protected: false };
        };
        let Some(header) = req.header("authorization") else {
            return Verdict::Answer(challenge(site, "this site is password-protected"));
        };
        let Some((user, password)) = basic_credentials(header) else {
            return Verdict::Answer(challenge(site, "send a user name and password (Basic)"));
        };
        // Keyed by what the credentials say (not how the header spells them), and by the
        // users: a user removed, or a password changed here or by the CLI, makes remembered
        // credentials count for nothing.
        let mut parts: Vec<&[u8]> = vec![site.as_bytes(), b"\0", user.as_bytes(), b"\0"];
        parts.push(password.as_bytes());
        for (u, phc) in site_users {
            parts.extend([b"\0".as_slice(), u.as_bytes(), b"\0", phc.as_bytes()]);
        }
        let key = secret::sha256(&parts);
        if self
            .verified
            .lock()
            .unwrap()
            .get(&key)
            .is_some_and(|at| at.elapsed() < VERIFIED_FOR)
        {
            return Verdict::Pass { protected: true };
        }
        if let Err(wait) = limiter.attempt(ip) {
            return Verdict::Answer(
                Response::text(
                    429,
                    "429 Too Many Requests: too many wrong passwords from this address; try later",
                )
                .with_header("Retry-After", wait.as_secs().max(1).to_string()),
            );
        }
        // Argon2 takes tens of milliseconds and MiBs: a few at once, the rest told to retry.
        let Some(_slot) = ArgonSlot::take(&self.verifying) else {
            return Verdict::Answer(
                Response::text(
                    503,
                    "503 Service Unavailable: busy checking passwords; retry",
                )
                .with_header("Retry-After", "1"),
            );
        };
        // A hash is checked whether or not the user exists, so timing does not tell names.
        let phc = site_users
            .iter()
            .find(|(u, _)| auth::constant_time_eq(u.as_bytes(), user.as_bytes()))
            .map_or(dummy_hash(), |(_, phc)| phc.as_str());
        let good =
            auth::verify_password(&password, phc) && site_users.iter().any(|(u, _)| u == &user);
        if !good {
            return Verdict::Answer(challenge(site, "wrong user name or password"));
        }
        // The address's failures are not forgiven: a password someone knows (their own
        // site's) must not buy more guesses at another site's or the dashboard's.
        limiter.uncount_last(ip);
        let mut verified = self.verified.lock().unwrap();
        if verified.len() >= MAX_VERIFIED {
            verified.clear();
        }
        verified.insert(key, Instant::now());
        Verdict::Pass { protected: true }
    }

    /// Reads the users again on the next request (after a change made by this server).
    pub fn changed(&self) {
        self.users.changed();
        // A removed user's remembered credentials must not keep working.
        self.verified.lock().unwrap().clear();
    }
}

/// 401 with the header that makes a browser ask for a user name and password.
fn challenge(site: &str, why: &str) -> Response {
    Response::text(401, format!("401 Unauthorized: {why}"))
        .with_header(
            "WWW-Authenticate",
            format!("Basic realm=\"{site}\", charset=\"UTF-8\""),
        )
        .with_header("Cache-Control", "no-store")
}

/// `Basic base64(user:password)` → `(user, password)`.
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Checks a user name for a protected site.
pub fn check_user(user: &str) -> Result<(), String> {
    if user.is_empty() || user.len() > MAX_USER {
        return Err(format!("a user name has 1 to {MAX_USER} characters"));
    }
    if !user.bytes().all(|b| b.is_ascii_graphic()) || user.contains(':') {
        return Err("a user name is printable ASCII without spaces or ':'".into());
    }
    Ok(())
}

/// Parses Surge's `AUTH` file: `user:password` lines (blank lines and `#` comments skipped).
/// The error names the line.
pub fn parse_auth_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut users = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (user, password) = line
            .split_once(':')
            .ok_or_else(|| format!("AUTH line {}: expected user:password", n + 1))?;
        check_user(user).map_err(|e| format!("AUTH line {}: {e}", n + 1))?;
        auth::check_new_password(password).map_err(|e| format!("AUTH line {}: {e}", n + 1))?;
        users.push((user.to_string(), password.to_string()));
        if users.len() > 100 {
            return Err("AUTH: at most 100 users".into());
        }
    }
    if users.is_empty() {
        return Err("AUTH has no user:password line".into());
    }
    Ok(users)
}

/// The first line of an `AUTH` file this server wrote.
const HASHED_AUTH_HEADER: &str = "# Written by cc-server at deploy: user:Argon2id hash lines.";

/// The `AUTH` file a deploy leaves in the site's folder in place of the one it was sent:
/// `user:$argon2id$…` lines, so that the folder carries its password wherever it goes (a
/// rollback to it brings the users back) and no password is kept as text.
pub fn hashed_auth_file(users: &[(String, String)]) -> String {
    let mut text = format!("{HASHED_AUTH_HEADER}\n");
    for (user, phc) in users {
        text.push_str(&format!("{user}:{phc}\n"));
    }
    text
}

/// Reads an `AUTH` file written by [`hashed_auth_file`]: `(user, PHC)` pairs. Only hashes
/// made with this server's own Argon2 parameters are taken (a hash asking for gigabytes would
/// cost that much at each check); a plain-text password is refused, since plain text is only
/// read at deploy time.
pub fn parse_hashed_auth_file(text: &str) -> Result<Vec<(String, String)>, String> {
    // `$argon2id$v=19$m=…,t=…,p=…$`: everything before the salt.
    let own = dummy_hash();
    let own_params = own
        .match_indices('$')
        .nth(3)
        .map_or(own, |(at, _)| &own[..=at]);
    let mut users = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (user, phc) = line
            .split_once(':')
            .ok_or_else(|| format!("AUTH line {}: expected user:hash", n + 1))?;
        check_user(user).map_err(|e| format!("AUTH line {}: {e}", n + 1))?;
        let salt_and_hash = phc.strip_prefix(own_params).unwrap_or_default();
        let well_formed = salt_and_hash.split('$').count() == 2
            && salt_and_hash
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/$".contains(&b));
        if !well_formed {
            return Err(format!(
                "AUTH line {}: not a password hash written by this server (a deployed AUTH \
                 file's passwords are hashed at deploy; deploy the folder again)",
                n + 1
            ));
        }
        users.push((user.to_string(), phc.to_string()));
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> String {
        let raw = format!("{user}:{password}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    #[test]
    fn credentials_are_checked_once_then_remembered() {
        let p = Protection::default();
        let limiter = LoginLimiter::default();
        let ip = IpAddr::from([10, 0, 0, 1]);
        let phc = auth::hash_password("correct horse").unwrap();
        let users = || {
            Some(Users::from([(
                "blog".to_string(),
                vec![("ann".to_string(), phc.clone())],
            )]))
        };
        let req = |h: Option<&str>| match h {
            Some(h) => Request::fake("GET", "/", &[("authorization", h)]),
            None => Request::fake("GET", "/", &[]),
        };
        assert!(matches!(
            p.check("shop", &req(None), ip, &limiter, users),
            Verdict::Pass { protected: false }
        ));
        let Verdict::Answer(r) = p.check("blog", &req(None), ip, &limiter, users) else {
            panic!("no challenge")
        };
        assert_eq!(r.status, 401);
        assert!(
            r.header("www-authenticate")
                .unwrap()
                .starts_with("Basic realm=\"blog\"")
        );
        let wrong = basic("ann", "wrong horse");
        assert!(matches!(
            p.check("blog", &req(Some(&wrong)), ip, &limiter, users),
            Verdict::Answer(_)
        ));
        let good = basic("ann", "correct horse");
        assert!(matches!(
            p.check("blog", &req(Some(&good)), ip, &limiter, users),
            Verdict::Pass { protected: true }
        ));
        // Spelled another way, the same credentials are remembered, not checked again.
        let spelled = good.replacen("Basic", "bAsIc ", 1);
        assert!(matches!(
            p.check("blog", &req(Some(&spelled)), ip, &limiter, users),
            Verdict::Pass { protected: true }
        ));
        // The same credentials for another protected site are checked again, not remembered.
        assert!(p.verified.lock().unwrap().len() == 1);
    }

    #[test]
    fn no_site_is_taken_for_public_before_the_table_was_read() {
        let p = Protection::default();
        let limiter = LoginLimiter::default();
        let ip = IpAddr::from([10, 0, 0, 2]);
        let req = Request::fake("GET", "/", &[]);
        let Verdict::Answer(r) = p.check("any", &req, ip, &limiter, || None) else {
            panic!("passed without ever reading the password table")
        };
        assert_eq!(r.status, 503);
        assert!(matches!(
            p.check("any", &req, ip, &limiter, || Some(Users::new())),
            Verdict::Pass { protected: false }
        ));
        // Once read, a failing read keeps the last table.
        p.changed();
        assert!(matches!(
            p.check("any", &req, ip, &limiter, || None),
            Verdict::Pass { protected: false }
        ));
    }

    #[test]
    fn auth_files_parse_with_line_numbers() {
        assert_eq!(
            parse_auth_file("# team\nann:correct horse\n\nbob:battery staple\n").unwrap(),
            [
                ("ann".to_string(), "correct horse".to_string()),
                ("bob".into(), "battery staple".into())
            ]
        );
        assert!(
            parse_auth_file("ann:correct horse\nnocolon\n")
                .unwrap_err()
                .contains("line 2")
        );
        assert!(parse_auth_file("").is_err());
        assert!(basic_credentials("Basic !!!").is_none());
        assert_eq!(
            basic_credentials(&basic("a", "b:c")),
            Some(("a".into(), "b:c".into()))
        );
    }

    #[test]
    fn a_hashed_auth_file_reads_back_and_nothing_else_passes_for_one() {
        let phc = auth::hash_password("correct horse").unwrap();
        let users = vec![
            ("ann".to_string(), phc.clone()),
            ("bob".into(), phc.clone()),
        ];
        let text = hashed_auth_file(&users);
        assert!(!text.contains("correct horse"));
        let back = parse_hashed_auth_file(&text).unwrap();
        assert_eq!(back, users);
        assert!(auth::verify_password("correct horse", &back[0].1));
        assert_eq!(parse_hashed_auth_file("# nobody\n").unwrap(), []);
        for bad in [
            "ann:correct horse",
            "ann",
            "a:b:$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
            // Parameters other than the server's own: a hash could ask for gigabytes.
            "ann:$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
            "ann:$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        ] {
            assert!(parse_hashed_auth_file(bad).is_err(), "{bad}");
        }
        let own = phc.rsplitn(3, '$').nth(2).unwrap();
        let forged = format!("ann:{own}$c2FsdHNhbHQ$aGFzaGhhc2g");
        assert!(parse_hashed_auth_file(&forged).is_ok(), "{forged}");
    }
}
