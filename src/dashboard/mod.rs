//! The dashboard host (`<domain>`, `localhost`, IP literals): login and first-start setup, then
//! Analytics, Hosting, Deploy keys, Tracking, Links, Webhooks, the Audit log and Settings as
//! server-rendered pages with a little JS; also the public `/t.js`, `/track`, `/pixel.gif`,
//! `/r/<slug>`, `/webhook/<endpoint>` and `/ca.crt` (the private CA of `--https internal`).
//! Every asset is embedded; every POST passes the same-origin and CSRF checks (the Hosting
//! page's browser deploy, `deploy.rs`, sends its token in a header, checked before the upload
//! is read).

#[cfg(test)]
mod analytics_bench;
mod deploy;
mod forms;
mod html;
mod login;
mod pages;

pub mod chart;

use std::sync::Arc;

use crate::auth;
use crate::error::ApiError;
use crate::http::{Request, Response, form_value, parse_form};
use crate::overview;
use crate::public::links;
use crate::public::pixel;
use crate::public::tracking;
use crate::public::webhooks;
use crate::services::{Caller, Services};
use crate::store;
use html::{Chrome, bare_page, page};

const APP_CSS: &str = include_str!("assets/app.css");
const APP_JS: &str = include_str!("assets/app.js");
const ICON_SVG: &str = include_str!("assets/icon.svg");
/// Largest form body a dashboard POST reads (env var values are the biggest field).
const MAX_FORM: usize = 64 * 1024;
/// Where the Hosting page's deploy card sends a folder or a zip (`deploy.rs`).
const DEPLOY_PATH: &str = "/sites/deploy";

/// Scripts and styles only from the dashboard itself; no frames; forms post only here.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub struct Dashboard {
    pub svc: Arc<Services>,
}

/// A signed-in admin and what pages need of the session.
struct Admin {
    caller: Caller,
    csrf: String,
}

impl Dashboard {
    pub fn handle(&self, req: &mut Request) -> Response {
        let r = self.route(req);
        secure_headers(r)
    }

    fn route(&self, req: &mut Request) -> Response {
        let path = req.raw_path().to_string();
        let method = req.method.clone();
        let get = method == "GET" || method == "HEAD";
        match (get, method.as_str(), path.as_str()) {
            (true, _, "/assets/app.css") => asset("text/css; charset=utf-8", APP_CSS),
            (true, _, "/assets/app.js") => asset("application/javascript; charset=utf-8", APP_JS),
            (true, _, "/assets/icon.svg") => asset("image/svg+xml", ICON_SVG),
            (true, _, "/t.js") => tracking::snippet(),
            // Public, no session: e-mail opens and short-link clicks from anyone.
            (true, _, "/pixel.gif") => pixel::pixel(&self.svc, req),
            (true, _, p) if p.starts_with("/r/") => links::redirect(&self.svc, req, &p[3..]),
            // Public, no session: a device fetches the private CA before it trusts our HTTPS.
            (true, _, "/ca.crt") => self.ca_cert(),
            // Public endpoints for other sites and services: no session, their own checks.
            (_, "POST" | "OPTIONS", "/track") => tracking::track(&self.svc, req),
            (_, _, "/track") => method_not_allowed("POST, OPTIONS"),
            (_, "POST", p) if p.starts_with("/webhook/") => {
                webhooks::receive(&self.svc, req, &p["/webhook/".len()..])
            }
            (_, _, p) if p.starts_with("/webhook/") => method_not_allowed("POST"),
            (true, _, "/login") => self.login_page(req),
            (_, "POST", "/login") => self.login(req),
            (true, _, "/setup") => self.setup_page(req),
            (_, "POST", "/setup") => self.setup(req),
            (_, "POST", "/logout") => self.logout(req),
            _ => self.signed_in(req, get, &path),
        }
    }

