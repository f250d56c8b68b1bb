//! Command Center v0.2 parity over HTTP: `POST /track` (named events with tags from tracked
//! domains), `POST /webhook/<endpoint>` (open and signed endpoints), the Webhooks page and its
//! JSON API, and the Analytics source filter for webhook events.

use serde_json::Value;

use crate::admin::{Admin, audit_actions, login, server, wait_for_events};
use crate::harness::{HttpResponse, Server};

/// `X-Signature-256` for `body` under `secret`, by the server's own HMAC (unit-tested against
/// RFC 4231); the README's `openssl dgst -hmac` line computes the same.
fn sign(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        cc_server::secret::hex(&cc_server::public::webhooks::hmac_sha256(
            secret.as_bytes(),
            body
        ))
    )
}

fn post(s: &Server, path: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    s.send("POST", "localhost", path, headers, body)
}

/// How many events match `sql_where`.
fn count(s: &Server, sql_where: &str) -> i64 {
    s.count(&format!("SELECT count(*) FROM events WHERE {sql_where}"))
}

/// The events the writer stored, as (source, domain, path, event_type, tags, payload).
type Row = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

fn events(s: &Server) -> Vec<Row> {
    s.rows("SELECT source_type, domain, path, event_type, tags, payload FROM events ORDER BY id")
}

