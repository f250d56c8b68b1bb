//! main.js in the Workers shape (`export default { fetch }`) and the web platform it expects,
//! through the real binary: examples/workers-api deployed with the real CLI, then requests.

use std::time::{Duration, Instant};

use crate::harness::{Server, deploy_example, zip_of};

fn hmac_hex(secret: &[u8], body: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret).unwrap();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_workers_style_module_answers_with_the_web_platform() {
    let s = Server::start();
    let token = s.create_key("ci", &["deploy:*"]);
    deploy_example(&s, &token, "workers-api", "api");
    let host = "api.localhost";

    let r = s.get(host, "/api/hello?name=ann");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v, serde_json::json!({ "hello": "ann", "method": "GET" }));

    // A counter on env.DB: every answer counted once.
    for n in 1..=3 {
        let r = s.get(host, "/api/count");
        assert_eq!(r.text(), format!("{{\"count\":{n}}}"));
    }

    let form = b"name=Ann+Lee&x=%26";
    let r = s.send(
        "POST",
        host,
        "/form",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form,
    );
    assert_eq!((r.status, r.text().as_str()), (200, "thanks, Ann Lee"));

    let r = s.get(host, "/old-page");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("http://api.localhost/api/hello"));

    // An HMAC-signed webhook, verified with crypto.subtle against the site's secret.
    s.db()
        .execute(
            "INSERT INTO env_vars (site_id, key, value) VALUES ('api', 'WEBHOOK_SECRET', 'shh')",
            [],
        )
        .unwrap();
    let body = br#"{"event":"paid"}"#;
    let good = format!("sha256={}", hmac_hex(b"shh", body));
    let r = s.send("POST", host, "/webhook", &[("X-Signature", &good)], body);
    assert_eq!((r.status, r.text().as_str()), (200, "{\"ok\":true}"));
    let r = s.send(
        "POST",
        host,
        "/webhook",
        &[("X-Signature", "sha256=00")],
        body,
    );
    assert_eq!(r.status, 401);

    let r = s.request("GET", host, "/headers", &[("X-Test", "round trip")]);
    assert_eq!(r.header("x-echo"), Some("round trip"));
    assert_eq!(r.header("set-cookie"), Some("seen=1; Path=/"));

    let r = s.get(host, "/later");
    assert_eq!(r.text(), "answered");
    let later: Vec<(String,)> =
        s.rows("SELECT value FROM kv_store WHERE site_id = 'api' AND key = 'later'");
    assert_eq!(later.len(), 1, "waitUntil's write is kept");

    let r = s.get(host, "/timer");
    assert_eq!((r.status, r.text().as_str()), (200, "after 20 ms"));

    let r = s.get(host, "/uuid");
    let uuid = r.text();
    assert_eq!(uuid.len(), 36, "{uuid}");
    assert_eq!(&uuid[14..15], "4", "{uuid}");

    let r = s.get(host, "/bytes");
    assert_eq!(r.body, [0u8, 1, 2, 255]);

    let r = s.get(host, "/nope");
    assert_eq!(r.status, 404);
}