    /// Pages that need a session: without one, GETs go to the login page.
    fn signed_in(&self, req: &mut Request, get: bool, path: &str) -> Response {
        let conn = match self.svc.conn() {
            Ok(c) => c,
            Err(e) => return database_error(&e),
        };
        let session = auth::session(&conn, req.header("cookie"), self.svc.is_https(req));
        let Some(session) = session else {
            return if get {
                redirect("/login")
            } else if path == DEPLOY_PATH {
                // The browser deploy reads JSON, not a page.
                Response::json_error(
                    401,
                    "your session has ended: log in again, then repeat the deploy",
                )
            } else {
                error_page(
                    401,
                    "Your session has ended. Log in again, then repeat the action.",
                )
            };
        };
        let admin = Admin {
            csrf: session.csrf_token.clone(),
            caller: Caller::admin(session),
        };
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        if get {
            return match segments.as_slice() {
                [""] => redirect("/analytics"),
                ["analytics"] => self.analytics(req, &admin),
                ["sites"] => self.sites(req, &admin),
                ["sites", name] => self.site(req, &admin, name),
                ["keys"] => self.keys(req, &admin, None),
                ["tracking"] => self.tracking(req, &admin),
                ["links"] => self.links(req, &admin),
                ["webhooks"] => self.webhooks(req, &admin, None),
                ["audit"] => self.audit(req, &admin),
                ["settings"] => self.settings(req, &admin),
                _ => self.not_found(&admin),
            };
        }
        if req.method != "POST" {
            return Response::text(405, "405 Method Not Allowed").with_header("Allow", "GET, POST");
        }
        // An upload, not a small form: its CSRF token comes in a header, checked before the
        // body is read.
        if path == DEPLOY_PATH {
            return self.deploy_upload(req, &admin);
        }
        let form = match req.read_small_body(MAX_FORM) {
            Ok(b) => parse_form(&String::from_utf8_lossy(&b)),
            Err(_) => return error_page(413, "The form is too large."),
        };
        if let Err(e) = self
            .svc
            .check_csrf(req, &admin.caller, form_value(&form, "csrf"))
        {
            return self.failed(&admin, e);
        }
        let result = match segments.as_slice() {
            ["sites", name, "rollback"] => self.rollback(req, &admin, name),
            ["sites", name, "teardown"] => self.teardown(req, &admin, name, &form),
            ["sites", name, "env"] => self.set_env(req, &admin, name, &form),
            ["sites", name, "env", "delete"] => self.delete_env(req, &admin, name, &form),
            ["sites", name, "protect"] => self.protect(req, &admin, name, &form),
            ["sites", name, "unprotect"] => self.unprotect(req, &admin, name),
            ["sites", name, "domains"] => self.add_site_domain(req, &admin, name, &form),
            ["sites", name, "domains", "delete"] => {
                self.remove_site_domain(req, &admin, name, &form)
            }
            ["keys"] => return self.create_key(req, &admin, &form),
            ["keys", id, "revoke"] => self.revoke_key(req, &admin, id),
            ["tracking"] => self.add_domain(req, &admin, &form),
            ["tracking", "delete"] => self.remove_domain(req, &admin, &form),
            ["links"] => self.create_link(req, &admin, &form),
            ["links", slug] => self.update_link(req, &admin, slug, &form),
            ["links", slug, "delete"] => self.delete_link(req, &admin, slug),
            ["webhooks"] => return self.create_webhook(req, &admin, &form),
            ["webhooks", endpoint, "delete"] => self.delete_webhook(req, &admin, endpoint),
            _ => return self.not_found(&admin),
        };
        match result {
            Ok(location) => redirect(&location),
            Err(e) => self.failed(&admin, e),
        }
    }

