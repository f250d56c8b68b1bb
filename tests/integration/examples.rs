//! The examples in examples/ deploy with the real CLI and work as their READMEs say.

use std::time::Duration;

use tungstenite::Message;

use crate::harness::{Server, connect, deploy_examples};

#[test]
fn the_examples_deploy_and_work() {
    let s = Server::start();
    let token = s.create_key("examples", &[]);
    deploy_examples(&s, &token);

    assert!(
        s.get("hello.localhost", "/")
            .text()
            .contains("Hello from cc-server")
    );
    assert!(s.get("hello.localhost", "/about/").text().contains("About"));
    let r = s.get("hello.localhost", "/nowhere");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("nothing here"));

    assert!(s.get("counter.localhost", "/").text().contains("/count"));
    assert_eq!(
        s.get("counter.localhost", "/count").text(),
        r#"{"visits":1}"#
    );
    assert_eq!(
        s.get("counter.localhost", "/count").text(),
        r#"{"visits":2}"#
    );

    // Two chat clients: one speaks, both hear it, and the history keeps it (as text).
    let (mut alice, mut bob) = (connect(&s, "chat"), connect(&s, "chat"));
    std::thread::sleep(Duration::from_millis(200));
    alice
        .send(Message::text(r#"{"name":"alice","text":"<b>hi</b> bob"}"#))
        .unwrap();
    for ws in [&mut alice, &mut bob] {
        let m = loop {
            if let Message::Text(t) = ws.read().unwrap() {
                break t.as_str().to_string();
            }
        };
        let v: serde_json::Value = serde_json::from_str(&m).unwrap();
        assert_eq!(
            (v["name"].as_str(), v["text"].as_str()),
            (Some("alice"), Some("<b>hi</b> bob"))
        );
    }
    let history: serde_json::Value =
        serde_json::from_slice(&s.get("chat.localhost", "/history").body).unwrap();
    assert_eq!(history[0]["text"], "<b>hi</b> bob");
    assert!(s.get("chat.localhost", "/").text().contains("textContent"));
}
