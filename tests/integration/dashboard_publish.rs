//! The dashboard's publishing controls over HTTP, with a session and its CSRF token: a site's
//! password and custom domains from its page, and `POST /sites/deploy` (the Hosting page's
//! browser deploy), whose CSRF token comes in a header and is checked before the upload.

use serde_json::Value;

use crate::admin::{Admin, audit_actions, host, login, origin, server};
use crate::harness::{HttpResponse, Server, zip_of};

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// A 303 to `to`.
fn assert_redirect(r: &HttpResponse, to: &str) {
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.header("location"), Some(to));
}

#[test]
fn a_site_is_protected_and_made_public_from_its_page() {
    let s = server();
    s.write_file("vault", "index.html", "the vault");
    let admin = login(&s);

    let page = admin.get("/sites/vault").text();
    assert!(page.contains("<h2>Password</h2>"), "{page}");
    assert!(page.contains("Anyone with the link can open this site"));
    assert!(page.contains("action=\"/sites/vault/protect\""));
    assert!(page.contains("autocomplete=\"new-password\""));
    assert!(page.contains("<code>AUTH</code>") && page.contains("cc-server protect"));
    // The new sections come before the teardown.
    let (password, domains, danger) = (
        page.find("id=\"site-password\"").unwrap(),
        page.find("id=\"site-domains\"").unwrap(),
        page.find("id=\"danger\"").unwrap(),
    );
    assert!(password < danger && domains < danger);
    assert!(
        !page.contains("action=\"/sites/vault/unprotect\""),
        "a public site has nothing to make public"
    );

    // Without the CSRF token nothing changes.
    let forged = crate::admin::post_as(
        &s,
        "/sites/vault/protect",
        Some(&origin(&s)),
        Some(&admin.cookie),
        "user=ann&password=correct+horse",
    );
    assert_eq!(forged.status, 403);
    assert_eq!(s.get("vault.localhost", "/").status, 200);

    // A refused password says why, on the page.
    let short = admin.post(
        "/sites/vault/protect",
        &[("user", "ann"), ("password", "short")],
    );
    assert_eq!(short.status, 400);
    assert!(short.text().contains("class=\"error\""), "{}", short.text());
    assert_eq!(s.get("vault.localhost", "/").status, 200);

    let saved = admin.post(
        "/sites/vault/protect",
        &[("user", "ann"), ("password", "correct horse")],
    );
    assert_redirect(&saved, "/sites/vault?done=user-saved#site-password");
    let good = basic("ann", "correct horse");
    assert_eq!(s.get("vault.localhost", "/").status, 401);
    let r = s.request("GET", "vault.localhost", "/", &[("Authorization", &good)]);
    assert_eq!((r.status, r.text().as_str()), (200, "the vault"));
    // A second user; then a new password for the first.
    let bob = admin.post(
        "/sites/vault/protect",
        &[("user", "bob"), ("password", "bob's password")],
    );
    assert_eq!(bob.status, 303);
    let page = admin.get("/sites/vault?done=user-saved").text();
    assert!(
        page.contains("Saved: the site asks for a password"),
        "{page}"
    );
    assert!(page.contains("protected"));
    assert!(page.contains("<code>ann</code>") && page.contains("<code>bob</code>"));
    assert!(!page.contains("$argon2"), "the page never shows a hash");
    assert!(page.contains("action=\"/sites/vault/unprotect\""));
    assert!(page.contains("data-confirm=\"Make &#39;vault&#39; public?"));
    let changed = admin.post(
        "/sites/vault/protect",
        &[("user", "ann"), ("password", "a new secret")],
    );
    assert_eq!(changed.status, 303);
    assert_eq!(
        s.request("GET", "vault.localhost", "/", &[("Authorization", &good)])
            .status,
        401
    );
    let r = s.request(
        "GET",
        "vault.localhost",
        "/",
        &[("Authorization", &basic("ann", "a new secret"))],
    );
    assert_eq!(r.status, 200);

    let public = admin.post("/sites/vault/unprotect", &[]);
    assert_redirect(&public, "/sites/vault?done=made-public#site-password");
    assert_eq!(s.get("vault.localhost", "/").status, 200);
    let page = admin.get("/sites/vault").text();
    assert!(page.contains("Anyone with the link can open this site"));
    assert!(!page.contains("<code>bob</code>"));
    let again = admin.post("/sites/vault/unprotect", &[]);
    assert_redirect(&again, "/sites/vault?done=was-public#site-password");

    // A site that does not exist cannot be protected.
    let none = admin.post(
        "/sites/nope/protect",
        &[("user", "ann"), ("password", "correct horse")],
    );
    assert_eq!(none.status, 404, "{}", none.text());

    let actions = audit_actions(&s);
    assert_eq!(
        actions.iter().filter(|a| *a == "protect").count(),
        3,
        "{actions:?}"
    );
    assert_eq!(actions.iter().filter(|a| *a == "unprotect").count(), 1);
}