/// Creates an endpoint through the JSON API; returns its secret when signed.
fn create(admin: &Admin, endpoint: &str, signed: bool) -> Option<String> {
    let r = admin.api(
        "POST",
        "/api/webhooks",
        &format!(r#"{{"endpoint":"{endpoint}","signed":{signed}}}"#),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    v["secret"].as_str().map(str::to_string)
}

#[test]
fn track_records_one_web_event_with_its_name_and_tags() {
    let s = server();
    let admin = login(&s);
    admin.post("/tracking", &[("domain", "blog.example.com")]);
    let track = |origin: Option<&str>, body: &str| {
        let mut h = vec![("Content-Type", "application/json")];
        if let Some(o) = origin {
            h.push(("Origin", o));
        }
        post(&s, "/track", &h, body.as_bytes())
    };
    let good = r#"{"domain":"blog.example.com","path":"/pricing?email=me","referrer":"https://news.example/","event":"signup","tags":{"plan":"pro"}}"#;

    // A preflight from a tracked page is granted; from anywhere else it is not.
    let pre = s.send(
        "OPTIONS",
        "localhost",
        "/track",
        &[
            ("Origin", "https://blog.example.com"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        b"",
    );
    assert_eq!(pre.status, 204);
    assert_eq!(
        pre.header("access-control-allow-origin"),
        Some("https://blog.example.com")
    );
    assert!(
        pre.header("access-control-allow-headers")
            .unwrap()
            .contains("Content-Type")
    );
    let foreign = s.send(
        "OPTIONS",
        "localhost",
        "/track",
        &[("Origin", "https://evil.example")],
        b"",
    );
    assert_eq!(foreign.header("access-control-allow-origin"), None);

    let refused: Vec<(Option<&str>, String, u16)> = vec![
        // Not on the allow-list.
        (
            Some("https://other.example"),
            r#"{"domain":"other.example","event":"signup"}"#.into(),
            403,
        ),
        // The Origin names another domain than the event.
        (Some("https://evil.example"), good.into(), 403),
        (None, "{".into(), 400),
        (
            None,
            r#"{"domain":"blog.example.com","event":"sign up!"}"#.into(),
            400,
        ),
        (
            None,
            r#"{"domain":"blog.example.com","tags":{"n":1}}"#.into(),
            400,
        ),
        (None, r#"{"path":"/"}"#.into(), 400),
        (
            None,
            format!(
                r#"{{"domain":"blog.example.com","path":"/{}"}}"#,
                "a".repeat(5000)
            ),
            413,
        ),
    ];
    for (origin, body, want) in &refused {
        let r = track(*origin, body);
        assert_eq!(r.status, *want, "{body:.80}: {}", r.text());
        if *want == 403 && origin == &Some("https://other.example") {
            assert_eq!(r.header("access-control-allow-origin"), None);
        }
    }

    let ok = track(Some("https://blog.example.com"), good);
    assert_eq!(ok.status, 202, "{}", ok.text());
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://blog.example.com")
    );
    // Without an Origin (a server-side sender) the event counts too, as a plain pageview.
    assert_eq!(track(None, r#"{"domain":"blog.example.com"}"#).status, 202);
    assert_eq!(s.get("localhost", "/track").status, 405);

    wait_for_events(&s, 2);
    // The writer keeps arrival order: the refused requests came first, so had any of them
    // been queued it would be stored by now.
    assert_eq!(
        events(&s),
        vec![
            (
                "web".into(),
                "blog.example.com".into(),
                "/pricing".into(),
                "signup".into(),
                Some(r#"{"plan":"pro"}"#.into()),
                None
            ),
            (
                "web".into(),
                "blog.example.com".into(),
                "/".into(),
                "pageview".into(),
                None,
                None
            ),
        ]
    );
    // /api/event is unchanged beside it.
    assert_eq!(
        post(
            &s,
            "/api/event",
            &[("Origin", "https://blog.example.com")],
            br#"{"url":"https://blog.example.com/x"}"#
        )
        .status,
        202
    );
}

#[test]
fn an_open_endpoint_stores_each_body_as_one_webhook_event() {
    let s = server();
    let admin = login(&s);
    assert_eq!(create(&admin, "cron", false), None);

    assert_eq!(post(&s, "/webhook/nope", &[], b"{}").status, 404);
    assert_eq!(post(&s, "/webhook/no.pe", &[], b"{}").status, 404);
    assert_eq!(
        post(&s, "/webhook/cron", &[], &vec![b'x'; 64 * 1024 + 1]).status,
        413
    );
    assert_eq!(post(&s, "/webhook/cron", &[], &[0xff, 0xfe]).status, 400);
    assert_eq!(
        post(&s, "/webhook/cron", &[("X-Event-Type", "no spaces")], b"{}").status,
        400
    );
    assert_eq!(s.get("localhost", "/webhook/cron").status, 405);

    let r = post(
        &s,
        "/webhook/cron",
        &[("Content-Type", "application/json")],
        br#"{"job":"backup","ok":true}"#,
    );
    assert_eq!((r.status, r.text().as_str()), (202, r#"{"ok":true}"#));
    let r = post(
        &s,
        "/webhook/cron",
        &[("X-GitHub-Event", "ping")],
        &vec![b'y'; 64 * 1024],
    );
    assert_eq!(r.status, 202, "exactly the limit is fine");
    wait_for_events(&s, 2);
    let rows = events(&s);
    assert_eq!(rows.len(), 2, "refused requests stored nothing");
    let hook = |kind: &str, body: String| -> Row {
        (
            "webhook".into(),
            "cron".into(),
            "/webhook/cron".into(),
            kind.into(),
            None,
            Some(body),
        )
    };
    assert_eq!(
        rows,
        vec![
            hook("webhook", r#"{"job":"backup","ok":true}"#.into()),
            hook("ping", "y".repeat(64 * 1024)),
        ]
    );
}

#[test]
fn a_signed_endpoint_takes_only_correctly_signed_bodies() {
    let s = server();
    let admin = login(&s);
    let secret = create(&admin, "github", true).expect("a secret");
    assert!(secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()));
    let body = br#"{"ref":"refs/heads/main"}"#;
    let good = sign(&secret, body);
    let other_key = sign("another secret", body);

    for headers in [
        vec![],
        vec![("X-Signature-256", "sha256=00")],
        vec![("X-Signature-256", good.trim_start_matches("sha256="))],
        vec![("X-Signature-256", other_key.as_str())],
        vec![("X-Hub-Signature-256", other_key.as_str())],
    ] {
        let r = post(&s, "/webhook/github", &headers, body);
        assert_eq!(r.status, 401, "{headers:?}: {}", r.text());
    }
    // The signature of another body does not carry over.
    let r = post(
        &s,
        "/webhook/github",
        &[("X-Signature-256", &good)],
        br#"{"ref":"refs/heads/evil"}"#,
    );
    assert_eq!(r.status, 401);

    let r = post(
        &s,
        "/webhook/github",
        &[("X-Signature-256", &good), ("X-Event-Type", "push")],
        body,
    );
    assert_eq!(r.status, 202, "{}", r.text());
    // GitHub's own header names work as they are.
    let r = post(
        &s,
        "/webhook/github",
        &[
            (
                "X-Hub-Signature-256",
                &good.to_ascii_uppercase().replace("SHA256=", "sha256="),
            ),
            ("X-GitHub-Event", "push"),
        ],
        body,
    );
    assert_eq!(r.status, 202, "{}", r.text());
    wait_for_events(&s, 2);
    // Arrival order is write order: the refused requests were earlier, so nothing of theirs
    // is still on its way.
    assert_eq!(count(&s, "1"), 2, "{:?}", events(&s));
    assert_eq!(
        count(
            &s,
            "source_type = 'webhook' AND domain = 'github' AND event_type = 'push' \
             AND payload = '{\"ref\":\"refs/heads/main\"}'"
        ),
        2
    );
}

#[test]
fn the_webhooks_page_shows_a_secret_once_and_payloads_escaped() {
    let s = server();
    let admin = login(&s);
    let nav = admin.get("/webhooks");
    assert_eq!(nav.status, 200);
    assert!(
        nav.text()
            .contains("<a href=\"/webhooks\" aria-current=\"page\">Webhooks</a>")
    );

    let created = admin.post("/webhooks", &[("endpoint", "stripe"), ("signed", "1")]);
    assert_eq!(created.status, 200, "{}", created.text());
    assert_eq!(created.header("cache-control"), Some("no-store"));
    let html = created.text();
    let marker = "id=\"secret\" readonly value=\"";
    let at = html.find(marker).expect("the secret") + marker.len();
    let secret = &html[at..at + 64];
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()), "{secret}");
    assert!(html.contains("data-copy=\"#secret\""));
    let later = admin.get("/webhooks").text();
    assert!(!later.contains(secret), "the secret is shown only once");
    assert!(
        !admin
            .api("GET", "/api/webhooks", "")
            .text()
            .contains(secret)
    );
    assert!(later.contains(&format!("http://localhost:{}/webhook/stripe", s.port)));

    let plain = admin.post("/webhooks", &[("endpoint", "form")]);
    assert_eq!(
        (plain.status, plain.header("location")),
        (303, Some("/webhooks?done=webhook-created"))
    );
    assert_eq!(admin.post("/webhooks", &[("endpoint", "form")]).status, 409);
    assert_eq!(admin.post("/webhooks", &[("endpoint", "a/b")]).status, 400);

    let body = b"<script>alert(1)</script>";
    let r = post(
        &s,
        "/webhook/stripe",
        &[("X-Signature-256", &sign(secret, body))],
        body,
    );
    assert_eq!(r.status, 202);
    assert_eq!(
        post(&s, "/webhook/form", &[], &vec![b'z'; 3000]).status,
        202
    );
    wait_for_events(&s, 2);
    let page = admin.get("/webhooks").text();
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>alert"));
    assert!(page.contains(&"z".repeat(2000)) && !page.contains(&"z".repeat(2001)));
    assert!(page.contains("3000 bytes in all"));

    let del = admin.post("/webhooks/stripe/delete", &[]);
    assert_eq!(
        (del.status, del.header("location")),
        (303, Some("/webhooks?done=webhook-deleted"))
    );
    assert_eq!(admin.post("/webhooks/stripe/delete", &[]).status, 404);
    assert_eq!(post(&s, "/webhook/stripe", &[], b"{}").status, 404);
    let actions = audit_actions(&s);
    for a in ["webhook.create", "webhook.delete"] {
        assert!(actions.contains(&a.to_string()), "{a} in {actions:?}");
    }
    assert!(admin.get("/audit").text().contains("webhook.delete"));
}

#[test]
fn the_webhooks_api_is_for_a_dashboard_session_only() {
    let s = server();
    let admin = login(&s);
    let token = s.create_key("ci", &["deploy:*", "read:stats"]);
    let bearer = format!("Bearer {token}");
    for (method, path) in [
        ("GET", "/api/webhooks"),
        ("POST", "/api/webhooks"),
        ("DELETE", "/api/webhooks/x"),
        ("GET", "/api/webhooks/x/events"),
    ] {
        let r = s.send(
            method,
            "localhost",
            path,
            &[("Authorization", &bearer)],
            br#"{"endpoint":"x"}"#,
        );
        assert_eq!(r.status, 403, "{method} {path}: {}", r.text());
    }
    assert_eq!(s.get("localhost", "/api/webhooks").status, 401);

    // A page on a site subdomain is same-site with the dashboard: its Origin stops it.
    let evil = format!("http://evil.localhost:{}", s.port);
    let r = s.send(
        "POST",
        &format!("localhost:{}", s.port),
        "/api/webhooks",
        &[
            ("Cookie", &admin.cookie),
            ("X-CSRF-Token", &admin.csrf),
            ("Origin", &evil),
        ],
        br#"{"endpoint":"stolen"}"#,
    );
    assert_eq!(r.status, 403);
    let form = crate::admin::encode(&[("csrf", &admin.csrf), ("endpoint", "stolen")]);
    let r = s.send(
        "POST",
        &format!("localhost:{}", s.port),
        "/webhooks",
        &[
            ("Cookie", &admin.cookie),
            ("Origin", &evil),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        form.as_bytes(),
    );
    assert_eq!(r.status, 403);
    let hooks: i64 = s.count("SELECT count(*) FROM webhooks");
    assert_eq!(hooks, 0, "nothing was created");

    assert_eq!(create(&admin, "deploys", false), None);
    let dup = admin.api("POST", "/api/webhooks", r#"{"endpoint":"deploys"}"#);
    assert_eq!(dup.status, 409);
    assert_eq!(
        admin
            .api("POST", "/api/webhooks", r#"{"endpoint":"bad name"}"#)
            .status,
        400
    );
    for i in 0..3 {
        let r = post(
            &s,
            "/webhook/deploys",
            &[("X-Event-Type", "deploy")],
            format!("{{\"n\":{i}}}").as_bytes(),
        );
        assert_eq!(r.status, 202);
    }
    wait_for_events(&s, 3);
    let list: Value = serde_json::from_slice(&admin.api("GET", "/api/webhooks", "").body).unwrap();
    assert_eq!(list["webhooks"][0]["endpoint"], "deploys");
    assert_eq!(list["webhooks"][0]["signed"], false);
    assert_eq!(list["webhooks"][0]["events"], 3);
    assert_eq!(
        list["webhooks"][0]["url"],
        format!("http://localhost:{}/webhook/deploys", s.port)
    );
    let ev = admin.api("GET", "/api/webhooks/deploys/events?limit=2", "");
    assert_eq!(ev.status, 200);
    let ev: Value = serde_json::from_slice(&ev.body).unwrap();
    let got: Vec<(&str, &str)> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["event_type"].as_str().unwrap(),
                e["payload"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [("deploy", r#"{"n":2}"#), ("deploy", r#"{"n":1}"#)]);
    assert_eq!(
        admin.api("GET", "/api/webhooks/none/events", "").status,
        404
    );
    assert_eq!(admin.api("DELETE", "/api/webhooks/deploys", "").status, 200);
    assert_eq!(admin.api("DELETE", "/api/webhooks/deploys", "").status, 404);
    assert_eq!(admin.api("PUT", "/api/webhooks", "").status, 405);
}

#[test]
fn analytics_can_show_webhook_events_alone() {
    let s = server();
    let admin = login(&s);
    s.write_file("blog", "index.html", "hi");
    admin.post("/tracking", &[("domain", "shop.example.com")]);
    create(&admin, "alerts", false);
    s.get("blog.localhost", "/");
    assert_eq!(
        post(&s, "/track", &[], br#"{"domain":"shop.example.com"}"#).status,
        202
    );
    for _ in 0..2 {
        assert_eq!(post(&s, "/webhook/alerts", &[], b"{}").status, 202);
    }
    wait_for_events(&s, 4);

    let page = admin.get("/analytics?source=webhook").text();
    assert!(
        page.contains("<option value=\"webhook\" selected>Webhooks</option>"),
        "{page}"
    );
    assert!(
        page.contains("<strong id=\"pageviews\">2</strong>"),
        "{page}"
    );
    assert!(page.contains(">alerts</a>"));
    assert!(!page.contains(">blog</a>") && !page.contains(">shop.example.com</a>"));
    let all = admin.get("/analytics").text();
    assert!(all.contains("<strong id=\"pageviews\">4</strong>"));
    assert!(all.contains("<option value=\"webhook\">Webhooks</option>"));
}
