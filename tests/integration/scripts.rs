//! main.js through the real server: the API, the counter under concurrency,
//! isolation between sites, errors, and hostile scripts that must cost only their own site.

use std::time::Duration;

use crate::harness::{COUNTER, Server, visits};

#[test]
fn the_counter_counts_exactly_under_concurrency() {
    let s = Server::start();
    s.write_file("counter", "main.js", COUNTER);
    assert_eq!(visits(&s, "counter"), 1);
    assert_eq!(visits(&s, "counter"), 2);
    assert_eq!(visits(&s, "counter"), 3);
    std::thread::scope(|scope| {
        for _ in 0..20 {
            scope.spawn(|| {
                for _ in 0..10 {
                    let r = s.get("counter.localhost", "/");
                    assert_eq!(r.status, 200, "{}", r.text());
                }
            });
        }
    });
    assert_eq!(
        visits(&s, "counter"),
        204,
        "200 concurrent requests must add exactly 200"
    );
}

#[test]
fn the_request_and_response_api() {
    let s = Server::start();
    s.write_file(
        "api",
        "main.js",
        r#"
        if (req.path === "/echo") {
          res.status(201).header("X-Thing", "yes").json({
            method: req.method, path: req.path, query: req.query, ua: req.headers["user-agent"],
            body: req.body, parsed: req.method === "POST" ? req.json() : null, ip: req.ip,
          });
        } else if (req.path === "/go") {
          res.redirect("/elsewhere", 307);
        } else if (req.path === "/text") {
          res.send("plain words");
        } else if (req.path === "/async") {
          const v = await Promise.resolve(41);
          res.json({ v: v + 1 });
        } else {
          res.status(404).send("no route " + req.path);
        }
        "#,
    );
    s.write_file("api", "index.html", "static wins");
    assert_eq!(s.get("api.localhost", "/").text(), "static wins");

    let body = r#"{"a":[1,2]}"#;
    let raw = format!(
        "POST /echo?x=1&y=hello%20world HTTP/1.1\r\nHost: api.localhost\r\nUser-Agent: tester\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let r = s.raw(raw.as_bytes());
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("x-thing"), Some("yes"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["method"], "POST");
    assert_eq!(v["path"], "/echo");
    assert_eq!(v["query"]["y"], "hello world");
    assert_eq!(v["ua"], "tester");
    assert_eq!(v["body"], body);
    assert_eq!(v["parsed"]["a"][1], 2);
    assert_eq!(v["ip"], "127.0.0.1");

    let r = s.get("api.localhost", "/go");
    assert_eq!((r.status, r.header("location")), (307, Some("/elsewhere")));
    let r = s.get("api.localhost", "/text");
    assert_eq!((r.status, r.text().as_str()), (200, "plain words"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(s.get("api.localhost", "/async").text(), r#"{"v":42}"#);
    let r = s.get("api.localhost", "/nothing");
    assert_eq!((r.status, r.text().as_str()), (404, "no route /nothing"));
}

#[test]
fn sites_never_see_each_others_keys_or_env() {
    let s = Server::start();
    let script = r#"
        if (req.query.set) db.set("shared-name", req.query.set);
        res.json({ value: db.get("shared-name"), keys: db.list(""), secret: process.env.SECRET || null });
    "#;
    s.write_file("alice", "main.js", script);
    s.write_file("bob", "main.js", script);
    s.db()
        .execute(
            "INSERT INTO env_vars (site_id, key, value) VALUES ('alice', 'SECRET', 'alice-only')",
            [],
        )
        .unwrap();
    s.get("alice.localhost", "/?set=from-alice");
    s.get("bob.localhost", "/?set=from-bob");
    let json = |site: &str| -> serde_json::Value {
        serde_json::from_slice(&s.get(&format!("{site}.localhost"), "/").body).unwrap()
    };
    let (a, b) = (json("alice"), json("bob"));
    assert_eq!(a["value"], "from-alice");
    assert_eq!(b["value"], "from-bob");
    assert_eq!(a["keys"], serde_json::json!(["shared-name"]));
    assert_eq!(a["secret"], "alice-only");
    assert_eq!(b["secret"], serde_json::Value::Null);
}

#[test]
fn db_list_delete_and_limits() {
    // Building a 2 MiB string is slow in a debug build on a busy machine: this test is about
    // the db's limits, not the run-time limit.
    let s = Server::builder()
        .arg("--script-timeout-ms")
        .arg("2000")
        .start();
    s.write_file(
        "store",
        "main.js",
        r#"
        const out = {};
        if (req.path === "/fill") { db.set("user:1", {n: 1}); db.set("user:2", {n: 2}); db.set("other", true); }
        if (req.path === "/drop") { db.delete("user:1"); }
        if (req.path === "/bigkey") { try { db.set("k".repeat(600), 1); } catch (e) { out.error = String(e); } }
        if (req.path === "/bigvalue") { try { db.set("v", "x".repeat(2 * 1024 * 1024)); } catch (e) { out.error = String(e); } }
        if (req.path === "/undef") { try { db.set("u", undefined); } catch (e) { out.error = String(e); } }
        out.users = db.list("user:");
        out.one = db.get("user:1");
        res.json(out);
        "#,
    );
    let json = |p: &str| -> serde_json::Value {
        serde_json::from_slice(&s.get("store.localhost", p).body).unwrap()
    };
    let v = json("/fill");
    assert_eq!(v["users"], serde_json::json!(["user:1", "user:2"]));
    assert_eq!(v["one"]["n"], 1);
    let v = json("/drop");
    assert_eq!(v["users"], serde_json::json!(["user:2"]));
    assert_eq!(v["one"], serde_json::Value::Null);
    assert!(
        json("/bigkey")["error"]
            .as_str()
            .unwrap()
            .contains("512 bytes")
    );
    assert!(
        json("/bigvalue")["error"]
            .as_str()
            .unwrap()
            .contains("1024 KiB")
    );
    assert!(
        json("/undef")["error"]
            .as_str()
            .unwrap()
            .contains("db.delete")
    );
}

#[test]
fn script_errors_get_clear_statuses_and_log_lines() {
    let mut s = Server::start();
    s.write_file("throws", "main.js", "console.log('before'); null.boom;");
    s.write_file("syntax", "main.js", "let = = ;");
    s.write_file("silent", "main.js", "const x = 1 + 1;");
    s.write_file(
        "rejects",
        "main.js",
        "await Promise.reject(new Error('async trouble'));",
    );

    let r = s.get("throws.localhost", "/");
    assert_eq!(r.status, 500);
    assert!(r.text().contains("main.js threw an error"), "{}", r.text());
    let r = s.get("syntax.localhost", "/");
    assert_eq!(r.status, 500);
    let r = s.get("silent.localhost", "/");
    assert_eq!(r.status, 500);
    assert!(
        r.text().contains("finished without a response"),
        "{}",
        r.text()
    );
    assert_eq!(s.get("rejects.localhost", "/").status, 500);

    // The site's log ring, through the token API.
    let token = s.create_key("me", &["deploy:throws"]);
    let auth = format!("Bearer {token}");
    let r = s.request(
        "GET",
        "localhost",
        "/api/sites/throws/logs",
        &[("Authorization", &auth)],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let lines = v["logs"].as_array().unwrap();
    assert_eq!(lines[0]["level"], "log");
    assert_eq!(lines[0]["message"], "before");
    assert!(
        lines[1]["message"].as_str().unwrap().contains("TypeError"),
        "{v}"
    );
    let r = s.request(
        "GET",
        "localhost",
        "/api/sites/silent/logs",
        &[("Authorization", &auth)],
    );
    assert_eq!(r.status, 403, "another site's log needs its scope");

    assert!(s.stop().success());
    let log = s.log().join("\n");
    for expected in [
        "site throws: [log] before",
        "site throws: [error] main.js failed: TypeError",
        "site syntax: [error] main.js failed: main.js does not parse",
        "site silent: [error] main.js finished without a response",
        "site rejects: [error] main.js failed: Error: async trouble",
    ] {
        assert!(log.contains(expected), "missing {expected:?} in:\n{log}");
    }
}

#[test]
fn a_redeploy_runs_the_new_main_js() {
    let s = Server::start();
    s.write_file("v", "main.js", "res.send('one')");
    assert_eq!(s.get("v.localhost", "/").text(), "one");
    std::thread::sleep(Duration::from_millis(20));
    s.write_file("v", "main.js", "res.send('two, longer')");
    assert_eq!(s.get("v.localhost", "/").text(), "two, longer");
}

/// Hostile scripts: each gets a 5xx, the server and the other site carry on.
#[test]
fn hostile_scripts_cost_only_their_own_site() {
    let s = Server::start();
    s.write_file("good", "index.html", "static ok");
    s.write_file("good", "main.js", COUNTER);
    let hostile = [
        ("spin", "while (true) {}"),
        (
            "foreach",
            "[1, 2, 3].forEach(() => { while (true) {} }); res.send('no');",
        ),
        (
            "recurse",
            "function f(n) { return f(n + 1) + 1; } f(0); res.send('no');",
        ),
        (
            "regex",
            r#"const ok = /(a+)+$/.test("a".repeat(40) + "b"); res.send(String(ok));"#,
        ),
        (
            "repeat",
            r#"let s = []; while (true) { s.push("x".repeat(2 ** 29)); } "#,
        ),
        (
            "grow",
            "const a = []; while (true) { a.push(new Array(1e6).fill(1)); }",
        ),
        (
            "stringify",
            "const o = []; for (let i = 0; i < 1e7; i++) o.push({ i, s: 'xxxxxxxxxxxxxxxx' }); res.send(JSON.stringify(o).length);",
        ),
        ("asyncspin", "await null; while (true) {}"),
    ];
    for (site, code) in hostile {
        s.write_file(site, "main.js", code);
    }
    for (site, _) in hostile {
        std::thread::scope(|scope| {
            let attack = scope.spawn(|| {
                let r = s.get(&format!("{site}.localhost"), "/");
                (r.status, r.text())
            });
            // The other site keeps serving its file and its script meanwhile.
            for _ in 0..20 {
                assert_eq!(
                    s.get("good.localhost", "/").text(),
                    "static ok",
                    "during {site}"
                );
                let r = s.get("good.localhost", "/count");
                assert_eq!(r.status, 200, "during {site}: {}", r.text());
            }
            let (status, text) = attack.join().unwrap();
            assert!(status == 503 || status == 500, "{site}: {status} {text}");
        });
    }
    // Every worker is usable afterwards, killed ones were reaped (no zombies) and replaced
    // by at most the configured number of workers.
    for _ in 0..10 {
        let r = s.get("good.localhost", "/count");
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let children = s.children();
    assert!(!children.is_empty() && children.len() <= 3, "{children:?}");
    assert!(
        children.iter().all(|(_, state)| *state != 'Z'),
        "zombie workers: {children:?}"
    );
}

/// A one-thread HTTP server for `fetch` tests: answers every request with `body` after
/// `delay`, and reports each request head it received.
fn test_upstream(body: &'static str, delay: Duration) -> (u16, std::sync::mpsc::Receiver<String>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(10) {
            let Ok(mut stream) = stream else { continue };
            // Read the whole request (head and body) before answering: closing a socket with
            // unread bytes sends a reset, which may reach the client before the answer does.
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut got = Vec::new();
            let mut buf = [0u8; 8192];
            while !request_is_complete(&got) {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let _ = tx.send(String::from_utf8_lossy(&got).to_string());
            std::thread::sleep(delay);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, rx)
}

/// Whether `got` holds a request head and as many body bytes as its Content-Length says.
fn request_is_complete(got: &[u8]) -> bool {
    let text = String::from_utf8_lossy(got);
    let Some(end) = text.find("\r\n\r\n") else {
        return false;
    };
    let length = text[..end]
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    got.len() >= end + 4 + length
}

#[test]
fn fetch_reaches_other_servers_and_waiting_does_not_count() {
    let s = Server::start();
    // The upstream answers after 300 ms: three times the script's 100 ms limit.
    let (port, heads) = test_upstream(r#"{"answer": 42}"#, Duration::from_millis(300));
    s.write_file(
        "proxy",
        "main.js",
        format!(
            r#"
            const r = await fetch("http://127.0.0.1:{port}/data?q=1", {{ method: "POST", headers: {{ "X-Key": "secret" }}, body: {{ hello: "world" }} }});
            const data = await r.json();
            let selfCall = null;
            try {{ await fetch("http://127.0.0.1:{own}/"); }} catch (e) {{ selfCall = String(e); }}
            let bad = null;
            try {{ await fetch("ftp://example.com/"); }} catch (e) {{ bad = String(e); }}
            res.json({{ status: r.status, ok: r.ok, type: r.headers.get("content-type"), data, selfCall, bad }});
            "#,
            own = s.port
        ),
    );
    let r = s.get("proxy.localhost", "/");
    if r.status != 200 {
        std::thread::sleep(Duration::from_millis(1500)); // the log writer flushes each second
        panic!("{} {}\n{}", r.status, r.text(), s.log().join("\n"));
    }
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["status"], 200);
    assert_eq!(v["ok"], true);
    assert_eq!(v["type"], "application/json");
    assert_eq!(v["data"]["answer"], 42);
    assert!(
        v["selfCall"]
            .as_str()
            .unwrap()
            .contains("this cc-server itself"),
        "{v}"
    );
    assert!(v["bad"].as_str().unwrap().contains("not an http"), "{v}");
    let head = heads.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(head.starts_with("POST /data?q=1 "), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("x-key: secret"),
        "{head}"
    );
    // The JSON body (sent after the head, maybe in a second packet) is 17 bytes.
    assert!(
        head.to_ascii_lowercase().contains("content-length: 17"),
        "{head}"
    );
}

#[test]
fn the_keys_per_site_limit_is_configurable() {
    let s = Server::builder().arg("--max-keys").arg("3").start();
    s.write_file(
        "few",
        "main.js",
        r#"try { db.set(req.query.k, 1); res.send("ok"); } catch (e) { res.status(507).send(String(e)); }"#,
    );
    for k in ["a", "b", "c"] {
        assert_eq!(s.get("few.localhost", &format!("/?k={k}")).text(), "ok");
    }
    assert_eq!(
        s.get("few.localhost", "/?k=a").text(),
        "ok",
        "overwriting is not a new key"
    );
    let r = s.get("few.localhost", "/?k=d");
    assert_eq!(r.status, 507);
    assert!(r.text().contains("already has 3 keys"), "{}", r.text());
}

#[test]
fn fetch_to_private_addresses_can_be_refused() {
    let s = Server::builder().arg("--fetch-deny-private").start();
    let (port, _heads) = test_upstream("{}", Duration::ZERO);
    s.write_file(
        "strict",
        "main.js",
        format!(
            r#"try {{ await fetch("http://127.0.0.1:{port}/"); res.send("reached"); }} catch (e) {{ res.send(String(e)); }}"#
        ),
    );
    let text = s.get("strict.localhost", "/").text();
    assert!(text.contains("private address"), "{text}");
}

#[test]
fn a_script_cannot_frame_the_http_response_itself() {
    let s = Server::start();
    s.write_file(
        "framer",
        "main.js",
        r#"
        if (req.path === "/interim") { res.status(101).send("x"); return; }
        if (req.path === "/fn") { try { db.set("f", () => 1); res.send("stored"); } catch (e) { res.send(String(e)); } return; }
        res.header("Content-Length", "2").header("Connection", "close").header("X-Ok", "1")
           .send("ok" + "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nsmuggled!");
        "#,
    );
    // Two requests on one keep-alive connection: the second answer must be the real one.
    use std::io::Write;
    let mut c = s.connect();
    let req = b"GET / HTTP/1.1\r\nHost: framer.localhost\r\n\r\n";
    c.write_all(req).unwrap();
    let first = crate::harness::read_response(&mut c).unwrap();
    assert_eq!(first.header("x-ok"), Some("1"));
    assert!(
        first.text().starts_with("okHTTP/1.1 200 OK"),
        "the whole body is one response: {}",
        first.text()
    );
    c.write_all(req).unwrap();
    let second = crate::harness::read_response(&mut c).unwrap();
    assert_eq!(
        second.header("x-ok"),
        Some("1"),
        "the second answer is the script's, not smuggled"
    );

    assert_eq!(s.get("framer.localhost", "/interim").status, 200);
    assert!(
        s.get("framer.localhost", "/fn")
            .text()
            .contains("no JSON form")
    );
}

#[test]
fn a_site_hoarding_memory_in_globals_recycles_its_worker_instead_of_failing() {
    // This is about memory: a generous time limit keeps a busy test machine from turning it
    // into a timeout.
    let s = Server::builder()
        .arg("--script-timeout-ms")
        .arg("5000")
        .start();
    s.write_file(
        "hog",
        "main.js",
        "globalThis.c ??= []; c.push(new Array(1e6).fill(Math.random())); res.send(String(c.length));",
    );
    let mut counts = Vec::new();
    for _ in 0..60 {
        let r = s.get("hog.localhost", "/");
        assert_eq!(r.status, 200, "after {counts:?}: {}", r.text());
        counts.push(r.text().parse::<u32>().unwrap());
    }
    assert!(
        counts.windows(2).any(|w| w[1] < w[0]),
        "the worker never retired: {counts:?}"
    );
}

#[test]
fn a_lone_surrogate_key_is_refused_and_never_aliases_its_escape() {
    let s = Server::start();
    s.write_file(
        "keys",
        "main.js",
        r#"
        db.set("\\uD800", "escaped");
        let refused = null;
        try { db.set("\uD800", "lone"); } catch (e) { refused = String(e); }
        res.json({ refused, escaped: db.get("\\uD800"), keys: db.list("") });
        "#,
    );
    let r = s.get("keys.localhost", "/");
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(
        v["refused"].as_str().unwrap().contains("lone surrogate"),
        "{v}"
    );
    assert_eq!(v["escaped"], "escaped");
    assert_eq!(v["keys"], serde_json::json!(["\\uD800"]));
}

#[test]
fn a_retried_run_sends_its_fetches_once_and_loses_no_update() {
    use std::collections::HashMap;
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    // An upstream that answers after 50 ms and counts the requests for each id.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let counted = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let counted = counted.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&got).to_string();
                let id = head.split("id=").nth(1).and_then(|r| r.split(' ').next());
                *counted
                    .lock()
                    .unwrap()
                    .entry(id.unwrap_or("?").to_string())
                    .or_default() += 1;
                std::thread::sleep(Duration::from_millis(50));
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            });
        }
    });
    let s = Server::start();
    // The read comes before the fetch, so concurrent runs conflict on "n" at commit.
    s.write_file(
        "hook",
        "main.js",
        format!(
            r#"console.log("attempt " + req.query.id);
            let n = db.get("n") || 0;
            await fetch("http://127.0.0.1:{port}/notify?id=" + req.query.id);
            db.set("n", n + 1);
            res.send("ok");"#
        ),
    );
    let answered: u32 = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let s = &s;
                scope.spawn(move || {
                    (0..6)
                        .filter(|i| {
                            let r = s.get("hook.localhost", &format!("/?id={t}-{i}"));
                            r.status == 200
                        })
                        .count() as u32
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert!(answered > 0);
    let hits = hits.lock().unwrap();
    let most = hits.values().copied().max().unwrap_or(0);
    assert!(
        most == 1,
        "a request's fetch was sent {most} times: {hits:?}"
    );
    // Each attempt logs a line: more attempts than answers means runs were retried, and the
    // retries got their fetch answers without sending them again.
    std::thread::sleep(Duration::from_millis(1500)); // the log writer flushes each second
    let attempts = s.log().iter().filter(|l| l.contains("attempt ")).count() as u32;
    assert!(
        attempts > answered,
        "no run was retried ({attempts} attempts, {answered} answers): this test proved nothing"
    );
    let n =
        s.count("SELECT CAST(value AS INTEGER) FROM kv_store WHERE site_id = 'hook' AND key = 'n'");
    assert_eq!(n, i64::from(answered), "updates were lost");
}
