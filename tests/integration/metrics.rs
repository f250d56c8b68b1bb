//! `GET /metrics`: Prometheus text for the admin's session or a `read:stats` key, counting
//! requests by what they reached and their status class, with the script pool's and the
//! WebSocket hub's gauges.

use crate::harness::{Server, connect};

/// The value of one series (`name{labels}` or `name`) in a metrics text.
fn value(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn metrics_count_requests_by_kind_and_show_scripts_and_websockets() {
    let s = Server::start();
    s.write_file("docs", "index.html", "<h1>docs</h1>");
    s.write_file(
        "app",
        "main.js",
        r#"res.status(req.query.bad ? 500 : 200).send("hi");"#,
    );
    let stats = s.create_key("monitor", &["read:stats"]);
    let deployer = s.create_key("friend", &["deploy:docs"]);
    let metrics = |token: Option<&str>| {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        s.request("GET", "localhost", "/metrics", &headers)
    };
    let r = metrics(None);
    assert_eq!(r.status, 401, "{}", r.text());
    let r = metrics(Some(&deployer));
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("read:stats"), "{}", r.text());

    for _ in 0..3 {
        assert_eq!(s.get("docs.localhost", "/").status, 200);
    }
    assert_eq!(s.get("docs.localhost", "/missing").status, 404);
    assert_eq!(s.get("app.localhost", "/").status, 200);
    assert_eq!(s.get("app.localhost", "/?bad=1").status, 500);
    let _ws = connect(&s, "docs");
    std::thread::sleep(std::time::Duration::from_millis(200));

    let r = metrics(Some(&stats));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text();
    for (series, expected) in [
        (r#"cc_requests_total{kind="static",class="2xx"}"#, 3),
        (r#"cc_requests_total{kind="static",class="4xx"}"#, 1),
        (r#"cc_requests_total{kind="script",class="2xx"}"#, 1),
        (r#"cc_requests_total{kind="script",class="5xx"}"#, 1),
        (r#"cc_requests_total{kind="websocket",class="1xx"}"#, 1),
        ("cc_script_runs_total", 2),
        ("cc_websocket_clients", 1),
    ] {
        assert_eq!(value(&text, series), Some(expected), "{series} in\n{text}");
    }
    assert!(
        value(&text, "cc_script_worker_starts_total").unwrap() >= 1,
        "{text}"
    );
    assert!(text.contains("# TYPE cc_requests_total counter"), "{text}");
}

#[test]
fn a_key_may_ask_for_analytics_about_once_a_second() {
    let s = Server::start();
    s.write_file("docs", "index.html", "<h1>docs</h1>");
    let stats = s.create_key("monitor", &["read:stats"]);
    let friend = s.create_key("friend", &["deploy:docs"]);
    let ask = |token: &str, path: &str| {
        let auth = format!("Bearer {token}");
        s.request(
            "GET",
            "localhost",
            path,
            &[("Authorization", auth.as_str())],
        )
    };
    // A burst of 10, then 429 until the bucket refills (one a second).
    let statuses: Vec<u16> = (0..12)
        .map(|_| ask(&stats, "/api/stats?days=7").status)
        .collect();
    assert_eq!(&statuses[..10], &[200; 10], "{statuses:?}");
    assert_eq!(statuses[11], 429, "{statuses:?}");
    let r = ask(&stats, "/api/stats?days=7");
    assert!(r.text().contains("at most 60 a minute"), "{}", r.text());
    assert!(r.header("retry-after").is_some());
    // Each key has its own bucket: the friend's site detail still answers.
    assert_eq!(ask(&friend, "/api/sites/docs").status, 200);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(
        ask(&stats, "/api/stats?days=7").status,
        200,
        "refilled after a second"
    );
}