#[test]
fn custom_domains_are_added_and_removed_from_a_sites_page() {
    let s = server();
    s.write_file("blog", "index.html", "the blog");
    s.write_file("shop", "index.html", "the shop");
    let admin = login(&s);

    let page = admin.get("/sites/blog").text();
    assert!(page.contains("<h2>Custom domains</h2>"));
    assert!(page.contains("action=\"/sites/blog/domains\""));
    assert!(page.contains("Point the name's DNS at this server"));
    assert!(page.contains("<code>CNAME</code> file in a deploy"));

    let forged = crate::admin::post_as(
        &s,
        "/sites/blog/domains",
        Some(&origin(&s)),
        Some(&admin.cookie),
        "host=www.example.com",
    );
    assert_eq!(forged.status, 403);
    assert_ne!(s.get("www.example.com", "/").text(), "the blog");

    let added = admin.post("/sites/blog/domains", &[("host", " WWW.Example.com ")]);
    assert_redirect(&added, "/sites/blog?done=host-added#site-domains");
    let r = s.get("www.example.com", "/");
    assert_eq!((r.status, r.text().as_str()), (200, "the blog"));
    let page = admin.get("/sites/blog").text();
    assert!(
        page.contains(&format!(
            "<a href=\"http://www.example.com:{}/\" rel=\"noopener\" target=\"_blank\">www.example.com</a>",
            s.port
        )),
        "{page}"
    );
    assert!(page.contains("action=\"/sites/blog/domains/delete\""));

    // Taken by another site: 409, and the page says by whom.
    let taken = admin.post("/sites/shop/domains", &[("host", "www.example.com")]);
    assert_eq!(taken.status, 409);
    let text = taken.text();
    assert!(
        text.contains("www.example.com belongs to the site &#39;blog&#39;; remove it there first"),
        "{text}"
    );
    assert!(text.contains("class=\"error\""));
    assert_eq!(s.get("www.example.com", "/").text(), "the blog");

    // One of the server's own names: 400, with the reason.
    let own = admin.post("/sites/shop/domains", &[("host", "blog.localhost")]);
    assert_eq!(own.status, 400);
    assert!(
        own.text().contains("one of this server&#39;s own names"),
        "{}",
        own.text()
    );
    let bad = admin.post("/sites/shop/domains", &[("host", "not a host")]);
    assert_eq!(bad.status, 400);

    let removed = admin.post("/sites/blog/domains/delete", &[("host", "www.example.com")]);
    assert_redirect(&removed, "/sites/blog?done=host-removed#site-domains");
    assert_ne!(s.get("www.example.com", "/").text(), "the blog");
    assert!(
        !admin
            .get("/sites/blog")
            .text()
            .contains("http://www.example.com")
    );
    let again = admin.post("/sites/blog/domains/delete", &[("host", "www.example.com")]);
    assert_eq!(again.status, 404);
    // Now free, the other site may have it.
    let shop = admin.post("/sites/shop/domains", &[("host", "www.example.com")]);
    assert_eq!(shop.status, 303);
    assert_eq!(s.get("www.example.com", "/").text(), "the shop");

    let actions = audit_actions(&s);
    assert!(actions.contains(&"domain add".to_string()), "{actions:?}");
    assert!(actions.contains(&"domain remove".to_string()));
}

