//! The whole request handler: routes on Host, answers from the dashboard or a site, and records
//! a visit for every site request. Knows nothing of sockets.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::analytics::Visit;
use crate::api::Api;
use crate::config::ServeConfig;
use crate::dashboard::Dashboard;
use crate::error::ApiError;
use crate::http::Upgrade;
use crate::http::{Request, Response};
use crate::js::SCRIPT_FETCH_HEADER;
use crate::js::pool::{ScriptPool, SocketHub};
use crate::metrics::{Gauges, Kind, Metrics};
use crate::protect::{self, Verdict};
use crate::router::{self, Route};
use crate::services::{PRETTY_URLS_VAR, Services};
use crate::site::{self, Folders};
use crate::store;
use crate::tls::{Https, NameKind};
use crate::ws::{self, Hub};

/// Where an ACME CA looks for HTTP-01 answers (RFC 8555 §8.3).
const ACME_CHALLENGE: &str = "/.well-known/acme-challenge/";

pub struct App {
    metrics: Arc<Metrics>,
    domain: String,
    sites: Folders,
    pub svc: Arc<Services>,
    api: Api,
    dashboard: Dashboard,
}

impl App {
    pub fn new(config: &ServeConfig, svc: Arc<Services>) -> App {
        App {
            metrics: Arc::default(),
            domain: config.domain.clone(),
            sites: Folders::new(config.sites_dir(), svc.sites.rules.clone()),
            api: Api { svc: svc.clone() },
            dashboard: Dashboard { svc: svc.clone() },
            svc,
        }
    }

    /// `GET /ws` with `Upgrade: websocket` on a site: 101 (the server then hands the
    /// connection to the hub), 400 for a bad handshake, 503 when the site is full.
    fn websocket(&self, site: &str, req: &Request) -> Response {
        let ip = self.svc.client_ip(req);
        match ws::check_handshake(req) {
            Ok(_) if !self.origin_allowed(site, req) => Response::text(
                403,
                format!(
                    "403 Forbidden: this site's WebSocket does not take connections from pages on {}; \
                     list that origin in the site's {WS_ORIGINS_VAR} env var (comma-separated, or *)",
                    req.header("origin").unwrap_or_default()
                ),
            ),
            Ok(accept) if self.svc.hub.has_room(site, ip) => {
                let mut r = Response::new(101).with_header("Sec-WebSocket-Accept", accept);
                r.upgrade = Some(Upgrade::WebSocket {
                    site: site.to_string(),
                    ip,
                });
                r
            }
            Ok(_) => Response::text(
                503,
                "503 Service Unavailable: this site has as many WebSocket clients as it may",
            ),
            Err(why) => Response::text(
                400,
                format!("400 Bad Request: bad WebSocket handshake: {why}"),
            ),
        }
    }

    /// True when a browser page may open this site's WebSocket: requests without `Origin`
    /// (not from a browser) and pages on the site's own host may; other origins only when the
    /// site lists them in its `CC_WS_ORIGINS` env var. Without this, any page on the web could
    /// join a site's channel in its visitors' browsers and read what is broadcast.
    fn origin_allowed(&self, site: &str, req: &Request) -> bool {
        let Some(origin) = req.header("origin").map(|o| o.trim().trim_end_matches('/')) else {
            return true;
        };
        let origin_host = origin.split_once("://").map_or("", |(_, host)| host);
        if req
            .header("host")
            .is_some_and(|host| !host.is_empty() && origin_host.eq_ignore_ascii_case(host.trim()))
        {
            return true;
        }
        let listed = self
            .svc
            .conn()
            .ok()
            .and_then(|c| crate::store::kv::env_vars(&c, site).ok())
            .and_then(|vars| vars.into_iter().find(|(k, _)| k == WS_ORIGINS_VAR))
            .map(|(_, v)| v)
            .unwrap_or_default();
        listed
            .split(',')
            .map(|o| o.trim().trim_end_matches('/'))
            .any(|o| o == "*" || (!o.is_empty() && o.eq_ignore_ascii_case(origin)))
    }