    fn chrome<'a>(
        &self,
        admin: &'a Admin,
        title: &'a str,
        active: &'a str,
        req: &Request,
    ) -> (Chrome<'a>, Option<String>) {
        let notice = req
            .query_pairs()
            .into_iter()
            .find(|(k, _)| k == "done")
            .and_then(|(_, v)| notice_text(&v));
        (
            Chrome {
                title,
                active,
                csrf: &admin.csrf,
                notice: None,
                error: None,
            },
            notice.map(str::to_string),
        )
    }

    fn render(
        &self,
        admin: &Admin,
        title: &str,
        active: &str,
        req: &Request,
        body: &str,
    ) -> Response {
        let (mut chrome, notice) = self.chrome(admin, title, active, req);
        chrome.notice = notice.as_deref();
        Response::html(200, page(&chrome, body))
    }

    /// An action that failed: its status and message on a page with the navigation.
    fn failed(&self, admin: &Admin, e: ApiError) -> Response {
        let status = e.status();
        if status == 500 {
            eprintln!("dashboard: {e}");
        }
        let chrome = Chrome {
            title: "That did not work",
            active: "",
            csrf: &admin.csrf,
            notice: None,
            error: Some(&e.to_string()),
        };
        Response::html(
            status,
            page(
                &chrome,
                "<p><a href=\"/analytics\" data-back>Go back</a> and try again.</p>",
            ),
        )
    }

    fn not_found(&self, admin: &Admin) -> Response {
        let chrome = Chrome {
            title: "Not found",
            active: "",
            csrf: &admin.csrf,
            notice: None,
            error: None,
        };
        Response::html(
            404,
            page(
                &chrome,
                "<p>There is no such page. <a href=\"/analytics\">Back to the dashboard</a>.</p>",
            ),
        )
    }

    // ----- pages -----

    fn analytics(&self, req: &Request, admin: &Admin) -> Response {
        let filter = overview::stats_filter(&req.query_pairs());
        let result = self.svc.conn().and_then(|conn| {
            let summary = overview::stats(&conn, &filter)?;
            let domains = store::stats::domains(&conn)?;
            let sources = store::stats::source_types(&conn)?;
            Ok((summary, domains, sources))
        });
        match result {
            Ok((summary, domains, sources)) => {
                let body = pages::analytics_page(&pages::AnalyticsView {
                    filter: &filter,
                    summary: &summary,
                    domains: &domains,
                    sources: &sources,
                });
                self.render(admin, "Analytics", "/analytics", req, &body)
            }
            Err(e) => self.failed(admin, e),
        }
    }

    fn sites(&self, req: &Request, admin: &Admin) -> Response {
        let result = self
            .svc
            .conn()
            .and_then(|conn| overview::sites(&self.svc, &conn));
        match result {
            Ok(sites) => {
                let dir = self.svc.sites.live_dir("x");
                let dir = dir
                    .parent()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                let names: Vec<String> = sites.iter().map(|s| s.name.clone()).collect();
                // The deploy card's script swaps `#sites-list` for a fresh one after a deploy.
                let body = format!(
                    "<div id=\"sites-list\">{}</div>{}",
                    pages::sites_list(&sites, &dir),
                    pages::deploy_card(&names, &admin.csrf, self.svc.sites.limits.max_upload)
                );
                self.render(admin, "Hosting", "/sites", req, &body)
            }
            Err(e) => self.failed(admin, e),
        }
    }

    fn site(&self, req: &Request, admin: &Admin, name: &str) -> Response {
        let result = self
            .svc
            .check_site(&admin.caller, name)
            .and_then(|_| self.svc.conn())
            .and_then(|conn| overview::site(&self.svc, &conn, name));
        match result {
            Ok(detail) => {
                let body = pages::site_page(&detail, &admin.csrf, self.svc.port);
                let (mut chrome, notice) = self.chrome(admin, name, "/sites", req);
                chrome.notice = notice.as_deref();
                Response::html(200, page(&chrome, &body))
            }
            Err(e) => self.failed(admin, e),
        }
    }

    fn keys(&self, req: &Request, admin: &Admin, new_token: Option<(&str, &str)>) -> Response {
        let result = self
            .svc
            .conn()
            .and_then(|conn| Ok((store::keys::list(&conn)?, self.svc.sites.names())));
        match result {
            Ok((keys, names)) => self.render(
                admin,
                "Deploy keys",
                "/keys",
                req,
                &pages::keys_page(&keys, &names, &admin.csrf, new_token),
            ),
            Err(e) => self.failed(admin, e),
        }
    }

    fn tracking(&self, req: &Request, admin: &Admin) -> Response {
        let src = self.svc.public_url(req, "/t.js");
        match self.svc.conn().and_then(|c| Ok(store::tracking::list(&c)?)) {
            Ok(domains) => self.render(
                admin,
                "Tracking",
                "/tracking",
                req,
                &pages::tracking_page(&domains, &src, &admin.csrf),
            ),
            Err(e) => self.failed(admin, e),
        }
    }

    fn links(&self, req: &Request, admin: &Admin) -> Response {
        match self.svc.conn().and_then(|c| Ok(store::links::list(&c)?)) {
            Ok(rows) => {
                let base = links::short_url(&self.svc, req, "");
                self.render(
                    admin,
                    "Links",
                    "/links",
                    req,
                    &pages::links_page(&rows, &base, &admin.csrf),
                )
            }
            Err(e) => self.failed(admin, e),
        }
    }

    /// The Webhooks page; `new_secret` (endpoint, secret) is shown once, right after creation.
    fn webhooks(&self, req: &Request, admin: &Admin, new_secret: Option<(&str, &str)>) -> Response {
        let result = self.svc.conn().and_then(|conn| {
            let mut hooks = Vec::new();
            for h in store::webhooks::list(&conn)? {
                let recent = store::webhooks::recent_payloads(&conn, &h.endpoint, 20)?;
                let url = webhooks::endpoint_url(&self.svc, req, &h.endpoint);
                hooks.push(pages::HookView {
                    endpoint: h,
                    url,
                    recent,
                });
            }
            Ok(hooks)
        });
        match result {
            Ok(hooks) => self.render(
                admin,
                "Webhooks",
                "/webhooks",
                req,
                &pages::webhooks_page(&hooks, &admin.csrf, new_secret),
            ),
            Err(e) => self.failed(admin, e),
        }
    }

    fn audit(&self, req: &Request, admin: &Admin) -> Response {
        match self
            .svc
            .conn()
            .and_then(|c| Ok(store::audit::recent(&c, 200)?))
        {
            Ok(rows) => self.render(admin, "Audit log", "/audit", req, &pages::audit_page(&rows)),
            Err(e) => self.failed(admin, e),
        }
    }

    /// Settings: HTTPS (off, or its mode, port, certificates and the private CA).
    fn settings(&self, req: &Request, admin: &Admin) -> Response {
        let Some(https) = &self.svc.https else {
            let body = pages::settings_page(None);
            return self.render(admin, "Settings", "/settings", req, &body);
        };
        let certs = match self
            .svc
            .conn()
            .and_then(|c| Ok(store::tls::certificates(&c)?))
        {
            Ok(certs) => certs
                .into_iter()
                .map(pages::CertRow::from)
                .collect::<Vec<_>>(),
            Err(e) => return self.failed(admin, e),
        };
        let pending = https.pending_errors();
        let ca = https.ca();
        // The host the browser used, without its port: the CA over plain HTTP (a device
        // cannot trust our HTTPS before it has the CA), the dashboard over HTTPS.
        let host = self.svc.host_of(req);
        let port = |p: u16, default: u16| {
            if p == default {
                String::new()
            } else {
                format!(":{p}")
            }
        };
        let ca_url = format!("http://{host}{}/ca.crt", port(self.svc.port, 80));
        let dashboard_url = format!("https://{host}{}/", port(self.svc.https_port, 443));
        let body = pages::settings_page(Some(&pages::HttpsView {
            mode: https.mode(),
            port: self.svc.https_port,
            certs: &certs,
            pending: &pending,
            ca_fingerprint: ca.as_ref().map(|(_, fp)| fp.as_str()),
            ca_url: &ca_url,
            dashboard_url: &dashboard_url,
            now: crate::tls::unix_now(),
        }));
        self.render(admin, "Settings", "/settings", req, &body)
    }

    /// `GET /ca.crt`: the private CA's certificate (PEM), for anyone; 404 without one.
    fn ca_cert(&self) -> Response {
        match self.svc.https.as_ref().and_then(|h| h.ca()) {
            Some((pem, _)) => Response::new(200)
                .with_header("Content-Type", "application/x-x509-ca-cert")
                .with_header(
                    "Content-Disposition",
                    "attachment; filename=\"cc-server-ca.crt\"",
                )
                .with_body(pem.as_bytes().to_vec()),
            None => Response::text(
                404,
                "404 Not Found: this server has no private CA to install. One is made by \
                 `cc-server serve --https internal`; with --https acme its certificates come \
                 from a public CA that devices already trust, and without --https it serves no \
                 HTTPS at all.\n",
            ),
        }
    }
}

fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "rolled-back" => "Rolled back: the previous deployment is live. Roll back again to return.",
        "torn-down" => "The site was torn down.",
        "env-saved" => "Saved. The next main.js request sees the new value.",
        "env-deleted" => "The variable was deleted.",
        "user-saved" => "Saved: the site asks for a password, and this user's works now.",
        "made-public" => "The site is public again: anyone with the link can open it.",
        "was-public" => "The site was already public.",
        "host-added" => "Added: once the name's DNS points here, the site answers at it.",
        "host-removed" => "The domain was removed: the site no longer answers at it.",
        "key-revoked" => "The key was revoked: it no longer works anywhere.",
        "domain-added" => "The domain may now send pageviews.",
        "domain-removed" => "The domain was removed; its past pageviews stay in Analytics.",
        "link-created" => "The short link works now.",
        "link-updated" => "The short link goes to its new target from the next click on.",
        "link-deleted" => "The short link was deleted; its past clicks stay in Analytics.",
        "webhook-created" => "The endpoint is ready: send POST requests to its URL.",
        "webhook-deleted" => "The endpoint was deleted; what it received stays in Analytics.",
        "logged-out" => "You are logged out.",
        _ => return None,
    })
}

fn method_not_allowed(allow: &'static str) -> Response {
    Response::json_error(405, &format!("use {allow} here")).with_header("Allow", allow)
}

