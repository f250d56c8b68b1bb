//! The server's shared parts (database path, sites, script pool, WebSocket hub, analytics
//! recorder, limiters) and the checks every dashboard, API or public request makes before it
//! acts: who the caller is, CSRF, the client's address and scheme behind a trusted proxy, the
//! public rate limit, site-name scope, and the audit record. It decides nothing about what an
//! action does: `actions` does that.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rusqlite::Connection;

use crate::analytics::Recorder;
use crate::auth::{self, LoginLimiter};
use crate::deploy::Sites;
use crate::domains::Domains;
use crate::error::ApiError;
use crate::http::Request;
use crate::js::pool::ScriptPool;
use crate::keys;
use crate::names::is_valid_site_name;
use crate::protect::Protection;
use crate::ratelimit::RateLimiter;
use crate::refreshed::Refreshed;
use crate::store::{self, auth::SessionRow};
use crate::ws::Hub;

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
    /// Analytics through the API (stats, a site's detail, the site list) per deploy key.
    pub analytics_limiter: RateLimiter<String>,
    /// When this server started (for `/health`'s uptime).
    pub started: std::time::Instant,
    /// Password-protected sites.
    pub protection: Protection,
    /// Custom domains → sites.
    pub domains: Domains,
    /// Sites whose `CC_PRETTY_URLS` env var is on: `/about.html` redirects to `/about`.
    pub pretty_urls: Refreshed<std::collections::HashSet<String>>,
    /// main.js cron triggers, for the site pages.
    pub cron: Arc<crate::js::cron::Scheduler>,
    /// Deploy uploads being read (each on an HTTP worker): fewer than the workers.
    pub uploads: crate::deploy::upload::UploadSlots,
    /// HTTPS served by cc-server itself (`--https`), and its port.
    pub https: Option<Arc<crate::tls::Https>>,
    pub https_port: u16,
}

/// The site env var that turns on Netlify's "pretty URLs": `/about.html` → 301 `/about`.
pub const PRETTY_URLS_VAR: &str = "CC_PRETTY_URLS";

/// A key may ask the API for analytics this often a minute, in bursts of `KEY_STATS_BURST`:
/// each answer summarises the raw events (a quarter of a second at half a million), and
/// a narrow key must not keep the server busy doing it. The admin's session is not limited.
pub const KEY_STATS_PER_MINUTE: u32 = 60;
pub const KEY_STATS_BURST: u32 = 10;

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
    pub fn conn(&self) -> Result<Connection, ApiError> {
        store::open(&self.db_path).map_err(|e| ApiError::Store(e.to_string()))
    }

    /// Where a site is reached: over HTTPS when cc-server serves it.
    pub fn site_url(&self, site: &str) -> String {
        match (&self.https, self.port, self.https_port) {
            (Some(_), _, 443) => format!("https://{site}.{}/", self.domain),
            (Some(_), _, p) => format!("https://{site}.{}:{p}/", self.domain),
            (None, 80, _) => format!("http://{site}.{}/", self.domain),
            (None, p, _) => format!("http://{site}.{}:{p}/", self.domain),
        }
    }

    /// `path` on this server as the browser that sent `req` reaches it (scheme and Host of
    /// the request; this server's domain and port when the request named no Host): the
    /// links, endpoints and snippets the dashboard shows to be pasted elsewhere.
    pub fn public_url(&self, req: &Request, path: &str) -> String {
        let scheme = if self.is_https(req) { "https" } else { "http" };
        match req.header("host") {
            Some(host) if !host.is_empty() => format!("{scheme}://{host}{path}"),
            _ if self.port == 80 => format!("{scheme}://{}{path}", self.domain),
            _ => format!("{scheme}://{}:{}{path}", self.domain, self.port),
        }
    }

    /// The host the browser used (normalised, without its port); this server's domain when
    /// the request named none.
    pub fn host_of(&self, req: &Request) -> String {
        req.header("host")
            .and_then(crate::router::normalise_host)
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| self.domain.clone())
    }

    /// True when the browser reached us over HTTPS: ours, or the trusted proxy's.
    pub fn is_https(&self, req: &Request) -> bool {
        req.secure
            || self.via_trusted_proxy(req)
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

    /// `Err(TooManyRequests)` when this client has sent too many public requests lately.
    pub fn check_public_rate(&self, req: &Request) -> Result<(), ApiError> {
        if self.public_limiter.allow(self.client_ip(req)) {
            Ok(())
        } else {
            Err(ApiError::TooManyRequests(format!(
                "too many requests from your address: at most {PUBLIC_PER_MINUTE} a minute"
            )))
        }
    }

    /// `Err(TooManyRequests)` when `caller`, a deploy key, has asked for analytics too often
    /// lately; the admin's session always passes.
    pub fn check_analytics_rate(&self, caller: &Caller) -> Result<(), ApiError> {
        if caller.session.is_some() || self.analytics_limiter.allow_key(caller.name.clone()) {
            Ok(())
        } else {
            Err(ApiError::TooManyRequests(format!(
                "key '{}' asks for analytics too often: at most {KEY_STATS_PER_MINUTE} a minute",
                caller.name
            )))
        }
    }

    fn via_trusted_proxy(&self, req: &Request) -> bool {
        self.trusted_proxy == Some(req.remote_ip)
    }

    /// The caller a request authenticates as: a `Bearer` token wins over a session cookie.
    /// `Ok(None)` when neither is valid.
    pub fn caller(&self, conn: &Connection, req: &Request) -> Result<Option<Caller>, ApiError> {
        if req.header("authorization").is_some() {
            return Ok(
                keys::authenticate(conn, req.header("authorization"))?.map(|k| Caller {
                    name: k.name,
                    scopes: k.scopes,
                    session: None,
                }),
            );
        }
        Ok(auth::session(conn, req.header("cookie"), self.is_https(req)).map(Caller::admin))
    }

    /// Refuses a state-changing request made with a session cookie unless it comes from a
    /// dashboard page (same origin) and carries the session's CSRF token. Token callers send
    /// no cookie, so a browser cannot be tricked into acting for them.
    pub fn check_csrf(
        &self,
        req: &Request,
        caller: &Caller,
        token: Option<&str>,
    ) -> Result<(), ApiError> {
        let Some(session) = &caller.session else {
            return Ok(());
        };
        if !auth::same_origin(
            req.header("host"),
            req.header("origin"),
            req.header("referer"),
        ) {
            return Err(ApiError::Forbidden(
                "cross-origin request refused: dashboard actions must come from the dashboard's own pages".into(),
            ));
        }
        match token {
            Some(t) if auth::constant_time_eq(t.as_bytes(), session.csrf_token.as_bytes()) => {
                Ok(())
            }
            _ => Err(ApiError::Forbidden(
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
        store::audit::record_or_log(conn, actor, action, target, Some(&ip));
    }

    pub fn check_site(&self, caller: &Caller, site: &str) -> Result<(), ApiError> {
        if !is_valid_site_name(site) {
            return Err(ApiError::BadRequest(format!(
                "site name '{site}' is not valid: use 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'"
            )));
        }
        if !caller.may_manage(site) {
            return Err(ApiError::Forbidden(format!(
                "key '{}' may not deploy '{site}' (its scopes: {})",
                caller.name,
                caller.scopes.join(", ")
            )));
        }
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
