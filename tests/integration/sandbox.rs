//! A site's main.js is a sandbox: no door to the server's files, to another site's folder or
//! code, or to the server's paths. Every probe runs through the real binary, as a hostile
//! tenant's script would.

use crate::harness::Server;

/// Tries every way a script could load a file and reports what each attempt gave.
const PROBE: &str = r#"
const data = __DATA__;
const attempts = {
  etc_passwd: () => import("/etc/passwd"),
  relative_cargo: () => import("./Cargo.toml"),
  other_env: () => import(data + "/sites/victim/.env"),
  other_json: () => import(data + "/sites/victim/config.json", { with: { type: "json" } }),
  other_main: () => import(data + "/sites/victim/main.js"),
  own_main: () => import(data + "/sites/prober/main.js"),
  via_eval: () => eval('import("/etc/passwd")'),
  via_function: () => new Function('return import("/etc/hostname")')(),
};
const out = {};
for (const [name, attempt] of Object.entries(attempts)) {
  try {
    const m = await attempt();
    out[name] = "loaded: " + JSON.stringify(m && m.default);
  } catch (e) {
    out[name] = "refused: " + String(e);
  }
}
out.incoming_keys = Object.keys(globalThis.__ccIncoming || {});
out.pwned = globalThis.PWNED || null;
out.db_pwned = db.get("pwned");
res.json(out);
"#;

#[test]
fn a_script_can_load_no_file_and_see_no_server_path() {
    let s = Server::start();
    let data = s.data_dir.canonicalize().unwrap();
    let data = data.to_str().unwrap();
    s.write_file("victim", ".env", "SECRET_TOKEN=victim-secret-1234\n");
    s.write_file(
        "victim",
        "config.json",
        r#"{"password":"victim-json-5678"}"#,
    );
    s.write_file(
        "victim",
        "main.js",
        "globalThis.PWNED = 'victim code ran'; db.set('pwned', 1); res.send('victim');",
    );
    s.write_file(
        "prober",
        "main.js",
        PROBE.replace("__DATA__", &serde_json::to_string(data).unwrap()),
    );

    let r = s.get("prober.localhost", "/");
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let out: serde_json::Value = serde_json::from_str(&text).unwrap();
    for name in [
        "etc_passwd",
        "relative_cargo",
        "other_env",
        "other_json",
        "other_main",
        "own_main",
        "via_eval",
        "via_function",
    ] {
        let result = out[name].as_str().unwrap();
        assert!(
            result.starts_with("refused: "),
            "{name} must be refused: {result}"
        );
    }
    for secret in [
        "victim-secret-1234",
        "victim-json-5678",
        "root:",
        "[package]",
        data,
    ] {
        assert!(
            !text.contains(secret),
            "the answer leaks {secret:?}: {text}"
        );
    }
    assert_eq!(out["pwned"], serde_json::Value::Null, "{text}");
    assert_eq!(out["db_pwned"], serde_json::Value::Null, "{text}");
    assert!(
        !out["incoming_keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == "root"),
        "the request frame must not carry the site's path: {text}"
    );
    // The victim's own db is untouched too, and its script still runs as its own.
    assert_eq!(s.get("victim.localhost", "/").text(), "victim");
}

#[test]
fn error_messages_name_no_server_path() {
    let mut s = Server::start();
    let data = s.data_dir.canonicalize().unwrap();
    s.write_file(
        "errs",
        "main.js",
        r#"
        const seen = [];
        for (const f of [
          () => { throw new Error("plain"); },
          () => undefinedName.x,
          () => JSON.parse("{"),
          () => new Function("return (")(),
        ]) {
          try { f(); } catch (e) { seen.push(String(e), String(e.stack || "")); }
        }
        res.json(seen);
        "#,
    );
    let r = s.get("errs.localhost", "/");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!r.text().contains(data.to_str().unwrap()), "{}", r.text());
    // A failed import quotes nothing of the file in the site's log.
    s.write_file("errs", "main.js", "await import('/etc/passwd');");
    let r = s.get("errs.localhost", "/");
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(s.stop().success());
    let log = s.log().join("\n");
    assert!(log.contains("site errs: [error] main.js failed"), "{log}");
    assert!(!log.contains("root:"), "{log}");
}
