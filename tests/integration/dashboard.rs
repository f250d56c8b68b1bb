//! The dashboard over HTTP: first-start setup, login and its limits, session
//! cookies, CSRF and same-origin checks, every page and action, and the same actions through
//! the JSON API with a session or a token.

use crate::admin::{
    PASSWORD, audit_actions, encode, host, login, origin, post_as, server, wait_for_events,
};
use crate::harness::{Server, run_cli, zip_of};

fn token_from(html: &str) -> String {
    let at = html.find("value=\"cc_").expect("the new token") + 7;
    html[at..at + 67].to_string()
}

#[test]
fn first_start_prints_a_one_time_setup_link() {
    let s = Server::start();
    let line = (0..100)
        .find_map(|_| {
            let l = s.log().into_iter().find(|l| l.contains("/setup?token="));
            if l.is_none() {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            l
        })
        .expect("a setup link in the log");
    let token = line
        .split("token=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(
        s.get("localhost", "/login")
            .text()
            .contains("No admin password is set yet")
    );
    assert_eq!(s.get("localhost", "/setup?token=wrong").status, 404);
    let page = s.get("localhost", &format!("/setup?token={token}"));
    assert_eq!(page.status, 200);
    assert!(page.text().contains("Choose the admin password"));

    let o = origin(&s);
    let differ = post_as(
        &s,
        "/setup",
        Some(&o),
        None,
        &encode(&[
            ("token", &token),
            ("password", "one password"),
            ("confirm", "another one"),
        ]),
    );
    assert_eq!(differ.status, 400);
    assert!(differ.text().contains("differ"));
    let short = post_as(
        &s,
        "/setup",
        Some(&o),
        None,
        &encode(&[
            ("token", &token),
            ("password", "short"),
            ("confirm", "short"),
        ]),
    );
    assert_eq!(short.status, 400);
    let evil = post_as(
        &s,
        "/setup",
        Some("http://evil.localhost"),
        None,
        &encode(&[
            ("token", &token),
            ("password", PASSWORD),
            ("confirm", PASSWORD),
        ]),
    );
    assert_eq!(evil.status, 403);

    let ok = post_as(
        &s,
        "/setup",
        Some(&o),
        None,
        &encode(&[
            ("token", &token),
            ("password", PASSWORD),
            ("confirm", PASSWORD),
        ]),
    );
    assert_eq!(ok.status, 303, "{}", ok.text());
    assert!(ok.header("set-cookie").unwrap().starts_with("cc_session="));
    assert_eq!(
        s.get("localhost", &format!("/setup?token={token}")).status,
        404,
        "used once"
    );
    let hash: String = s
        .db()
        .query_row("SELECT password_hash FROM admin", [], |r| r.get(0))
        .unwrap();
    assert!(hash.starts_with("$argon2id$") && !hash.contains(PASSWORD));
    assert!(
        !s.log().iter().any(|l| l.contains(PASSWORD)),
        "the password is never logged"
    );
    login(&s);
}

#[test]
fn wrong_passwords_are_refused_recorded_and_rate_limited() {
    let s = server();
    let o = origin(&s);
    let wrong = post_as(&s, "/login", Some(&o), None, "password=nope");
    assert_eq!(wrong.status, 401);
    assert!(wrong.text().contains("Wrong password"));
    assert!(wrong.header("set-cookie").is_none());
    assert_eq!(
        post_as(
            &s,
            "/login",
            Some("http://evil.localhost"),
            None,
            &encode(&[("password", PASSWORD)])
        )
        .status,
        403
    );
    for _ in 0..9 {
        assert_eq!(
            post_as(&s, "/login", Some(&o), None, "password=nope").status,
            401
        );
    }
    let limited = post_as(
        &s,
        "/login",
        Some(&o),
        None,
        &encode(&[("password", PASSWORD)]),
    );
    assert_eq!(
        limited.status, 429,
        "the 11th try, even with the right password"
    );
    assert!(limited.header("retry-after").is_some());
    let failed = audit_actions(&s)
        .iter()
        .filter(|a| *a == "login.failed")
        .count();
    assert_eq!(failed, 10);
}

#[test]
fn sessions_are_host_only_http_only_cookies_that_end() {
    let s = Server::builder()
        .env("CC_ADMIN_PASSWORD", PASSWORD)
        .arg("--trusted-proxy")
        .arg("127.0.0.1")
        .start();
    for page in ["/", "/analytics", "/sites", "/keys", "/audit", "/tracking"] {
        let r = s.get("localhost", page);
        assert_eq!(
            (r.status, r.header("location")),
            (303, Some("/login")),
            "{page}"
        );
    }
    let r = post_as(
        &s,
        "/login",
        Some(&origin(&s)),
        None,
        &encode(&[("password", PASSWORD)]),
    );
    let cookie = r.header("set-cookie").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/")
    );
    assert!(
        !cookie.contains("Domain") && !cookie.contains("Secure"),
        "{cookie}"
    );
    let https = s.send(
        "POST",
        &host(&s),
        "/login",
        &[
            ("Origin", &format!("https://localhost:{}", s.port)),
            ("X-Forwarded-Proto", "https"),
        ],
        encode(&[("password", PASSWORD)]).as_bytes(),
    );
    assert!(
        https.header("set-cookie").unwrap().contains("; Secure"),
        "HTTPS through the trusted proxy"
    );
    let stored: i64 = s.count("SELECT count(*) FROM sessions WHERE length(id_hash) = 64");
    assert_eq!(stored, 2);

    let admin = login(&s);
    assert_eq!(admin.get("/sites").status, 200);
    // Logging out ends the session on the server: the old cookie no longer works.
    let out = admin.post("/logout", &[]);
    assert_eq!(out.status, 303);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(admin.get("/sites").status, 303);

    // An expired session is as good as none.
    let admin = login(&s);
    s.db()
        .execute("UPDATE sessions SET expires_at = '2000-01-01 00:00:00'", [])
        .unwrap();
    assert_eq!(admin.get("/keys").header("location"), Some("/login"));
    assert_eq!(admin.post("/keys", &[("name", "x")]).status, 401);
    assert!(audit_actions(&s).contains(&"logout".to_string()));
}

