//! Helpers for tests that act as the admin, shared by the dashboard, links, webhooks and
//! browser tests: a server with a known password, a logged-in session (cookie, CSRF token,
//! Origin), form encoding, the audit log and the analytics writer's progress.

use crate::harness::{HttpResponse, Server};

pub const PASSWORD: &str = "correct horse battery";

/// A server whose admin password comes from CC_ADMIN_PASSWORD.
pub fn server() -> Server {
    Server::builder().env("CC_ADMIN_PASSWORD", PASSWORD).start()
}

/// A logged-in browser, as far as HTTP goes: the cookie, the CSRF token, the right Origin.
pub struct Admin<'a> {
    pub server: &'a Server,
    pub cookie: String,
    pub csrf: String,
}

pub fn host(s: &Server) -> String {
    format!("localhost:{}", s.port)
}

pub fn origin(s: &Server) -> String {
    format!("http://localhost:{}", s.port)
}

pub fn encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let enc = |x: &str| {
                x.bytes()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                            (b as char).to_string()
                        } else {
                            format!("%{b:02X}")
                        }
                    })
                    .collect::<String>()
            };
            format!("{}={}", enc(k), enc(v))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// POSTs a form as a browser on `origin` would.
pub fn post_as(
    s: &Server,
    path: &str,
    origin: Option<&str>,
    cookie: Option<&str>,
    form: &str,
) -> HttpResponse {
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    if let Some(o) = origin {
        headers.push(("Origin", o));
    }
    if let Some(c) = cookie {
        headers.push(("Cookie", c));
    }
    s.send("POST", &host(s), path, &headers, form.as_bytes())
}

pub fn login(s: &Server) -> Admin<'_> {
    let r = post_as(
        s,
        "/login",
        Some(&origin(s)),
        None,
        &encode(&[("password", PASSWORD)]),
    );
    assert_eq!(r.status, 303, "login: {}", r.text());
    let set = r
        .header("set-cookie")
        .expect("a session cookie")
        .to_string();
    let cookie = set.split(';').next().unwrap().to_string();
    let page = s.request("GET", &host(s), "/keys", &[("Cookie", &cookie)]);
    assert_eq!(page.status, 200);
    Admin {
        server: s,
        csrf: csrf_of(&page.text()),
        cookie,
    }
}

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[at..at + 64].to_string()
}

impl Admin<'_> {
    pub fn get(&self, path: &str) -> HttpResponse {
        self.server
            .request("GET", &host(self.server), path, &[("Cookie", &self.cookie)])
    }

    /// A dashboard form POST with the CSRF field and the right Origin.
    pub fn post(&self, path: &str, pairs: &[(&str, &str)]) -> HttpResponse {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(pairs);
        post_as(
            self.server,
            path,
            Some(&origin(self.server)),
            Some(&self.cookie),
            &encode(&all),
        )
    }

    /// A JSON API call with the session cookie, the CSRF header and the right Origin.
    pub fn api(&self, method: &str, path: &str, json: &str) -> HttpResponse {
        let o = origin(self.server);
        self.server.send(
            method,
            &host(self.server),
            path,
            &[
                ("Cookie", &self.cookie),
                ("X-CSRF-Token", &self.csrf),
                ("Origin", &o),
                ("Content-Type", "application/json"),
            ],
            json.as_bytes(),
        )
    }
}

pub fn audit_actions(s: &Server) -> Vec<String> {
    let db = s.db();
    let mut stmt = db
        .prepare("SELECT action FROM audit_log ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Waits until the analytics writer has stored `n` events.
pub fn wait_for_events(s: &Server, n: i64) {
    for _ in 0..100 {
        let have: i64 = s.count("SELECT count(*) FROM events");
        if have >= n {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the analytics writer did not store {n} events");
}
