//! A user's day with the whole personal cloud, through the real binary, its CLI and two
//! headless Chromium pages: keys, three deployed examples, a chat between two browsers, a
//! redeploy and a rollback, the analytics page, and a restart that keeps everything.

use std::path::Path;

use crate::admin::PASSWORD;
use crate::browser::Browser;
use crate::harness::deploy_examples;
use crate::harness::{Server, copy_dir, run_cli, run_cli_in};

#[test]
fn a_day_with_the_personal_cloud() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("cc");
    let data_arg = data.to_str().unwrap().to_string();
    let mut s = Server::builder()
        .data_dir(&data)
        .env("CC_ADMIN_PASSWORD", PASSWORD)
        .start();

    // A deploy key made on the server, as over SSH.
    let (code, out, err) = run_cli(&[
        "keys",
        "create",
        "--name",
        "laptop",
        "--data-dir",
        &data_arg,
    ]);
    assert_eq!(code, 0, "{err}");
    let token = out.lines().last().unwrap().trim().to_string();

    // Deploy all three examples with the CLI.
    deploy_examples(&s, &token);

    // The static site: its pages and its own 404.
    assert!(
        s.get("hello.localhost", "/")
            .text()
            .contains("Hello from cc-server")
    );
    assert!(s.get("hello.localhost", "/about/").text().contains("About"));
    assert!(
        s.get("hello.localhost", "/style.css")
            .header("content-type")
            .unwrap()
            .starts_with("text/css")
    );
    let missing = s.get("hello.localhost", "/no/such/page");
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("nothing here"));

    // The counter counts, from curl and from a browser page.
    assert_eq!(
        s.get("counter.localhost", "/count").text(),
        r#"{"visits":1}"#
    );
    assert_eq!(
        s.get("counter.localhost", "/count").text(),
        r#"{"visits":2}"#
    );
    let alice = Browser::start();
    alice.goto(&format!("http://counter.localhost:{}/", s.port));
    // (A browser also asks for /favicon.ico, which the script counts too: compare, not match.)
    let shown = |b: &Browser| -> u64 {
        for _ in 0..100 {
            if let Ok(n) = b.text("#count").parse() {
                return n;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the counter page never showed a number");
    };
    let first = shown(&alice);
    assert!(first >= 3, "{first}");
    alice.click("#again");
    for _ in 0..100 {
        if shown(&alice) > first {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(shown(&alice) > first, "Count again counted");

    // Two browsers on the chat: each sees what the other says, as text.
    let bob = Browser::start();
    let chat = format!("http://chat.localhost:{}/", s.port);
    for b in [&alice, &bob] {
        b.goto(&chat);
        // The status line empties once the WebSocket is open.
        b.find("#status");
        for _ in 0..100 {
            if b.text("#status").is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(b.text("#status"), "", "connected");
    }
    alice.type_into("#name", "alice");
    alice.type_into("#text", "hi bob <b>bold?</b>");
    alice.click("#send button");
    bob.wait_text("#log", "hi bob <b>bold?</b>");
    bob.type_into("#name", "bob");
    bob.type_into("#text", "hello alice");
    bob.click("#send button");
    alice.wait_text("#log", "hello alice");
    assert!(
        !bob.exists("#log b b"),
        "what alice typed is text, not HTML"
    );
    bob.screenshot("day-chat-bob");
    drop(bob);

    // Redeploy the static site with a change, then roll back to the first version.
    let work = home.path().join("site-v2");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/static-site"),
        &work,
    );
    let index = std::fs::read_to_string(work.join("index.html")).unwrap();
    std::fs::write(
        work.join("index.html"),
        index.replace("Hello from cc-server", "Version two"),
    )
    .unwrap();
    let (code, out, err) = run_cli_in(
        &work,
        &["deploy", "hello", "--server", &s.url(), "--token", &token],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Deployment successful"));
    assert!(s.get("hello.localhost", "/").text().contains("Version two"));
    let (code, _, err) = run_cli(&["rollback", "hello", "--server", &s.url(), "--token", &token]);
    assert_eq!(code, 0, "{err}");
    assert!(
        s.get("hello.localhost", "/")
            .text()
            .contains("Hello from cc-server")
    );

    // The admin looks at the analytics in the browser: the visits are there.
    let dashboard = format!("http://localhost:{}", s.port);
    alice.goto(&format!("{dashboard}/login"));
    alice.type_into("input[name=password]", PASSWORD);
    alice.click("button[type=submit]");
    alice.wait_text("h1", "Analytics");
    let mut shown = String::new();
    for _ in 0..50 {
        alice.goto(&format!("{dashboard}/analytics?days=7"));
        shown = alice.text("#top-sites");
        if ["hello", "counter", "chat"]
            .iter()
            .all(|s| shown.contains(s))
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        ["hello", "counter", "chat"]
            .iter()
            .all(|s| shown.contains(s)),
        "{shown}"
    );
    let pageviews: u64 = alice
        .text("#pageviews")
        .replace('\u{202f}', "")
        .parse()
        .unwrap();
    assert!(pageviews >= 10, "{pageviews}");
    alice.screenshot("day-analytics");
    alice.goto(&format!("{dashboard}/sites"));
    alice.wait_text("#sites", "counter");
    drop(alice);

    // Restart: the sites, the key, the counter's data and the chat history are all still there.
    let before: serde_json::Value =
        serde_json::from_str(&s.get("counter.localhost", "/count").text()).unwrap();
    assert!(s.stop().success());
    let s = Server::builder().data_dir(&data).start();
    assert!(
        !s.log_contains("/setup?token="),
        "the password survived the restart"
    );
    let after: serde_json::Value =
        serde_json::from_str(&s.get("counter.localhost", "/count").text()).unwrap();
    assert_eq!(
        after["visits"].as_u64(),
        before["visits"].as_u64().map(|n| n + 1),
        "the counter goes on from where it was"
    );
    let history = s.get("chat.localhost", "/history").text();
    assert!(
        history.contains("hello alice") && history.contains("hi bob"),
        "{history}"
    );
    let (code, out, err) = run_cli(&["sites", "--server", &s.url(), "--token", &token]);
    assert_eq!(code, 0, "{err}");
    for site in ["hello", "counter", "chat"] {
        assert!(out.contains(site), "{out}");
    }
    assert!(
        s.get("hello.localhost", "/")
            .text()
            .contains("Hello from cc-server")
    );
    crate::admin::login(&s);
}
