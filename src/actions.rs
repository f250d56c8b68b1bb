//! What an admin (a dashboard session) or a deploy key (a token) may do — roll back, tear down,
//! set env vars, create and revoke keys, edit tracked domains, short links and webhook
//! endpoints — each written once for both the HTML pages and the JSON API, each checked against
//! the caller and written to the audit log.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rusqlite::Connection;

use crate::analytics::Recorder;
use crate::auth::{self, LoginLimiter};
use crate::deploy::{DeployError, Sites, Unpacked};
use crate::http::Request;
use crate::js::pool::ScriptPool;
use crate::keys;
use crate::links;
use crate::names::{is_valid_site_name, normalise_domain};
use crate::ratelimit::RateLimiter;
use crate::store::{self, auth::SessionRow};
use crate::webhooks;
use crate::ws::Hub;

/// Longest env var value: main.js gets every value on every run.
pub const MAX_ENV_VALUE: usize = 32 * 1024;
/// Most env vars per site.
pub const MAX_ENV_VARS: usize = 100;

/// The server's shared parts that dashboard and API handlers act on.
pub struct Services {
    pub db_path: PathBuf,
    pub sites: Sites,
    pub scripts: Arc<ScriptPool>,
    pub hub: Arc<Hub>,
    pub recorder: Recorder,
    pub domain: String,
    pub port: u16,
    /// Requests from this address may say they came over HTTPS (`X-Forwarded-Proto`) and
    /// for whom (`X-Forwarded-For`).
    pub trusted_proxy: Option<IpAddr>,
    pub limiter: LoginLimiter,
    /// Tracking, pixel, short-link and webhook requests per client address.
    pub public_limiter: RateLimiter,
}

/// Public endpoints: a client may send this many events a minute, in bursts of `PUBLIC_BURST`.
pub const PUBLIC_PER_MINUTE: u32 = 120;
pub const PUBLIC_BURST: u32 = 60;

/// Who is asking: the admin through a dashboard session, or a deploy key.
pub struct Caller {
    /// 'admin' or the key's name, as the audit log and `deployed_by` show it.
    pub name: String,
    pub scopes: Vec<String>,
    /// The session, when the admin is asking from the dashboard.
    pub session: Option<SessionRow>,
}

impl Caller {
    /// The admin, signed in to the dashboard with `session`: every site, and analytics.
    pub fn admin(session: SessionRow) -> Caller {
        Caller {
            name: "admin".into(),
            scopes: vec!["deploy:*".into(), "read:stats".into()],
            session: Some(session),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.session.is_some()
    }

    pub fn may_manage(&self, site: &str) -> bool {
        self.is_admin() || keys::may_deploy(&self.scopes, site)
    }

    pub fn may_read_stats(&self) -> bool {
        self.is_admin() || self.scopes.iter().any(|s| s == "read:stats")
    }
}

impl Services {
    pub fn conn(&self) -> Result<Connection, DeployError> {
        store::open(&self.db_path).map_err(|e| DeployError::Store(e.to_string()))
    }

    pub fn site_url(&self, site: &str) -> String {
        match self.port {
            80 => format!("http://{site}.{}/", self.domain),
            p => format!("http://{site}.{}:{p}/", self.domain),
        }
    }

    /// True when the browser reached us over HTTPS through the trusted proxy.
    pub fn is_https(&self, req: &Request) -> bool {
        self.via_trusted_proxy(req)
            && last_forwarded(req, "x-forwarded-proto")
                .is_some_and(|p| p.eq_ignore_ascii_case("https"))
    }

    /// The client's address: the last `X-Forwarded-For` entry (the one the trusted proxy
    /// itself added, whether it appended to the header or sent a line of its own), else the
    /// socket's peer.
    pub fn client_ip(&self, req: &Request) -> IpAddr {
        if self.via_trusted_proxy(req)
            && let Some(ip) = last_forwarded(req, "x-forwarded-for").and_then(|v| v.parse().ok())
        {
            return ip;
        }
        req.remote_ip
    }

    /// `Err(429 answer)` when this client has sent too many public requests lately.
    pub fn check_public_rate(&self, req: &Request) -> Result<(), crate::http::Response> {
        if self.public_limiter.allow(self.client_ip(req)) {
            Ok(())
        } else {
            Err(crate::http::Response::json_error(
                429,
                &format!(
                    "too many requests from your address: at most {PUBLIC_PER_MINUTE} a minute"
                ),
            )
            .with_header("Retry-After", "30"))
        }
    }

