//! Who may see a site and under which names: password-protected sites (HTTP Basic auth from
//! `cc-server protect` or a deployed `AUTH` file) and custom domains (a deployed `CNAME` file
//! or `cc-server domains`), through the real binary, CLI and deploys.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{BIN, HttpResponse, Server, run_cli, zip_of};

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Runs the CLI with `stdin` as its standard input.
fn cli_with_stdin(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Polls `check` for up to 5 s (the server reads CLI changes every two seconds).
fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn get_as(s: &Server, host: &str, path: &str, auth: Option<&str>) -> HttpResponse {
    match auth {
        Some(a) => s.request("GET", host, path, &[("Authorization", a)]),
        None => s.get(host, path),
    }
}

#[test]
fn a_protected_site_asks_for_its_password_everywhere_and_limits_guessing() {
    let s = Server::start();
    s.write_file("vault", "index.html", "the secret page");
    s.write_file(
        "vault",
        "main.js",
        "res.send(req.headers.authorization ? 'saw the password' : 'the secret api');",
    );
    let data_dir = s
        .sites_dir()
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let (code, out, err) = cli_with_stdin(
        &["protect", "vault", "--user", "ann", "--data-dir", &data_dir],
        "correct horse\n",
    );
    assert_eq!(code, 0, "{out}{err}");
    let good = basic("ann", "correct horse");

    assert!(eventually(|| get_as(&s, "vault.localhost", "/", None)
        .status
        == 401));
    let r = get_as(&s, "vault.localhost", "/", None);
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .starts_with("Basic realm=\"vault\"")
    );
    assert!(!r.text().contains("secret page"));
    let r = get_as(&s, "vault.localhost", "/", Some(&good));
    assert_eq!((r.status, r.text().as_str()), (200, "the secret page"));
    let r = get_as(&s, "vault.localhost", "/api", Some(&good));
    assert_eq!((r.status, r.text().as_str()), (200, "the secret api"));
    assert_eq!(get_as(&s, "vault.localhost", "/api", None).status, 401);

    // The WebSocket is behind the same door.
    let upgrade = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ];
    let r = s.request("GET", "vault.localhost", "/ws", &upgrade);
    assert_eq!(r.status, 401);

    // Other sites are untouched.
    s.write_file("open", "index.html", "public");
    assert_eq!(s.get("open.localhost", "/").status, 200);

    // Ten wrong passwords from one address, then 429 even with the right one.
    let wrong = basic("ann", "wrong horse");
    for _ in 0..10 {
        assert_eq!(get_as(&s, "vault.localhost", "/", Some(&wrong)).status, 401);
    }
    let r = get_as(&s, "vault.localhost", "/", Some(&wrong));
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.header("retry-after").is_some());

    // --off makes it public again.
    let (code, _, err) = run_cli(&["protect", "vault", "--off", "--data-dir", &data_dir]);
    assert_eq!(code, 0, "{err}");
    assert!(eventually(|| s.get("vault.localhost", "/").status == 200));
}