#[test]
fn timers_past_the_limit_and_broken_modules_get_clear_answers() {
    let s = Server::start();
    let token = s.create_key("ci", &["deploy:*"]);
    let module = br#"
export default {
  fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/late") return new Promise((r) => setTimeout(() => r(new Response("never")), 60000));
    if (path === "/throw") throw new TypeError("this went wrong");
    if (path === "/not-a-response") return "plain text";
    return new Response(new TextDecoder().decode(new TextEncoder().encode(btoa("hi"))));
  },
};
"#;
    let r = s.deploy_raw(
        Some(&token),
        "mod",
        &zip_of(&[("main.js", module.as_slice())]),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.get("mod.localhost", "/").text(), "aGk=");
    let start = Instant::now();
    let r = s.get("mod.localhost", "/late");
    assert!(r.status >= 500, "{} {}", r.status, r.text());
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "a timer past the limit is not waited for"
    );
    let r = s.get("mod.localhost", "/throw");
    assert_eq!(r.status, 500);
    let r = s.get("mod.localhost", "/not-a-response");
    assert_eq!(r.status, 500);
    // Site log lines reach the server's log within a moment.
    let start = Instant::now();
    while !s.log_contains("must return a Response") && start.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = s.log().join("\n");
    assert!(log.contains("this went wrong"), "{log}");
    assert!(log.contains("must return a Response"), "{log}");
    // Errors name main.js's own lines.
    assert!(log.contains("main.js:"), "{log}");

    // A syntax error is refused at deploy with its line, and the live module stays.
    let broken =
        b"export default {\n  fetch(request) {\n    return new Response(\"x\";\n  },\n};\n";
    let r = s.deploy_raw(
        Some(&token),
        "mod",
        &zip_of(&[("main.js", broken.as_slice())]),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("line 3") || r.text().contains("3:"),
        "{}",
        r.text()
    );
    assert_eq!(s.get("mod.localhost", "/").text(), "aGk=");
    // ... and so is a classic script's.
    let r = s.deploy_raw(
        Some(&token),
        "classic",
        &zip_of(&[("main.js", b"res.send(\"x\"".as_slice())]),
    );
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn a_cron_trigger_runs_scheduled_on_its_minutes_and_a_bad_one_is_refused() {
    // A test clock: each second is a cron minute.
    let s = Server::builder().env("CC_CRON_MINUTE_SECS", "1").start();
    let token = s.create_key("ci", &["deploy:*"]);
    let module = br#"
export const cron = "* * * * *";
export default {
  fetch() { return new Response("hi"); },
  async scheduled(event, env) {
    const runs = Number((await env.DB.get("runs")) || 0) + 1;
    await env.DB.put("runs", String(runs));
    await env.DB.put("last-cron", event.cron);
  },
};
"#;
    let r = s.deploy_raw(
        Some(&token),
        "tick",
        &zip_of(&[("main.js", module.as_slice())]),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let runs = || {
        s.rows::<(String,)>("SELECT value FROM kv_store WHERE site_id = 'tick' AND key = 'runs'")
            .first()
            .map(|v| v.0.trim_matches('"').parse::<u32>().unwrap_or(0))
            .unwrap_or(0)
    };
    let start = Instant::now();
    while runs() < 2 && start.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(runs() >= 2, "scheduled() ran {} times", runs());
    let cron: Vec<(String,)> =
        s.rows("SELECT value FROM kv_store WHERE site_id = 'tick' AND key = 'last-cron'");
    assert_eq!(cron[0].0, "\"* * * * *\"");
    assert!(s.log_contains("scheduled() ran"), "{:?}", s.log());

    let bad = b"export const cron = \"every minute\";\nexport default { fetch() { return new Response(''); } };";
    let r = s.deploy_raw(
        Some(&token),
        "tick",
        &zip_of(&[("main.js", bad.as_slice())]),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("cron"), "{}", r.text());
}

#[test]
fn socket_open_and_close_handlers_run_once_per_client() {
    let s = Server::start();
    s.write_file(
        "room",
        "main.js",
        r#"
socket.on("open", (_, client) => {
  db.set("opened", (db.get("opened") || 0) + 1);
  socket.broadcast("welcome " + client.id);
});
socket.on("close", () => db.set("closed", (db.get("closed") || 0) + 1));
res.send("room");
"#,
    );
    let mut ws = crate::harness::connect(&s, "room");
    let hello = ws.read().unwrap();
    assert!(
        hello.to_text().unwrap().starts_with("welcome "),
        "{hello:?}"
    );
    ws.close(None).unwrap();
    let _ = ws.read();
    let count = |key: &str| -> i64 {
        s.rows::<(String,)>(&format!(
            "SELECT value FROM kv_store WHERE site_id = 'room' AND key = '{key}'"
        ))
        .first()
        .map_or(0, |v| v.0.parse().unwrap_or(0))
    };
    let start = Instant::now();
    while count("closed") < 1 && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!((count("opened"), count("closed")), (1, 1));
    // A site without handlers: opening and closing relay nothing.
    s.write_file("quiet", "main.js", "res.send('quiet');");
    let mut a = crate::harness::connect(&s, "quiet");
    let mut b = crate::harness::connect(&s, "quiet");
    b.close(None).unwrap();
    a.send(tungstenite::Message::text("only this")).unwrap();
    assert_eq!(a.read().unwrap().to_text().unwrap(), "only this");
}

#[test]
fn a_classic_script_has_the_web_platform_too() {
    let s = Server::start();
    s.write_file(
        "classic",
        "main.js",
        r#"
const url = new URL("http://x.test/p?q=" + encodeURIComponent(req.query.q || ""));
const bytes = new TextEncoder().encode(url.searchParams.get("q"));
const digest = await crypto.subtle.digest("SHA-256", bytes);
const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
const into = new TextEncoder().encodeInto("hé", new Uint8Array(2));
setTimeout(() => res.send(hex + " " + new Headers({ "X-A": "1" }).get("x-a") + " " + into.read + into.written), 5);
"#,
    );
    let r = s.get("classic.localhost", "/?q=abc");
    assert_eq!(
        r.text(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad 1 11"
    );
}

#[test]
fn a_multipart_form_is_read_with_form_data() {
    let s = Server::start();
    s.write_file(
        "forms",
        "main.js",
        r#"
export default {
  async fetch(request) {
    const form = await request.formData();
    const file = form.get("upload");
    return Response.json({ name: form.get("name"), file: file.name, type: file.type, text: await file.text() });
  },
};
"#,
    );
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nAnn\r\n\
                --XyZ\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"a.txt\"\r\n\
                Content-Type: text/plain\r\n\r\nhello file\r\n--XyZ--\r\n";
    let r = s.send(
        "POST",
        "forms.localhost",
        "/",
        &[("Content-Type", "multipart/form-data; boundary=XyZ")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({ "name": "Ann", "file": "a.txt", "type": "text/plain", "text": "hello file" })
    );
    // A megabyte of dashes (every byte could start a delimiter) is found bad in one pass of
    // the server's own search: a 500 from the script, not a 503 at the run's time limit (a
    // search in JS took a second and the watchdog).
    let dashes = vec![b'-'; 1 << 20];
    let r = s.send(
        "POST",
        "forms.localhost",
        "/",
        &[("Content-Type", "multipart/form-data; boundary=--x")],
        &dashes,
    );
    assert_eq!(r.status, 500, "{}", r.text());
}

#[test]
fn a_failed_runs_timers_and_busy_handlers_cannot_reach_later_runs() {
    let s = Server::start();
    s.write_file(
        "edge",
        "main.js",
        r#"
export default {
  async fetch(request, env, ctx) {
    const path = new URL(request.url).pathname;
    if (path === "/stale") {
      // Its run fails; the timer must never fire in a later run.
      setTimeout(() => env.DB.put("stale", "fired"), 30);
      throw new Error("fails on purpose");
    }
    if (path === "/spin") {
      const f = () => { let n = 0; for (let i = 0; i < 1000; i++) n++; return n; };
      const t = Date.now();
      while (Date.now() - t < 3000) f();
      return new Response("spun");
    }
    if (path === "/lingering") {
      ctx.waitUntil(new Promise(() => {}));
      return new Response("answered anyway");
    }
    await new Promise((r) => setTimeout(r, 60));
    return new Response(new URL(request.url).searchParams.get("name") || "none");
  },
};
"#,
    );
    assert_eq!(s.get("edge.localhost", "/stale").status, 500);
    // A later run waits past the stale timer's time.
    assert_eq!(s.get("edge.localhost", "/?name=ok").text(), "ok");
    let stale: Vec<(String,)> =
        s.rows("SELECT value FROM kv_store WHERE site_id = 'edge' AND key = 'stale'");
    assert!(
        stale.is_empty(),
        "a failed run's timer fired later: {stale:?}"
    );
    // A handler that loops in nested calls stops at the run's limit, inside its worker (the
    // watchdog killing the worker, at about a second, says otherwise in the log).
    let r = s.get("edge.localhost", "/spin");
    assert_eq!(r.status, 503, "{}", r.text());
    let start = Instant::now();
    while !s.log_contains("ran longer than its 100 ms limit")
        && start.elapsed() < Duration::from_secs(3)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        s.log_contains("ran longer than its 100 ms limit"),
        "{:?}",
        s.log()
    );
    std::thread::sleep(Duration::from_millis(1100)); // the site's cool-down
    // A malformed escape in a query is kept as text, as browsers do.
    assert_eq!(s.get("edge.localhost", "/?name=100%").text(), "100%");
    assert_eq!(
        s.get("edge.localhost", "/lingering").text(),
        "answered anyway"
    );
}