    fn via_trusted_proxy(&self, req: &Request) -> bool {
        self.trusted_proxy == Some(req.remote_ip)
    }

    /// The caller a request authenticates as: a `Bearer` token wins over a session cookie.
    /// `Ok(None)` when neither is valid.
    pub fn caller(&self, conn: &Connection, req: &Request) -> Result<Option<Caller>, DeployError> {
        if req.header("authorization").is_some() {
            return Ok(
                keys::authenticate(conn, req.header("authorization"))?.map(|k| Caller {
                    name: k.name,
                    scopes: k.scopes,
                    session: None,
                }),
            );
        }
        Ok(auth::session(conn, req.header("cookie")).map(Caller::admin))
    }

    /// Refuses a state-changing request made with a session cookie unless it comes from a
    /// dashboard page (same origin) and carries the session's CSRF token. Token callers send
    /// no cookie, so a browser cannot be tricked into acting for them.
    pub fn check_csrf(
        &self,
        req: &Request,
        caller: &Caller,
        token: Option<&str>,
    ) -> Result<(), DeployError> {
        let Some(session) = &caller.session else {
            return Ok(());
        };
        if !auth::same_origin(
            req.header("host"),
            req.header("origin"),
            req.header("referer"),
        ) {
            return Err(DeployError::Forbidden(
                "cross-origin request refused: dashboard actions must come from the dashboard's own pages".into(),
            ));
        }
        match token {
            Some(t) if auth::constant_time_eq(t.as_bytes(), session.csrf_token.as_bytes()) => {
                Ok(())
            }
            _ => Err(DeployError::Forbidden(
                "missing or wrong CSRF token: reload the page and try again".into(),
            )),
        }
    }

    pub fn audit(
        &self,
        conn: &Connection,
        actor: &str,
        action: &str,
        target: Option<&str>,
        req: &Request,
    ) {
        let ip = self.client_ip(req).to_string();
        if let Err(e) = store::audit::record(conn, actor, action, target, Some(&ip)) {
            eprintln!("audit: could not record {action} by {actor}: {e}");
        }
    }

    pub fn check_site(&self, caller: &Caller, site: &str) -> Result<(), DeployError> {
        if !is_valid_site_name(site) {
            return Err(DeployError::BadRequest(format!(
                "site name '{site}' is not valid: use 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'"
            )));
        }
        if !caller.may_manage(site) {
            return Err(DeployError::Forbidden(format!(
                "key '{}' may not deploy '{site}' (its scopes: {})",
                caller.name,
                caller.scopes.join(", ")
            )));
        }
        Ok(())
    }

    fn check_existing_site(&self, caller: &Caller, site: &str) -> Result<(), DeployError> {
        self.check_site(caller, site)?;
        if !self.sites.live_dir(site).is_dir() {
            return Err(DeployError::NotFound(format!("there is no site '{site}'")));
        }
        Ok(())
    }

    /// Swaps the live site with its previous deployment; returns what is live now and the
    /// new deployment row's id.
    pub fn rollback(
        &self,
        conn: &Connection,
        caller: &Caller,
        site: &str,
        req: &Request,
    ) -> Result<(Unpacked, i64), DeployError> {
        self.check_site(caller, site)?;
        let lock = self.sites.lock(site)?;
        let now = self.sites.rollback(&lock)?;
        let id = store::sites::record_deployment(
            conn,
            site,
            now.bytes,
            now.files,
            &format!("{} (rollback)", caller.name),
        )?;
        drop(lock);
        self.audit(conn, &caller.name, "rollback", Some(site), req);
        eprintln!("rollback: {site} by '{}' (deployment {id})", caller.name);
        Ok((now, id))
    }

    /// Removes a site's files (and its `db` keys and env vars unless `keep_data`).
    pub fn teardown(
        &self,
        conn: &mut Connection,
        caller: &Caller,
        site: &str,
        keep_data: bool,
        req: &Request,
    ) -> Result<(), DeployError> {
        self.check_site(caller, site)?;
        let lock = self.sites.lock(site)?;
        self.sites.teardown(&lock)?;
        if !keep_data {
            store::sites::delete_data(conn, site)?;
        }
        drop(lock);
        self.audit(conn, &caller.name, "teardown", Some(site), req);
        eprintln!(
            "teardown: {site} by '{}' (data kept: {keep_data})",
            caller.name
        );
        Ok(())
    }