/// A multipart body: `(field, file name, bytes)` parts, in order.
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----ccDashboardTestBoundary7d3a";
    let mut body = Vec::new();
    for (name, file, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some(f) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// `POST /sites/deploy` as the Hosting page sends it; `csrf` goes in the header.
fn browser_deploy(
    s: &Server,
    cookie: Option<&str>,
    csrf: Option<&str>,
    parts: &[(&str, Option<&str>, &[u8])],
) -> (u16, Value) {
    let (content_type, body) = multipart(parts);
    let o = origin(s);
    let mut headers = vec![("Content-Type", content_type.as_str()), ("Origin", &o)];
    if let Some(c) = cookie {
        headers.push(("Cookie", c));
    }
    if let Some(t) = csrf {
        headers.push(("X-CSRF-Token", t));
    }
    let r = s.send("POST", &host(s), "/sites/deploy", &headers, &body);
    let json = serde_json::from_slice(&r.body)
        .unwrap_or_else(|_| panic!("not JSON ({}): {}", r.status, r.text()));
    (r.status, json)
}

fn folder_parts(site: &str) -> Vec<(&str, Option<&str>, &[u8])> {
    vec![
        ("site_name", None, site.as_bytes()),
        ("files", Some("index.html"), b"<h1>from the browser</h1>"),
        ("files", Some("assets/app.js"), b"console.log('app')"),
    ]
}

#[test]
fn the_browser_deploy_route_checks_the_csrf_header_before_the_upload() {
    let s = server();
    let admin: Admin = login(&s);
    let deployments = || s.count("SELECT count(*) FROM deployments");

    // No session: a JSON 401, nothing deployed.
    let (status, json) = browser_deploy(&s, None, Some(&admin.csrf), &folder_parts("up"));
    assert_eq!(status, 401, "{json}");
    assert!(json["error"].as_str().unwrap().contains("log in"));
    // A session without the header (or with a form field instead): 403.
    let (status, json) = browser_deploy(&s, Some(&admin.cookie), None, &folder_parts("up"));
    assert_eq!(status, 403, "{json}");
    assert!(json["error"].as_str().unwrap().contains("CSRF"), "{json}");
    let mut with_field = folder_parts("up");
    with_field.insert(0, ("csrf", None, admin.csrf.as_bytes()));
    let (status, _) = browser_deploy(&s, Some(&admin.cookie), None, &with_field);
    assert_eq!(status, 403);
    let (status, _) = browser_deploy(&s, Some(&admin.cookie), Some("0123"), &folder_parts("up"));
    assert_eq!(status, 403);
    assert_eq!(deployments(), 0);
    assert!(!s.sites_dir().join("up").exists());
    assert_eq!(s.get("up.localhost", "/").status, 404);

    // A folder's files, named by their paths: live at those paths.
    let (status, json) = browser_deploy(
        &s,
        Some(&admin.cookie),
        Some(&admin.csrf),
        &folder_parts("up"),
    );
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["site"], "up");
    assert_eq!(json["files"], 2);
    assert_eq!(json["url"], format!("http://up.localhost:{}/", s.port));
    assert!(json["deployment_id"].as_i64().unwrap() > 0);
    assert_eq!(
        s.get("up.localhost", "/").text(),
        "<h1>from the browser</h1>"
    );
    assert_eq!(
        s.get("up.localhost", "/assets/app.js").text(),
        "console.log('app')"
    );
    assert_eq!(deployments(), 1);
    assert!(audit_actions(&s).contains(&"deploy".to_string()));
    let page = admin.get("/sites/up").text();
    assert!(page.contains("admin"), "the deployment shows who: {page}");

    // A zip as `file`.
    let zip = zip_of(&[("index.html", b"zipped")]);
    let (status, json) = browser_deploy(
        &s,
        Some(&admin.cookie),
        Some(&admin.csrf),
        &[("site_name", None, b"up"), ("file", Some("site.zip"), &zip)],
    );
    assert_eq!(status, 200, "{json}");
    assert_eq!(s.get("up.localhost", "/").text(), "zipped");

    // The deploy's own refusals reach the page's script with their words and status.
    let (status, json) = browser_deploy(
        &s,
        Some(&admin.cookie),
        Some(&admin.csrf),
        &[
            ("site_name", None, b"up"),
            ("files", Some("index.html"), b"new"),
            ("files", Some("_redirects"), b"/a /b 301\n/broken\n"),
        ],
    );
    assert_eq!(status, 400, "{json}");
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .starts_with("_redirects line 2"),
        "{json}"
    );
    assert_eq!(
        s.get("up.localhost", "/").text(),
        "zipped",
        "a refused deploy leaves the live site"
    );
    let (status, json) = browser_deploy(
        &s,
        Some(&admin.cookie),
        Some(&admin.csrf),
        &folder_parts("Not A Name"),
    );
    assert_eq!(status, 400);
    assert!(
        json["error"].as_str().unwrap().contains("not valid"),
        "{json}"
    );
    // A CNAME another site holds: 409.
    s.write_file("blog", "index.html", "blog");
    assert_eq!(
        admin
            .post("/sites/blog/domains", &[("host", "www.example.com")])
            .status,
        303
    );
    let (status, json) = browser_deploy(
        &s,
        Some(&admin.cookie),
        Some(&admin.csrf),
        &[
            ("site_name", None, b"up"),
            ("files", Some("index.html"), b"new"),
            ("files", Some("CNAME"), b"www.example.com\n"),
        ],
    );
    assert_eq!(status, 409, "{json}");
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("belongs to the site 'blog'")
    );
    assert_eq!(deployments(), 2);

    // The Hosting page carries the deploy card.
    let hosting = admin.get("/sites").text();
    assert!(hosting.contains("<h2>Deploy a site</h2>"));
    assert!(hosting.contains("webkitdirectory"));
    assert!(hosting.contains("accept=\".zip,application/zip\""));
    assert!(hosting.contains(&format!("data-csrf=\"{}\"", admin.csrf)));
    assert!(
        hosting.contains("data-max-upload=\"104857600\""),
        "the default 100 MiB"
    );
}