#[test]
fn a_deployed_auth_file_protects_the_site_and_only_its_hashes_are_kept() {
    let s = Server::start();
    let token = s.create_key("ci", &["deploy:team"]);
    let zip = zip_of(&[
        ("index.html", b"team only".as_slice()),
        ("AUTH", b"ann:correct horse\nbob:battery staple\n"),
    ]);
    let r = s.deploy_raw(Some(&token), "team", &zip);
    assert_eq!(r.status, 200, "{}", r.text());
    let kept = std::fs::read_to_string(s.sites_dir().join("team/AUTH")).unwrap();
    assert!(
        !kept.contains("correct horse") && !kept.contains("battery"),
        "plain-text passwords stay on disk: {kept}"
    );
    assert!(
        kept.contains("ann:$argon2id$") && kept.contains("bob:$argon2id$"),
        "{kept}"
    );
    let r = get_as(
        &s,
        "team.localhost",
        "/AUTH",
        Some(&basic("ann", "correct horse")),
    );
    assert_eq!(r.status, 404, "the AUTH file is served");
    assert_eq!(s.get("team.localhost", "/").status, 401);
    let r = get_as(
        &s,
        "team.localhost",
        "/",
        Some(&basic("bob", "battery staple")),
    );
    assert_eq!((r.status, r.text().as_str()), (200, "team only"));
    let phc: Vec<(String,)> = s.rows("SELECT phc FROM site_passwords WHERE site = 'team'");
    assert!(
        phc.len() == 2 && phc.iter().all(|h| h.0.starts_with("$argon2id$")),
        "{phc:?}"
    );

    // A bad AUTH line refuses the deploy and leaves the live site.
    let zip = zip_of(&[
        ("index.html", b"changed".as_slice()),
        ("AUTH", b"ann:correct horse\nnocolon\n"),
    ]);
    let r = s.deploy_raw(Some(&token), "team", &zip);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("line 2"), "{}", r.text());
    let r = get_as(
        &s,
        "team.localhost",
        "/",
        Some(&basic("ann", "correct horse")),
    );
    assert_eq!(r.text(), "team only");

    // A deploy without AUTH drops the users its AUTH gave.
    let r = s.deploy_raw(
        Some(&token),
        "team",
        &zip_of(&[("index.html", b"open now".as_slice())]),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.get("team.localhost", "/").text(), "open now");
}