    /// Sets an env var; `true` when it is new. The value never reaches a log.
    pub fn set_env(
        &self,
        conn: &Connection,
        caller: &Caller,
        site: &str,
        key: &str,
        value: &str,
        req: &Request,
    ) -> Result<bool, DeployError> {
        self.check_existing_site(caller, site)?;
        check_env_key(key).map_err(DeployError::BadRequest)?;
        if value.len() > MAX_ENV_VALUE {
            return Err(DeployError::TooLarge(format!(
                "the value of {key} is {} bytes; the limit is {MAX_ENV_VALUE}",
                value.len()
            )));
        }
        let existing = store::kv::env_vars(conn, site)?;
        if existing.len() >= MAX_ENV_VARS && !existing.iter().any(|(k, _)| k == key) {
            return Err(DeployError::BadRequest(format!(
                "'{site}' already has {MAX_ENV_VARS} env vars, the most a site may have"
            )));
        }
        let new = store::sites::set_env(conn, site, key, value)?;
        self.audit(
            conn,
            &caller.name,
            "env.set",
            Some(&format!("{site}:{key}")),
            req,
        );
        Ok(new)
    }

    pub fn delete_env(
        &self,
        conn: &Connection,
        caller: &Caller,
        site: &str,
        key: &str,
        req: &Request,
    ) -> Result<(), DeployError> {
        self.check_site(caller, site)?;
        if !store::sites::delete_env(conn, site, key)? {
            return Err(DeployError::NotFound(format!(
                "'{site}' has no env var '{key}'"
            )));
        }
        self.audit(
            conn,
            &caller.name,
            "env.delete",
            Some(&format!("{site}:{key}")),
            req,
        );
        Ok(())
    }

    /// Creates a deploy key (admin only) and returns `(id, token)`: the only time the token
    /// exists outside the caller's hands.
    pub fn create_key(
        &self,
        conn: &Connection,
        caller: &Caller,
        name: &str,
        scopes: &[String],
        req: &Request,
    ) -> Result<(i64, String), DeployError> {
        require_admin(caller)?;
        let (id, token) = keys::create(conn, name, scopes).map_err(DeployError::BadRequest)?;
        self.audit(
            conn,
            &caller.name,
            "key.create",
            Some(&format!("#{id} {}", name.trim())),
            req,
        );
        Ok((id, token))
    }

    pub fn revoke_key(
        &self,
        conn: &Connection,
        caller: &Caller,
        id: i64,
        req: &Request,
    ) -> Result<(), DeployError> {
        require_admin(caller)?;
        if !store::keys::revoke(conn, id)? {
            return Err(DeployError::NotFound(format!(
                "there is no live key with id {id}"
            )));
        }
        self.audit(
            conn,
            &caller.name,
            "key.revoke",
            Some(&format!("#{id}")),
            req,
        );
        Ok(())
    }

    /// Allows a domain hosted elsewhere to send pageviews; returns the normalised domain.
    pub fn add_tracked_domain(
        &self,
        conn: &Connection,
        caller: &Caller,
        domain: &str,
        req: &Request,
    ) -> Result<String, DeployError> {
        require_admin(caller)?;
        let domain = normalise_domain(domain).map_err(DeployError::BadRequest)?;
        if store::tracking::add(conn, &domain)? {
            self.audit(conn, &caller.name, "tracking.add", Some(&domain), req);
        }
        Ok(domain)
    }

    pub fn remove_tracked_domain(
        &self,
        conn: &Connection,
        caller: &Caller,
        domain: &str,
        req: &Request,
    ) -> Result<(), DeployError> {
        require_admin(caller)?;
        if !store::tracking::remove(conn, domain)? {
            return Err(DeployError::NotFound(format!(
                "'{domain}' is not a tracked domain"
            )));
        }
        self.audit(conn, &caller.name, "tracking.remove", Some(domain), req);
        Ok(())
    }