fn redirect(to: &str) -> Response {
    Response::new(303).with_header("Location", to.to_string())
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    Response::new(200)
        .with_header("Content-Type", content_type)
        .with_header("Cache-Control", "public, max-age=300")
        .with_body(body.as_bytes().to_vec())
}

/// A 500 that keeps the database's own words in the server log, not on the page.
fn database_error(e: &ApiError) -> Response {
    eprintln!("dashboard: {e}");
    error_page(
        500,
        "The database is not available right now; the server log says why.",
    )
}

fn error_page(status: u16, message: &str) -> Response {
    let body = "<p><a href=\"/login\">Log in</a></p>";
    Response::html(status, bare_page("Dashboard", None, Some(message), body))
}

/// Headers every dashboard answer carries: no framing, no sniffing, no caching of pages that
/// show secrets, and a CSP that allows only the dashboard's own script and stylesheet. An
/// answer that sets its own Cache-Control or Referrer-Policy (short links) keeps it.
fn secure_headers(r: Response) -> Response {
    let cache = r.header("cache-control").is_none();
    let referrer = r.header("referrer-policy").is_none();
    let mut r = r
        .with_header("Content-Security-Policy", CSP)
        .with_header("X-Frame-Options", "DENY")
        .with_header("X-Content-Type-Options", "nosniff");
    if referrer {
        r = r.with_header("Referrer-Policy", "same-origin");
    }
    if cache {
        r = r.with_header("Cache-Control", "no-store");
    }
    r
}