    /// `GET /health` for uptime monitors: 200 while the database answers, else 503. Public:
    /// it says only that the server is up, its version and how long it has run.
    fn health(&self) -> Response {
        let ok = self.svc.conn().is_ok_and(|c| crate::store::answers(&c));
        let body = serde_json::json!({
            "ok": ok,
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_s": self.svc.started.elapsed().as_secs(),
        });
        Response::json(if ok { 200 } else { 503 }, &body).with_header("Cache-Control", "no-store")
    }

    /// `GET /metrics` (Prometheus text) for the dashboard's session or a `read:stats` key.
    fn metrics(&self, req: &Request) -> Response {
        let allowed = self
            .svc
            .conn()
            .and_then(|conn| match self.svc.caller(&conn, req)? {
                None => Err(ApiError::Unauthorized(
                    "log in, or send a key with the read:stats scope".into(),
                )),
                Some(c) if !c.may_read_stats() => Err(ApiError::Forbidden(format!(
                    "key '{}' has no read:stats scope",
                    c.name
                ))),
                Some(_) => Ok(()),
            });
        if let Err(e) = allowed {
            return e.to_json_response();
        }
        let (runs, exchanges, _) = self.svc.scripts.stats();
        let (starts, waiting, running) = self.svc.scripts.load();
        let (clients, in_flight) = self.svc.hub.load();
        let text = self.metrics.render(&Gauges {
            uptime_s: self.svc.started.elapsed().as_secs(),
            script_runs: runs,
            script_exchanges: exchanges,
            script_worker_starts: starts,
            script_jobs_waiting: waiting,
            script_jobs_running: running,
            websocket_clients: clients,
            websocket_messages_in_flight: in_flight,
        });
        Response::new(200)
            .with_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            .with_header("Cache-Control", "no-store")
            .with_body(text.into_bytes())
    }

    /// The site a custom domain (`www.example.com`) was given to.
    fn custom_domain(&self, req: &Request) -> Option<String> {
        self.site_of_custom_domain(&router::normalise_host(req.header("host")?)?)
    }

    fn site_of_custom_domain(&self, host: &str) -> Option<String> {
        self.svc.domains.site_for(host, || {
            let conn = self.svc.conn().ok()?;
            store::hosting::domains(&conn)
                .ok()
                .map(|rows| rows.into_iter().collect())
        })
    }

    /// True when the site asked for pretty URLs (its `CC_PRETTY_URLS` env var is on).
    fn pretty_urls(&self, site: &str) -> bool {
        self.svc
            .pretty_urls
            .get(|| {
                let conn = self.svc.conn().ok()?;
                let sites = store::sites::sites_with_flag(&conn, PRETTY_URLS_VAR).ok()?;
                Some(sites.into_iter().collect())
            })
            .contains(site)
    }

    /// Every protected site's users, for `protect`.
    fn site_users(&self) -> Option<protect::Users> {
        let conn = self.svc.conn().ok()?;
        let mut users = protect::Users::new();
        for (site, user, phc) in store::hosting::all_site_users(&conn).ok()? {
            users.entry(site).or_default().push((user, phc));
        }
        Some(users)
    }

    /// Answers a request and counts it for `/metrics` (a main.js run once it is answered).
    pub fn handle(&self, req: &mut Request) -> Response {
        let (kind, mut response) = self.route(req);
        if req.secure && self.svc.https.as_ref().is_some_and(|h| h.hsts()) {
            response = when_answered_map(response, strict_transport_security);
        }
        let kind = match (kind, &response.deferred) {
            (Kind::Static, Some(_)) => Kind::Script,
            (kind, _) => kind,
        };
        let metrics = self.metrics.clone();
        when_answered(response, move |r| metrics.count(kind, r.status))
    }