    /// Adds a short link `/r/<slug>` → `target`; returns the target as stored. 409 when the
    /// slug is taken: a link in use is never silently repointed.
    pub fn create_link(
        &self,
        conn: &Connection,
        caller: &Caller,
        slug: &str,
        target: &str,
        req: &Request,
    ) -> Result<String, DeployError> {
        require_admin(caller)?;
        links::check_slug(slug).map_err(DeployError::BadRequest)?;
        let target = links::check_target(target).map_err(DeployError::BadRequest)?;
        if !store::links::create(conn, slug, &target)? {
            return Err(DeployError::Conflict(format!(
                "the short link '{slug}' already exists: edit it, or choose another slug"
            )));
        }
        self.audit(conn, &caller.name, "link.create", Some(slug), req);
        Ok(target)
    }

    /// Points an existing short link at a new target (its clicks are kept).
    pub fn update_link(
        &self,
        conn: &Connection,
        caller: &Caller,
        slug: &str,
        target: &str,
        req: &Request,
    ) -> Result<String, DeployError> {
        require_admin(caller)?;
        let target = links::check_target(target).map_err(DeployError::BadRequest)?;
        if !store::links::update_target(conn, slug, &target)? {
            return Err(DeployError::NotFound(format!(
                "there is no short link '{slug}'"
            )));
        }
        self.audit(conn, &caller.name, "link.update", Some(slug), req);
        Ok(target)
    }

    pub fn delete_link(
        &self,
        conn: &Connection,
        caller: &Caller,
        slug: &str,
        req: &Request,
    ) -> Result<(), DeployError> {
        require_admin(caller)?;
        if !store::links::delete(conn, slug)? {
            return Err(DeployError::NotFound(format!(
                "there is no short link '{slug}'"
            )));
        }
        self.audit(conn, &caller.name, "link.delete", Some(slug), req);
        Ok(())
    }

    /// Creates a webhook endpoint (admin only). With `signed`, returns its new secret: the
    /// only time it leaves the server.
    pub fn create_webhook(
        &self,
        conn: &Connection,
        caller: &Caller,
        endpoint: &str,
        signed: bool,
        req: &Request,
    ) -> Result<Option<String>, DeployError> {
        require_admin(caller)?;
        if !webhooks::is_valid_endpoint(endpoint) {
            return Err(DeployError::BadRequest(format!(
                "'{endpoint}' is not an endpoint name: use 1-64 characters of a-z, A-Z, 0-9, '-' and '_'"
            )));
        }
        let secret = signed.then(webhooks::new_secret);
        if !store::webhooks::create(conn, endpoint, secret.as_deref())? {
            return Err(DeployError::Conflict(format!(
                "there is already a webhook endpoint '{endpoint}'"
            )));
        }
        let target = if signed {
            format!("{endpoint} (signed)")
        } else {
            endpoint.to_string()
        };
        self.audit(conn, &caller.name, "webhook.create", Some(&target), req);
        Ok(secret)
    }

    /// Deletes an endpoint: its URL answers 404 from now on; what it received stays in the
    /// events (and Analytics) until the retention period prunes it.
    pub fn delete_webhook(
        &self,
        conn: &Connection,
        caller: &Caller,
        endpoint: &str,
        req: &Request,
    ) -> Result<(), DeployError> {
        require_admin(caller)?;
        if !store::webhooks::delete(conn, endpoint)? {
            return Err(DeployError::NotFound(format!(
                "there is no webhook endpoint '{endpoint}'"
            )));
        }
        self.audit(conn, &caller.name, "webhook.delete", Some(endpoint), req);
        Ok(())
    }
}

/// The last comma-separated entry over every line of a forwarding header.
fn last_forwarded<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers
        .iter()
        .filter(|(n, _)| n == name)
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .rfind(|v| !v.is_empty())
}

fn require_admin(caller: &Caller) -> Result<(), DeployError> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(DeployError::Forbidden(
            "only the admin (a dashboard session) may do this, not a deploy key".into(),
        ))
    }
}

/// An env var name as shells and Workers allow: a letter or `_`, then letters, digits, `_`.
pub fn check_env_key(key: &str) -> Result<(), String> {
    let mut chars = key.chars();
    let ok = key.len() <= 128
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{key}' is not an env var name: use letters, digits and '_' (not starting with a digit, at most 128)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_keys() {
        for ok in ["API_KEY", "_x", "a1"] {
            assert!(check_env_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1A", "A-B", "A B", "é", &"A".repeat(129)] {
            assert!(check_env_key(bad).is_err(), "{bad}");
        }
    }
}
