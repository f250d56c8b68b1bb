//! Login, first-start setup and logout: the only dashboard pages that work without a session.
//! Every attempt passes the same-origin check and the per-address failed-login limit.

use super::html::bare_page;
use super::{Dashboard, MAX_FORM, database_error, error_page, notice_text, pages, redirect};
use crate::auth;
use crate::http::{Request, Response, form_value, parse_form};
use crate::services::Caller;
use crate::store;

impl Dashboard {
    pub(super) fn login_page(&self, req: &Request) -> Response {
        let has_password = self
            .svc
            .conn()
            .ok()
            .and_then(|c| store::auth::password_hash(&c).ok())
            .flatten()
            .is_some();
        let notice = req
            .query_pairs()
            .into_iter()
            .find(|(k, _)| k == "done")
            .and_then(|(_, v)| notice_text(&v));
        Response::html(
            200,
            bare_page("Log in", notice, None, &pages::login_form(has_password)),
        )
    }

    pub(super) fn login(&self, req: &mut Request) -> Response {
        let ip = self.svc.client_ip(req);
        if !auth::same_origin(
            req.header("host"),
            req.header("origin"),
            req.header("referer"),
        ) {
            return login_error(
                403,
                "This login form was not sent from the dashboard's own page.",
            );
        }
        // Every attempt counts until it succeeds: checking and counting in one step means
        // parallel guesses cannot all slip past the check.
        if let Err(wait) = self.svc.limiter.attempt(ip) {
            return login_error(
                429,
                &format!(
                    "Too many failed logins from your address. Try again in {} minutes.",
                    wait.as_secs().div_ceil(60)
                ),
            )
            .with_header("Retry-After", wait.as_secs().max(1).to_string());
        }
        let form = match req.read_small_body(MAX_FORM) {
            Ok(b) => parse_form(&String::from_utf8_lossy(&b)),
            Err(_) => return login_error(413, "The form is too large."),
        };
        let password = form_value(&form, "password").unwrap_or("");
        let conn = match self.svc.conn() {
            Ok(c) => c,
            Err(e) => return database_error(&e),
        };
        let stored = store::auth::password_hash(&conn).ok().flatten();
        let ok = stored
            .as_deref()
            .is_some_and(|h| auth::verify_password(password, h));
        if !ok {
            self.svc.audit(&conn, "-", "login.failed", None, req);
            return login_error(401, "Wrong password.");
        }
        self.svc.limiter.succeeded(ip);
        self.svc.audit(&conn, "admin", "login", None, req);
        self.start_session(&conn, req, "/analytics")
    }

    pub(super) fn start_session(
        &self,
        conn: &rusqlite::Connection,
        req: &Request,
        to: &str,
    ) -> Response {
        let ip = self.svc.client_ip(req).to_string();
        match auth::start_session(conn, &ip, req.header("user-agent").unwrap_or("")) {
            Ok(s) => redirect(to).with_header(
                "Set-Cookie",
                auth::session_cookie(&s.cookie_value, self.svc.is_https(req)),
            ),
            Err(e) => error_page(500, &format!("could not start a session: {e}")),
        }
    }

    pub(super) fn setup_page(&self, req: &Request) -> Response {
        let token = req
            .query_pairs()
            .into_iter()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v)
            .unwrap_or_default();
        let valid = self
            .svc
            .conn()
            .is_ok_and(|c| auth::setup_token_valid(&c, &token));
        if !valid {
            return setup_link_invalid(
                "<p>If no password is set yet, restart the server for a new link, or run <code>cc-server passwd</code> on the server. Otherwise <a href=\"/login\">log in</a>.</p>",
            );
        }
        Response::html(
            200,
            bare_page("Welcome", None, None, &pages::setup_form(&token)),
        )
    }

    pub(super) fn setup(&self, req: &mut Request) -> Response {
        if !auth::same_origin(
            req.header("host"),
            req.header("origin"),
            req.header("referer"),
        ) {
            return login_error(403, "This form was not sent from the dashboard's own page.");
        }
        let ip = self.svc.client_ip(req);
        if self.svc.limiter.attempt(ip).is_err() {
            return login_error(
                429,
                "Too many failed attempts from your address. Try again later.",
            );
        }
        let form = match req.read_small_body(MAX_FORM) {
            Ok(b) => parse_form(&String::from_utf8_lossy(&b)),
            Err(_) => return login_error(413, "The form is too large."),
        };
        let token = form_value(&form, "token").unwrap_or("");
        let password = form_value(&form, "password").unwrap_or("");
        let mut conn = match self.svc.conn() {
            Ok(c) => c,
            Err(e) => return database_error(&e),
        };
        if !auth::setup_token_valid(&conn, token) {
            return setup_link_invalid("");
        }
        let error = if Some(password) != form_value(&form, "confirm") {
            Some("The two passwords differ.".to_string())
        } else {
            auth::set_password(&mut conn, password).err()
        };
        if let Some(e) = error {
            return Response::html(
                400,
                bare_page("Welcome", None, Some(&e), &pages::setup_form(token)),
            );
        }
        self.svc.audit(&conn, "admin", "setup", None, req);
        eprintln!("dashboard: the admin password was set through the setup link");
        self.svc.limiter.succeeded(ip);
        self.start_session(&conn, req, "/analytics")
    }

    pub(super) fn logout(&self, req: &mut Request) -> Response {
        let secure = self.svc.is_https(req);
        let Ok(conn) = self.svc.conn() else {
            return error_page(500, "the database cannot be opened");
        };
        if let Some(session) = auth::session(&conn, req.header("cookie"), self.svc.is_https(req)) {
            let form = match req.read_small_body(MAX_FORM) {
                Ok(b) => parse_form(&String::from_utf8_lossy(&b)),
                Err(_) => Vec::new(),
            };
            let caller = Caller::admin(session);
            if let Err(e) = self.svc.check_csrf(req, &caller, form_value(&form, "csrf")) {
                return error_page(e.status(), &e.to_string());
            }
            if let Some(s) = &caller.session {
                let _ = auth::end_session(&conn, s);
            }
            self.svc.audit(&conn, "admin", "logout", None, req);
        }
        redirect("/login?done=logged-out").with_header("Set-Cookie", auth::clear_cookie(secure))
    }
}

fn login_error(status: u16, message: &str) -> Response {
    Response::html(
        status,
        bare_page("Log in", None, Some(message), &pages::login_form(true)),
    )
}

/// 404 for a setup token that is wrong, used up, or from an earlier start.
fn setup_link_invalid(body: &str) -> Response {
    Response::html(
        404,
        bare_page(
            "Setup link not valid",
            None,
            Some("This setup link was already used or is from an earlier start of the server."),
            body,
        ),
    )
}