    /// Whether a TLS client asking for `name` reaches something here: the dashboard, an
    /// existing site, or a site's custom domain. Only such names get certificates.
    pub fn serves_name(&self, name: &str) -> Option<NameKind> {
        match router::route(Some(name), &self.domain) {
            Route::Dashboard => Some(NameKind::Own),
            Route::Site(site) => self.sites.exists(&site).then_some(NameKind::Own),
            Route::Unknown => self
                .site_of_custom_domain(name)
                .filter(|site| self.sites.exists(site))
                .map(|_| NameKind::Custom),
        }
    }

    /// Plain HTTP with `--https acme`: ACME's HTTP-01 challenges are answered, and requests
    /// for a name served here are sent to HTTPS (same host, path and query). Others go on to
    /// the usual answers (a `404` for an unknown host: a `308` naming any host a client sends
    /// could be cached by a shared cache and point others elsewhere).
    fn plain_http(&self, https: &Https, req: &Request) -> Option<Response> {
        if !https.hsts() {
            return None;
        }
        if let Some(token) = req.raw_path().strip_prefix(ACME_CHALLENGE) {
            return Some(match https.challenge(token) {
                Some(answer) => Response::text(200, answer),
                None => Response::text(404, "404 Not Found: no such ACME challenge"),
            });
        }
        if self.svc.is_https(req) {
            return None;
        }
        let host = self.svc.host_of(req);
        // An address has no certificate from an ACME CA: nothing to send it to.
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if bare.parse::<std::net::IpAddr>().is_ok() {
            return None;
        }
        self.serves_name(&host)?;
        let port = match self.svc.https_port {
            443 => String::new(),
            p => format!(":{p}"),
        };
        let target = if req.url.starts_with('/') {
            req.url.as_str()
        } else {
            "/"
        };
        Some(
            Response::text(
                308,
                "308 Permanent Redirect: this server answers over HTTPS\n",
            )
            .with_header("Location", format!("https://{host}{port}{target}")),
        )
    }

    /// The answer, and what the request reached (a main.js run answers later: `Script`).
    fn route(&self, req: &mut Request) -> (Kind, Response) {
        if !req.secure
            && let Some(https) = &self.svc.https
            && let Some(answer) = self.plain_http(https, req)
        {
            return (Kind::Https, answer);
        }
        if req.header(SCRIPT_FETCH_HEADER).is_some() {
            return (
                Kind::Unknown,
                Response::text(
                    508,
                    "508 Loop Detected: a main.js fetch() may not call this cc-server (its dashboard or its sites)",
                ),
            );
        }
        let route = match router::route(req.header("host"), &self.domain) {
            Route::Unknown => self.custom_domain(req).map_or(Route::Unknown, Route::Site),
            route => route,
        };
        let mut protected = false;
        if let Route::Site(name) = &route {
            match self.svc.protection.check(
                name,
                req,
                self.svc.client_ip(req),
                &self.svc.limiter,
                || self.site_users(),
            ) {
                Verdict::Answer(denied) => return (Kind::Static, denied),
                Verdict::Pass { protected: p } => protected = p,
            }
            if protected {
                // The site's password is the admin's: its main.js never sees it.
                req.headers.retain(|(name, _)| name != "authorization");
            }
        }
        let (kind, response) = self.route_to(route, req);
        if protected {
            // Answers behind a password are for this browser only, never a shared cache.
            return (kind, when_answered_map(response, private));
        }
        (kind, response)
    }