#[test]
fn a_site_page_cannot_act_on_the_dashboard() {
    let s = server();
    let admin = login(&s);
    let evil = format!("http://evil.localhost:{}", s.port);
    let form = encode(&[("csrf", &admin.csrf), ("name", "stolen"), ("access", "all")]);
    // A page on a site subdomain is same-site: the browser sends the cookie. Origin stops it.
    let r = post_as(&s, "/keys", Some(&evil), Some(&admin.cookie), &form);
    assert_eq!(r.status, 403, "{}", r.text());
    let r = post_as(&s, "/keys", None, Some(&admin.cookie), &form);
    assert_eq!(r.status, 403, "no Origin and no Referer");
    let no_token = encode(&[("name", "stolen"), ("access", "all")]);
    assert_eq!(
        post_as(
            &s,
            "/keys",
            Some(&origin(&s)),
            Some(&admin.cookie),
            &no_token
        )
        .status,
        403
    );
    let wrong = encode(&[
        ("csrf", &"0".repeat(64)),
        ("name", "stolen"),
        ("access", "all"),
    ]);
    assert_eq!(
        post_as(&s, "/keys", Some(&origin(&s)), Some(&admin.cookie), &wrong).status,
        403
    );
    // The same through the JSON API.
    let r = s.send(
        "POST",
        &host(&s),
        "/api/keys",
        &[
            ("Cookie", &admin.cookie),
            ("X-CSRF-Token", &admin.csrf),
            ("Origin", &evil),
        ],
        br#"{"name":"stolen","scopes":["deploy:*"]}"#,
    );
    assert_eq!(r.status, 403);
    let r = s.send(
        "POST",
        &host(&s),
        "/api/keys",
        &[("Cookie", &admin.cookie), ("Origin", &origin(&s))],
        br#"{"name":"stolen","scopes":["deploy:*"]}"#,
    );
    assert_eq!(r.status, 403, "no CSRF header");
    let keys: i64 = s.count("SELECT count(*) FROM api_keys");
    assert_eq!(keys, 0, "nothing was created");

    // Every dashboard answer forbids framing and foreign scripts.
    for page in ["/login", "/keys"] {
        let r = admin.get(page);
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert_eq!(r.header("referrer-policy"), Some("same-origin"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
}

#[test]
fn a_key_is_shown_once_works_and_stops_working_when_revoked() {
    let s = server();
    let admin = login(&s);
    let created = admin.post(
        "/keys",
        &[
            ("name", "Bob's laptop"),
            ("access", "sites"),
            ("other_sites", "blog"),
        ],
    );
    assert_eq!(created.status, 200, "{}", created.text());
    let token = token_from(&created.text());
    assert!(token.starts_with("cc_") && token.len() == 67);
    assert_eq!(created.header("cache-control"), Some("no-store"));
    let list = admin.get("/keys").text();
    assert!(list.contains("Bob&#39;s laptop") && list.contains("deploy:blog"));
    assert!(!list.contains(&token), "the token is never shown again");
    assert!(!admin.api("GET", "/api/keys", "").text().contains(&token));

    let zip = zip_of(&[("index.html", b"hi")]);
    assert_eq!(s.deploy_raw(Some(&token), "blog", &zip).status, 200);
    assert_eq!(s.deploy_raw(Some(&token), "other", &zip).status, 403);
    let id: i64 = s
        .db()
        .query_row(
            "SELECT id FROM api_keys WHERE name = 'Bob''s laptop'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let used: Option<String> = s
        .db()
        .query_row(
            "SELECT last_used_at FROM api_keys WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    assert!(used.is_some(), "the deploy marked the key used");
    let revoked = admin.post(&format!("/keys/{id}/revoke"), &[]);
    assert_eq!(
        (revoked.status, revoked.header("location")),
        (303, Some("/keys?done=key-revoked"))
    );
    assert_eq!(s.deploy_raw(Some(&token), "blog", &zip).status, 401);
    assert_eq!(
        admin.post(&format!("/keys/{id}/revoke"), &[]).status,
        404,
        "twice"
    );
    assert_eq!(
        admin
            .post("/keys", &[("name", ""), ("access", "all")])
            .status,
        400
    );
    assert_eq!(
        admin
            .post(
                "/keys",
                &[
                    ("name", "x"),
                    ("access", "sites"),
                    ("other_sites", "Not/A/Site")
                ]
            )
            .status,
        400
    );

    // The JSON API does the same for a session; a deploy key may not manage keys.
    let r = admin.api(
        "POST",
        "/api/keys",
        r#"{"name":"ci","scopes":["read:stats"]}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let ci: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let ci_token = ci["token"].as_str().unwrap();
    let r = s.request(
        "GET",
        "localhost",
        "/api/keys",
        &[("Authorization", &format!("Bearer {ci_token}"))],
    );
    assert_eq!(r.status, 403);
    let actions = audit_actions(&s);
    for a in ["login", "key.create", "deploy", "key.revoke"] {
        assert!(actions.contains(&a.to_string()), "{a} in {actions:?}");
    }
    let audit = admin.get("/audit").text();
    assert!(audit.contains("key.revoke") && audit.contains("Bob&#39;s laptop"));
}

#[test]
fn env_vars_set_in_the_dashboard_reach_the_next_script_run() {
    let s = server();
    s.write_file("app", "main.js", "res.send(String(process.env.GREETING));");
    let admin = login(&s);
    let page = admin.get("/sites/app");
    assert_eq!(page.status, 200);
    assert_eq!(s.get("app.localhost", "/x").text(), "undefined");

    let r = admin.post(
        "/sites/app/env",
        &[("key", "GREETING"), ("value", "hello <b>")],
    );
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/sites/app?done=env-saved#env"))
    );
    assert_eq!(s.get("app.localhost", "/x").text(), "hello <b>");
    let page = admin.get("/sites/app?done=env-saved").text();
    assert!(
        page.contains("data-value=\"hello &lt;b&gt;\"") && page.contains("••••••••"),
        "masked until revealed"
    );
    assert!(page.contains("The next main.js request sees the new value"));

    admin.post(
        "/sites/app/env",
        &[("key", "GREETING"), ("value", "edited")],
    );
    assert_eq!(s.get("app.localhost", "/x").text(), "edited");
    assert_eq!(
        admin
            .post("/sites/app/env", &[("key", "1BAD"), ("value", "x")])
            .status,
        400
    );
    assert_eq!(
        admin
            .post("/sites/nosuch/env", &[("key", "A"), ("value", "x")])
            .status,
        404
    );
    let big = "x".repeat(40_000);
    assert_eq!(
        admin
            .post("/sites/app/env", &[("key", "BIG"), ("value", &big)])
            .status,
        413
    );
    assert_eq!(
        admin
            .post("/sites/app/env/delete", &[("key", "GREETING")])
            .status,
        303
    );
    assert_eq!(s.get("app.localhost", "/x").text(), "undefined");

    // A deploy key for this site may set env vars through the API; one for another may not.
    let mine = s.create_key("mine", &["deploy:app"]);
    let other = s.create_key("other", &["deploy:blog"]);
    let put = |t: &str| {
        s.send(
            "PUT",
            "localhost",
            "/api/sites/app/env/TOKEN",
            &[("Authorization", &format!("Bearer {t}"))],
            br#"{"value":"v1"}"#,
        )
    };
    assert_eq!(put(&mine).status, 201);
    assert_eq!(put(&mine).status, 200);
    assert_eq!(put(&other).status, 403);
    assert_eq!(s.get("app.localhost", "/x").status, 200);
    let detail = s.request(
        "GET",
        "localhost",
        "/api/sites/app",
        &[("Authorization", &format!("Bearer {mine}"))],
    );
    assert!(detail.text().contains("\"TOKEN\""));
    let actions = audit_actions(&s);
    assert!(
        actions.contains(&"env.set".to_string()) && actions.contains(&"env.delete".to_string())
    );
    assert!(
        !s.db()
            .query_row(
                "SELECT group_concat(coalesce(target,'')) FROM audit_log",
                [],
                |r| r.get::<_, String>(0)
            )
            .unwrap()
            .contains("edited"),
        "values are never audited"
    );
}

#[test]
fn hosting_pages_show_sites_and_roll_back_and_tear_down() {
    let s = server();
    let token = s.create_key("me", &["deploy:*"]);
    for v in ["one", "two"] {
        let zip = zip_of(&[("index.html", v.as_bytes())]);
        assert_eq!(s.deploy_raw(Some(&token), "blog", &zip).status, 200);
    }
    s.write_file("folder", "index.html", "by hand");
    s.get("blog.localhost", "/");
    let admin = login(&s);
    let list = admin.get("/sites").text();
    assert!(list.contains(&format!("http://blog.localhost:{}/", s.port)));
    assert!(list.contains("never (folder)") && list.contains("by me"));
    let page = admin.get("/sites/blog").text();
    assert!(page.contains("Roll back to the previous deployment"));
    assert_eq!(admin.get("/sites/nosuch").status, 404);
    assert_eq!(admin.get("/sites/Bad..Name").status, 400);

    let r = admin.post("/sites/blog/rollback", &[]);
    assert_eq!(r.status, 303);
    assert_eq!(s.get("blog.localhost", "/").text(), "one");
    assert!(admin.get("/sites/blog").text().contains("admin (rollback)"));

    let r = admin.post("/sites/blog/teardown", &[("confirm", "blgo")]);
    assert_eq!(r.status, 400, "the name must be typed");
    assert_eq!(s.get("blog.localhost", "/").text(), "one");
    let r = admin.post("/sites/blog/teardown", &[("confirm", "blog")]);
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/sites?done=torn-down"))
    );
    assert_eq!(s.get("blog.localhost", "/").status, 404);
    let actions = audit_actions(&s);
    assert!(actions.contains(&"rollback".to_string()) && actions.contains(&"teardown".to_string()));
}

#[test]
fn tracking_accepts_pageviews_only_from_allowed_domains() {
    let s = server();
    let js = s.get("localhost", "/t.js");
    assert_eq!(js.status, 200);
    assert!(
        js.header("content-type")
            .unwrap()
            .starts_with("application/javascript")
    );
    assert!(js.text().contains("/api/event"));
    let event = |origin: &str, url: &str| {
        s.send(
            "POST",
            "localhost",
            "/api/event",
            &[("Origin", origin), ("Content-Type", "text/plain")],
            format!(r#"{{"url":"{url}","referrer":"https://news.example/"}}"#).as_bytes(),
        )
    };
    assert_eq!(
        event(
            "https://blog.example.com",
            "https://blog.example.com/post?email=me"
        )
        .status,
        403
    );

    let admin = login(&s);
    assert_eq!(
        admin
            .post("/tracking", &[("domain", "javascript:alert(1)")])
            .status,
        400
    );
    assert_eq!(
        admin
            .post("/tracking", &[("domain", "https://Blog.Example.com/")])
            .status,
        303
    );
    assert!(admin.get("/tracking").text().contains("blog.example.com"));
    let ok = event(
        "https://blog.example.com",
        "https://blog.example.com/post?email=me",
    );
    assert_eq!(ok.status, 202);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://blog.example.com")
    );
    assert_eq!(
        event("https://evil.example", "https://blog.example.com/").status,
        403,
        "Origin must match"
    );
    assert_eq!(event("https://blog.example.com", "not a url").status, 400);
    assert_eq!(
        s.send("POST", "localhost", "/api/event", &[], b"{").status,
        400
    );

    // The visit is written by the analytics thread within a moment.
    let mut rows = Vec::new();
    for _ in 0..50 {
        let db = s.db();
        let mut st = db
            .prepare("SELECT source_type, domain, path, referrer FROM events")
            .unwrap();
        rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        if !rows.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        rows,
        vec![(
            "web".into(),
            "blog.example.com".into(),
            "/post".into(),
            "https://news.example/".into()
        )]
    );
    assert_eq!(
        admin
            .post("/tracking/delete", &[("domain", "blog.example.com")])
            .status,
        303
    );
    assert_eq!(
        event("https://blog.example.com", "https://blog.example.com/").status,
        403
    );
}

#[test]
fn passwd_sets_a_new_password_and_ends_sessions() {
    let s = server();
    let admin = login(&s);
    let dir = s.data_dir.to_str().unwrap().to_string();
    let mut child = std::process::Command::new(crate::harness::BIN)
        .args(["passwd", "--data-dir", &dir])
        .env_remove("CC_ADMIN_PASSWORD")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a brand new password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(admin.get("/keys").status, 303, "old sessions end");
    let o = origin(&s);
    assert_eq!(
        post_as(
            &s,
            "/login",
            Some(&o),
            None,
            &encode(&[("password", PASSWORD)])
        )
        .status,
        401
    );
    assert_eq!(
        post_as(
            &s,
            "/login",
            Some(&o),
            None,
            &encode(&[("password", "a brand new password")])
        )
        .status,
        303
    );

    let (code, _, err) = run_cli(&["passwd", "--data-dir", &dir, "--bogus"]);
    assert_eq!(code, 2, "{err}");
    let short = std::process::Command::new(crate::harness::BIN)
        .args(["passwd", "--data-dir", &dir])
        .env("CC_ADMIN_PASSWORD", "short")
        .output()
        .unwrap();
    assert_eq!(short.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&short.stderr).contains("too short"));
}

#[test]
fn analytics_pages_and_the_stats_api_show_the_visits() {
    let s = server();
    s.write_file("blog", "index.html", "home");
    s.write_file("blog", "post.html", "post");
    s.write_file("shop", "index.html", "shop");
    for (host, path) in [
        ("blog.localhost", "/"),
        ("blog.localhost", "/post.html"),
        ("blog.localhost", "/post.html"),
        ("shop.localhost", "/"),
    ] {
        s.request(
            "GET",
            host,
            path,
            &[
                ("Referer", "https://news.example.org/item?id=1"),
                ("User-Agent", "Mozilla/5.0 Firefox/130.0"),
            ],
        );
    }
    wait_for_events(&s, 4);
    let admin = login(&s);
    let page = admin.get("/analytics?days=7");
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(
        html.contains("<svg") && html.contains("role=\"img\""),
        "an inline SVG chart"
    );
    assert!(html.contains("id=\"pageviews\">4<"), "4 pageviews");
    assert!(
        html.contains("id=\"visitors\">1<"),
        "one visitor (same IP and browser)"
    );
    assert!(html.contains("/post.html") && html.contains("news.example.org"));
    let blog = admin.get("/analytics?days=30&site=blog").text();
    assert!(blog.contains("id=\"pageviews\">3<"), "filtered to blog");
    // The Hosting pages count the same visits per site.
    let sites: serde_json::Value =
        serde_json::from_slice(&admin.api("GET", "/api/sites", "").body).unwrap();
    let visits: Vec<(String, i64)> = sites["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["visits_30d"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(visits, [("blog".to_string(), 3), ("shop".to_string(), 1)]);
    let blog_detail: serde_json::Value =
        serde_json::from_slice(&admin.api("GET", "/api/sites/blog", "").body).unwrap();
    assert_eq!(blog_detail["visits_30d"], 3);
    let web = admin.get("/analytics?source=web").text();
    assert!(web.contains("id=\"pageviews\">0<"), "no tracked pageviews");
    assert!(
        admin
            .get("/analytics?days=abc&site=%3Cscript%3E")
            .text()
            .contains("id=\"pageviews\">0<"),
        "nonsense filters are harmless"
    );

    let stats = |auth: &str| {
        s.request(
            "GET",
            "localhost",
            "/api/stats?days=7&site=blog",
            &[("Authorization", auth)],
        )
    };
    let reader = s.create_key("grafana", &["read:stats"]);
    let r = stats(&format!("Bearer {reader}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["pageviews"], 3);
    assert_eq!(v["per_day"].as_array().unwrap().len(), 7);
    assert_eq!(v["top_paths"][0]["path"], "/post.html");
    let deployer = s.create_key("ci", &["deploy:*"]);
    assert_eq!(stats(&format!("Bearer {deployer}")).status, 403);
    assert_eq!(stats("Bearer cc_nope").status, 401);
    assert_eq!(admin.api("GET", "/api/stats?days=7", "").status, 200);
}

#[test]
fn old_raw_events_are_pruned_but_daily_totals_stay() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        // A first run creates the schema; then 200-day-old and 10-day-old visits are planted.
        let s = Server::builder()
            .data_dir(&data)
            .env("CC_ADMIN_PASSWORD", PASSWORD)
            .start();
        let db = s.db();
        for (age, n) in [(200, 3), (10, 2)] {
            for i in 0..n {
                db.execute(
                    "INSERT INTO events (created_at, source_type, domain, path, status, visitor_hash)
                     VALUES (datetime('now', ?1), 'hosting', 'blog', '/', 200, ?2)",
                    rusqlite::params![format!("-{age} days"), format!("v{i}")],
                )
                .unwrap();
            }
        }
    }
    let s = Server::builder()
        .data_dir(&data)
        .arg("--retention-days")
        .arg("30")
        .start();
    let mut raw = -1;
    for _ in 0..100 {
        raw = s.count("SELECT count(*) FROM events");
        if raw == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(raw, 2, "raw events older than 30 days are gone");
    let admin = login(&s);
    let r = admin.api("GET", "/api/stats?days=366", "");
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        v["pageviews"], 5,
        "the daily roll-ups still count them: {v}"
    );
    assert_eq!(v["visitors"], 5);
}

#[test]
fn a_script_cannot_reach_the_dashboard_by_another_name() {
    let s = server();
    // 127.1 is loopback too, but not spelled like it: the marker header still gives it away.
    s.write_file(
        "probe",
        "main.js",
        format!(
            r#"const r = await fetch("http://127.1:{}/login", {{ method: "POST", body: "password=x", headers: {{ "Origin": "http://localhost:{0}", "Content-Type": "application/x-www-form-urlencoded" }} }});
               res.send(r.status + " " + (await r.text()));"#,
            s.port
        ),
    );
    let r = s.get("probe.localhost", "/");
    // fetch's URL parser spells 127.1 as 127.0.0.1 and refuses it before it leaves (500,
    // the script's error); a name the parser keeps is caught by the marker header (508).
    assert!(
        r.text().starts_with("508 ") || r.status == 500,
        "{} {}",
        r.status,
        r.text()
    );
    assert!(
        !audit_actions(&s).contains(&"login.failed".to_string()),
        "the guess never reached the login"
    );
}

#[test]
fn behind_a_trusted_proxy_the_last_forwarded_address_counts() {
    let s = Server::builder()
        .env("CC_ADMIN_PASSWORD", PASSWORD)
        .arg("--trusted-proxy")
        .arg("127.0.0.1")
        .start();
    let o = origin(&s);
    // The client's own header comes first; the proxy's line comes last and wins.
    for i in 0..12 {
        let spoof = format!("6.6.6.{i}");
        let r = s.send(
            "POST",
            &host(&s),
            "/login",
            &[
                ("Origin", &o),
                ("X-Forwarded-For", &spoof),
                ("X-Forwarded-For", "203.0.113.9"),
            ],
            b"password=nope",
        );
        assert_eq!(r.status, if i < 10 { 401 } else { 429 }, "attempt {i}");
    }
    let ip: String = s
        .db()
        .query_row("SELECT ip FROM audit_log LIMIT 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ip, "203.0.113.9");
    // Another client behind the same proxy is not locked out.
    let r = s.send(
        "POST",
        &host(&s),
        "/login",
        &[("Origin", &o), ("X-Forwarded-For", "198.51.100.7")],
        encode(&[("password", PASSWORD)]).as_bytes(),
    );
    assert_eq!(r.status, 303);
    let admin = login(&s);
    assert_eq!(
        admin
            .post("/keys", &[("name", "Admin"), ("access", "all")])
            .status,
        400,
        "reserved name"
    );
}

#[test]
fn a_flood_of_events_from_one_address_is_cut_off() {
    let s = server();
    let admin = login(&s);
    admin.post("/tracking", &[("domain", "blog.example.com")]);
    let statuses: Vec<u16> = (0..80)
        .map(|_| {
            s.send(
                "POST",
                "localhost",
                "/api/event",
                &[("Origin", "https://blog.example.com")],
                br#"{"url":"https://blog.example.com/"}"#,
            )
            .status
        })
        .collect();
    let accepted = statuses.iter().filter(|&&c| c == 202).count();
    assert!(
        (60..=62).contains(&accepted),
        "a burst of 60, then ~2 a second: {accepted}"
    );
    assert_eq!(statuses.last(), Some(&429));
    wait_for_events(&s, accepted as i64);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let stored: i64 = s.count("SELECT count(*) FROM events");
    assert_eq!(stored, accepted as i64, "refused events are not stored");
}

#[test]
fn planted_look_alike_session_cookies_cannot_hide_the_real_one() {
    let s = server();
    let admin = login(&s);
    // A site on a subdomain planted 95 well-formed cc_session cookies for the parent domain
    // (about as many as fit in one 8 KiB header line).
    let mut cookies: Vec<String> = (0..95)
        .map(|i| format!("cc_session={:064x}", i + 1))
        .collect();
    cookies.push(admin.cookie.clone());
    let header = cookies.join("; ");
    let page = s.request("GET", &host(&s), "/keys", &[("Cookie", &header)]);
    assert_eq!(page.status, 200, "the admin was locked out");
}