#[test]
fn custom_domains_route_to_their_site_one_owner_each() {
    let s = Server::start();
    let token = s.create_key("ci", &["deploy:*"]);
    let zip = zip_of(&[
        ("index.html", b"the blog".as_slice()),
        ("CNAME", b"www.example.com\n"),
    ]);
    let r = s.deploy_raw(Some(&token), "blog", &zip);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.get("www.example.com", "/");
    assert_eq!((r.status, r.text().as_str()), (200, "the blog"));
    assert_eq!(s.get("www.example.com:4698", "/").text(), "the blog");
    assert_eq!(s.get("other.example.com", "/").status, 404);
    // Visits under the custom name count for the site.
    assert!(eventually(|| {
        s.count("SELECT COUNT(*) FROM events WHERE domain = 'blog'") >= 1
    }));

    // A second site claiming the same host: 409, its live site untouched.
    let zip = zip_of(&[
        ("index.html", b"the shop".as_slice()),
        ("CNAME", b"www.example.com"),
    ]);
    let r = s.deploy_raw(Some(&token), "shop", &zip);
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("blog"), "{}", r.text());
    // The server's own names cannot be claimed.
    for own in ["localhost", "blog.localhost", "127.0.0.1"] {
        let zip = zip_of(&[("index.html", b"x".as_slice()), ("CNAME", own.as_bytes())]);
        let r = s.deploy_raw(Some(&token), "shop", &zip);
        assert_eq!(r.status, 400, "{own}: {}", r.text());
    }

    // The CLI adds, lists and removes; a running server picks it up.
    let shop = zip_of(&[("index.html", b"the shop".as_slice())]);
    assert_eq!(s.deploy_raw(Some(&token), "shop", &shop).status, 200);
    let data_dir = s
        .sites_dir()
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let (code, out, err) = run_cli(&[
        "domains",
        "add",
        "shop",
        "shop.example.org",
        "--data-dir",
        &data_dir,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = run_cli(&[
        "domains",
        "add",
        "shop",
        "www.example.com",
        "--data-dir",
        &data_dir,
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("blog"), "{err}");
    let (_, out, _) = run_cli(&["domains", "list", "--data-dir", &data_dir]);
    assert!(
        out.contains("shop.example.org") && out.contains("www.example.com"),
        "{out}"
    );
    assert!(eventually(
        || s.get("shop.example.org", "/").text() == "the shop"
    ));
    let (code, _, err) = run_cli(&[
        "domains",
        "remove",
        "shop",
        "shop.example.org",
        "--data-dir",
        &data_dir,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(eventually(|| s.get("shop.example.org", "/").status == 404));
}

#[test]
fn a_rollback_brings_back_the_password_of_the_files_it_brings_back() {
    let s = Server::start();
    let token = s.create_key("ci", &["deploy:team"]);
    let v1 = zip_of(&[
        ("index.html", b"v1 secret".as_slice()),
        ("AUTH", b"ann:correct horse\n"),
    ]);
    assert_eq!(s.deploy_raw(Some(&token), "team", &v1).status, 200);
    assert_eq!(s.get("team.localhost", "/").status, 401);
    let v2 = zip_of(&[("index.html", b"v2 public".as_slice())]);
    assert_eq!(s.deploy_raw(Some(&token), "team", &v2).status, 200);
    assert_eq!(s.get("team.localhost", "/").text(), "v2 public");

    let rollback = |expected: u16| {
        let bearer = format!("Bearer {token}");
        let path = "/api/sites/team/rollback";
        let r = s.send(
            "POST",
            "localhost",
            path,
            &[("Authorization", &bearer)],
            b"",
        );
        assert_eq!(r.status, expected, "{}", r.text());
    };
    rollback(200);
    let r = s.get("team.localhost", "/");
    assert_eq!(
        r.status,
        401,
        "v1 is back without its password: {}",
        r.text()
    );
    let good = basic("ann", "correct horse");
    let r = get_as(&s, "team.localhost", "/", Some(&good));
    assert_eq!((r.status, r.text().as_str()), (200, "v1 secret"));
    // And forward again: v2 had no AUTH.
    rollback(200);
    assert_eq!(s.get("team.localhost", "/").text(), "v2 public");

    // A previous folder whose AUTH is not the hashed form (made by hand) is not brought back.
    std::fs::write(
        s.data_dir.join("deploy/previous/team/AUTH"),
        "ann:correct horse\n",
    )
    .unwrap();
    rollback(400);
    assert_eq!(s.get("team.localhost", "/").text(), "v2 public");
}

#[test]
fn a_deploy_cannot_undo_what_the_admin_set() {
    let s = Server::start();
    let token = s.create_key("ci", &["deploy:team"]);
    let zip = zip_of(&[("index.html", b"team".as_slice())]);
    assert_eq!(s.deploy_raw(Some(&token), "team", &zip).status, 200);
    let data_dir = s.data_dir.to_str().unwrap().to_string();
    let (code, out, err) = cli_with_stdin(
        &["protect", "team", "--user", "ann", "--data-dir", &data_dir],
        "admin horse\n",
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = run_cli(&[
        "domains",
        "add",
        "team",
        "team.example.org",
        "--data-dir",
        &data_dir,
    ]);
    assert_eq!(code, 0, "{err}");

    // An AUTH naming the admin's user is refused, and names it.
    let zip = zip_of(&[
        ("index.html", b"changed".as_slice()),
        ("AUTH", b"ann:deployer horse\n"),
    ]);
    let r = s.deploy_raw(Some(&token), "team", &zip);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("'ann'"), "{}", r.text());
    // A CNAME for the admin's domain, then a deploy without it: the domain stays.
    let zip = zip_of(&[
        ("index.html", b"v2".as_slice()),
        ("CNAME", b"team.example.org\n"),
        ("AUTH", b"bob:battery staple\n"),
    ]);
    assert_eq!(s.deploy_raw(Some(&token), "team", &zip).status, 200);
    let zip = zip_of(&[("index.html", b"v3".as_slice())]);
    assert_eq!(s.deploy_raw(Some(&token), "team", &zip).status, 200);
    let sources: Vec<(String, String)> =
        s.rows("SELECT user, source FROM site_passwords WHERE site = 'team'");
    assert_eq!(sources, [("ann".to_string(), "admin".to_string())]);
    let hosts: Vec<(String, String)> = s.rows("SELECT host, source FROM domains");
    assert_eq!(
        hosts,
        [("team.example.org".to_string(), "admin".to_string())]
    );
    let admin = basic("ann", "admin horse");
    assert_eq!(get_as(&s, "team.localhost", "/", None).status, 401);
    let r = get_as(&s, "team.example.org", "/", Some(&admin));
    assert_eq!((r.status, r.text().as_str()), (200, "v3"));
}