    fn route_to(&self, route: Route, req: &mut Request) -> (Kind, Response) {
        match route {
            Route::Dashboard if req.raw_path() == "/health" => (Kind::Dashboard, self.health()),
            Route::Dashboard if req.raw_path() == "/metrics" => {
                (Kind::Dashboard, self.metrics(req))
            }
            Route::Dashboard if is_api(req.raw_path()) => (Kind::Api, self.api.handle(req)),
            Route::Dashboard => (Kind::Dashboard, self.dashboard.handle(req)),
            Route::Site(name)
                if req.raw_path() == "/ws"
                    && ws::wants_upgrade(req)
                    && self.sites.exists(&name) =>
            {
                (Kind::WebSocket, self.websocket(&name, req))
            }
            Route::Site(name) => {
                // Behind the trusted proxy, the visitor's own address is what scripts and
                // analytics see.
                req.remote_ip = self.svc.client_ip(req);
                let pretty = self.pretty_urls(&name);
                let Some(response) =
                    self.sites
                        .handle(&name, req, self.svc.scripts.as_ref(), pretty)
                else {
                    // Unknown names are not recorded: random subdomains must not fill `events`.
                    return (Kind::Unknown, site::site_not_found());
                };
                let path = req.raw_path().to_string();
                let mut visit =
                    Visit::now(req, req.remote_ip, "hosting", name, path, response.status);
                let svc = self.svc.clone();
                // A deferred answer is a main.js run's; it is recorded once it is known.
                (
                    Kind::Static,
                    when_answered(response, move |r| {
                        visit.status = r.status;
                        svc.recorder.record(visit);
                    }),
                )
            }
            Route::Unknown => (Kind::Unknown, site::site_not_found()),
        }
    }
}

/// Browsers that saw a publicly trusted certificate come back over HTTPS only, for a year
/// (this host only: a name under it may be served by someone else).
fn strict_transport_security(r: Response) -> Response {
    if r.header("strict-transport-security").is_some() {
        return r;
    }
    r.with_header("Strict-Transport-Security", "max-age=31536000")
}

/// An answer of a password-protected site: `Cache-Control: public` becomes `private`, and
/// caches are told the answer depends on the credentials.
fn private(mut r: Response) -> Response {
    if let Some(cc) = r
        .header("cache-control")
        .map(|v| v.replace("public", "private"))
    {
        r.set_header("Cache-Control", cc);
    }
    r.with_header("Vary", "Authorization")
}

/// `f` applied to the answer: now, or when a deferred one (a main.js run) is ready.
fn when_answered_map(response: Response, f: fn(Response) -> Response) -> Response {
    match response.deferred {
        None => f(response),
        Some(later) => Response::later(later.map(f)),
    }
}

/// Calls `f` with the answer once it is known: now, or when a deferred one (a main.js run)
/// is ready.
fn when_answered(response: Response, f: impl FnOnce(&Response) + Send + 'static) -> Response {
    match response.deferred {
        None => {
            f(&response);
            response
        }
        Some(later) => Response::later(later.map(move |response| {
            f(&response);
            response
        })),
    }
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

impl site::Scripts for ScriptPool {
    fn run(&self, site: &str, root: &Path, req: &mut Request) -> Response {
        ScriptPool::run(self, site, root, req)
    }
}

impl SocketHub for Hub {
    fn broadcast(&self, site: &str, messages: Vec<String>) {
        Hub::broadcast(self, site, messages);
    }

    fn clients(&self, site: &str) -> usize {
        Hub::clients(self, site)
    }
}

/// The site env var listing the other origins whose pages may open the site's WebSocket.
pub const WS_ORIGINS_VAR: &str = "CC_WS_ORIGINS";

/// What happens to a client's events: the site's `socket.on("open" | "message" | "close")`
/// handlers when it has a main.js; without one (or without a message handler), a message is
/// relayed to every client of the site, and opening and closing do nothing.
pub fn on_ws_message(scripts: Arc<ScriptPool>, sites_dir: PathBuf) -> ws::OnMessage {
    Box::new(move |hub: &Hub, event: &ws::Event, handled| {
        let root = sites_dir.join(&event.site);
        if root.join("main.js").is_file() {
            // Relays the message itself when the script registers no handler.
            scripts.run_event(&root, event, handled);
        } else {
            if event.kind == "message" {
                hub.broadcast(&event.site, vec![event.text.clone()]);
            }
            handled();
        }
    })
}
