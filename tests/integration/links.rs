//! Short links and the tracking pixel over HTTP: creating, editing and deleting links on the
//! dashboard and through the JSON API, `GET /r/<slug>` and its one `redirect` event,
//! `GET /pixel.gif` and its `pixel` events, bad input, CSRF, rate limits and the Analytics
//! source filter.

use crate::admin::{Admin, audit_actions, login, server, wait_for_events};
use crate::harness::{HttpResponse, Server};

fn dashboard_host(s: &Server) -> String {
    format!("localhost:{}", s.port)
}

/// A public GET on the dashboard host, as a browser following a link would send it.
fn visit(s: &Server, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    s.request("GET", &dashboard_host(s), path, headers)
}

/// Every event as (source_type, domain, path, referrer, ua_family, tags), oldest first.
type EventRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
);

fn events(s: &Server) -> Vec<EventRow> {
    s.rows("SELECT source_type, domain, path, referrer, ua_family, tags FROM events ORDER BY id")
}

/// Waits until a hosting visit sent now is stored: the analytics queue is written in order,
/// so every event queued before it is stored too.
fn flush_events(s: &Server) {
    s.write_file("marker", "index.html", "marker");
    let before = s.count("SELECT count(*) FROM events");
    s.get("marker.localhost", "/");
    wait_for_events(s, before + 1);
}

fn create(admin: &Admin, slug: &str, target: &str) -> HttpResponse {
    admin.post("/links", &[("slug", slug), ("target", target)])
}

#[test]
fn a_short_link_redirects_counts_the_click_and_records_one_event() {
    let s = server();
    let admin = login(&s);
    let r = create(
        &admin,
        "launch",
        "https://Shop.Example.com:8443/spring?utm=cc",
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.header("location"), Some("/links?done=link-created"));
    let page = admin.get("/links").text();
    let short = format!("http://localhost:{}/r/launch", s.port);
    assert!(page.contains(&short), "the full short URL is shown");
    assert!(page.contains("https://Shop.Example.com:8443/spring?utm=cc"));
    assert!(
        admin
            .get("/links?done=link-created")
            .text()
            .contains("The short link works now")
    );

    let r = visit(
        &s,
        "/r/launch",
        &[
            ("Referer", "https://news.example.org/item?id=7"),
            (
                "User-Agent",
                "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0",
            ),
        ],
    );
    assert_eq!(r.status, 302, "{}", r.text());
    assert_eq!(
        r.header("location"),
        Some("https://Shop.Example.com:8443/spring?utm=cc")
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(
        r.headers
            .iter()
            .filter(|(k, _)| k == "referrer-policy")
            .count(),
        1,
        "the dashboard's own same-origin policy is not added as well"
    );
    // A HEAD (a link checker) sees the same answer but is not a click.
    let head = s.request("HEAD", &dashboard_host(&s), "/r/launch", &[]);
    assert_eq!(head.status, 302);
    assert_eq!(
        head.header("location"),
        Some("https://Shop.Example.com:8443/spring?utm=cc")
    );

    flush_events(&s);
    let redirects: Vec<EventRow> = events(&s)
        .into_iter()
        .filter(|e| e.0 == "redirect")
        .collect();
    assert_eq!(
        redirects,
        vec![(
            "redirect".to_string(),
            "shop.example.com".to_string(),
            "/r/launch".to_string(),
            Some("https://news.example.org/item?id=7".to_string()),
            "firefox".to_string(),
            None,
        )]
    );
    assert_eq!(
        s.count("SELECT clicks FROM short_links WHERE slug = 'launch'"),
        1
    );
    let page = admin.get("/links").text();
    assert!(
        page.contains("<td class=\"num\">1</td>"),
        "one click on the page"
    );
    assert!(audit_actions(&s).contains(&"link.create".to_string()));
    let target: String = s
        .db()
        .query_row(
            "SELECT target FROM audit_log WHERE action = 'link.create'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(target, "launch");
}

#[test]
fn bad_targets_and_slugs_are_refused_and_nothing_is_stored() {
    let s = server();
    let admin = login(&s);
    for (target, why) in [
        ("javascript:alert(1)", "'javascript:' URLs are not allowed"),
        ("data:text/html,<script>alert(1)</script>", "'data:' URLs"),
        ("//evil.example/", "absolute URL"),
        ("http:/x", "needs '//' and a host"),
        ("http://", "no host"),
        ("https://a b.example/", "spaces"),
        ("https://good.example@evil.example/", "user name"),
        ("", "give a target"),
    ] {
        let r = create(&admin, "x", target);
        assert_eq!(r.status, 400, "{target}: {}", r.text());
        // The error is shown on the page, escaped like everything else.
        let html = r.text();
        let shown = why.replace('\'', "&#39;");
        assert!(html.contains(&shown), "{target}: {html}");
        assert!(!html.contains("<script>alert"), "{target}");
        let r = admin.api(
            "POST",
            "/api/links",
            &serde_json::json!({ "slug": "x", "target": target }).to_string(),
        );
        assert_eq!(r.status, 400, "API {target}");
        let err: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert!(
            err["error"].as_str().unwrap().contains(why),
            "API {target}: {err}"
        );
    }
    let long = format!("https://example.com/{}", "a".repeat(2048));
    assert_eq!(create(&admin, "x", &long).status, 400, "over 2048 bytes");
    for slug in ["", "a b", "a/b", "ünï", &"s".repeat(65)] {
        let r = create(&admin, slug, "https://example.com/");
        assert_eq!(r.status, 400, "slug {slug:?}");
        assert!(r.text().contains("slug"), "slug {slug:?}");
    }
    assert_eq!(s.count("SELECT count(*) FROM short_links"), 0);
    assert!(!audit_actions(&s).iter().any(|a| a.starts_with("link.")));

    // A taken slug is a conflict, never a silent change of where the link goes.
    assert_eq!(create(&admin, "taken", "https://one.example/").status, 303);
    let r = create(&admin, "taken", "https://two.example/");
    assert_eq!(r.status, 409);
    assert!(r.text().contains("already exists"));
    let r = admin.api(
        "POST",
        "/api/links",
        r#"{"slug":"taken","target":"https://two.example/"}"#,
    );
    assert_eq!(r.status, 409);
    assert_eq!(
        visit(&s, "/r/taken", &[]).header("location"),
        Some("https://one.example/")
    );
    // Editing to a bad target is refused too, and the link keeps its target.
    let r = admin.post("/links/taken", &[("target", "javascript:alert(1)")]);
    assert_eq!(r.status, 400);
    assert_eq!(
        visit(&s, "/r/taken", &[]).header("location"),
        Some("https://one.example/")
    );
}

#[test]
fn unknown_slugs_are_404_and_record_nothing() {
    let s = server();
    for path in [
        "/r/nope",
        "/r/",
        "/r/a%20b",
        "/r/../login",
        "/r/nope/more",
        "/r/javascript:alert(1)",
    ] {
        let r = visit(&s, path, &[("Referer", "https://x.example/")]);
        assert_eq!(r.status, 404, "{path}");
        assert!(r.header("location").is_none(), "{path}");
    }
    flush_events(&s);
    assert_eq!(
        s.count("SELECT count(*) FROM events WHERE source_type <> 'hosting'"),
        0
    );
}

#[test]
fn links_are_edited_and_deleted_on_the_dashboard() {
    let s = server();
    let admin = login(&s);
    assert_eq!(create(&admin, "docs", "https://old.example/").status, 303);
    assert_eq!(visit(&s, "/r/docs", &[]).status, 302);

    let r = admin.post("/links/docs", &[("target", " https://new.example/v2 ")]);
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.header("location"), Some("/links?done=link-updated"));
    let r = visit(&s, "/r/docs", &[]);
    assert_eq!(r.header("location"), Some("https://new.example/v2"));
    assert_eq!(
        s.count("SELECT clicks FROM short_links WHERE slug = 'docs'"),
        2,
        "clicks are kept across an edit"
    );
    let page = admin.get("/links").text();
    assert!(page.contains("https://new.example/v2") && !page.contains("old.example"));
    assert!(page.contains("action=\"/links/docs/delete\""));
    assert!(page.contains("data-confirm="), "delete asks first");
    assert_eq!(
        admin
            .post("/links/nope", &[("target", "https://x.example/")])
            .status,
        404
    );

    let r = admin.post("/links/docs/delete", &[]);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/links?done=link-deleted"));
    assert_eq!(visit(&s, "/r/docs", &[]).status, 404);
    assert_eq!(admin.post("/links/docs/delete", &[]).status, 404);
    assert!(admin.get("/links").text().contains("No short links yet"));
    let actions = audit_actions(&s);
    for a in ["link.create", "link.update", "link.delete"] {
        assert_eq!(
            actions.iter().filter(|x| *x == a).count(),
            1,
            "{a} in {actions:?}"
        );
    }
    // The Links page sits in the navigation between Tracking and the Audit log.
    let nav = admin.get("/analytics").text();
    let (t, l, a) = (
        nav.find("href=\"/tracking\"").unwrap(),
        nav.find("href=\"/links\"").unwrap(),
        nav.find("href=\"/audit\"").unwrap(),
    );
    assert!(t < l && l < a);
}

#[test]
fn the_links_api_is_for_a_session_only_and_checks_csrf() {
    let s = server();
    let admin = login(&s);
    let r = admin.api(
        "POST",
        "/api/links",
        r#"{"slug":"api","target":"https://api.example/x"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["slug"], "api");
    assert_eq!(v["target"], "https://api.example/x");
    assert_eq!(v["url"], format!("http://localhost:{}/r/api", s.port));
    assert_eq!(v["clicks"], 0);
    assert_eq!(visit(&s, "/r/api", &[]).status, 302);

    let list: serde_json::Value = serde_json::from_slice(&admin.get("/api/links").body).unwrap();
    assert_eq!(list["links"][0]["slug"], "api");
    assert_eq!(list["links"][0]["clicks"], 1);

    let r = admin.api(
        "PUT",
        "/api/links/api",
        r#"{"target":"https://api.example/y"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        visit(&s, "/r/api", &[]).header("location"),
        Some("https://api.example/y")
    );
    assert_eq!(admin.api("PUT", "/api/links/api", r#"{}"#).status, 400);
    assert_eq!(
        admin
            .api(
                "PUT",
                "/api/links/nope",
                r#"{"target":"https://x.example/"}"#
            )
            .status,
        404
    );

    // A deploy key, even one for every site, may not touch links.
    let key = s.create_key("ci", &["deploy:*", "read:stats"]);
    let bearer = format!("Bearer {key}");
    let host = dashboard_host(&s);
    let r = s.request("GET", &host, "/api/links", &[("Authorization", &bearer)]);
    assert_eq!(r.status, 403);
    let r = s.send(
        "POST",
        &host,
        "/api/links",
        &[("Authorization", &bearer)],
        br#"{"slug":"k","target":"https://k.example/"}"#,
    );
    assert_eq!(r.status, 403);
    let r = s.send(
        "DELETE",
        &host,
        "/api/links/api",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(r.status, 403);
    assert_eq!(s.get(&host, "/api/links").status, 401);

    // A page on a site subdomain is same-site: it has the cookie but not the Origin.
    let evil = format!("http://evil.localhost:{}", s.port);
    let form = crate::admin::encode(&[
        ("csrf", &admin.csrf),
        ("slug", "stolen"),
        ("target", "https://evil.example/"),
    ]);
    let r = s.send(
        "POST",
        &host,
        "/links",
        &[
            ("Cookie", &admin.cookie),
            ("Origin", &evil),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        form.as_bytes(),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let r = s.send(
        "POST",
        &host,
        "/links/api/delete",
        &[
            ("Cookie", &admin.cookie),
            ("Origin", &evil),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        crate::admin::encode(&[("csrf", &admin.csrf)]).as_bytes(),
    );
    assert_eq!(r.status, 403);
    let r = s.send(
        "POST",
        &host,
        "/api/links",
        &[
            ("Cookie", &admin.cookie),
            ("X-CSRF-Token", &admin.csrf),
            ("Origin", &evil),
        ],
        br#"{"slug":"stolen","target":"https://evil.example/"}"#,
    );
    assert_eq!(r.status, 403);
    let origin = format!("http://localhost:{}", s.port);
    let r = s.send(
        "DELETE",
        &host,
        "/api/links/api",
        &[("Cookie", &admin.cookie), ("Origin", &origin)],
        b"",
    );
    assert_eq!(r.status, 403, "no CSRF header");
    assert_eq!(
        s.count("SELECT count(*) FROM short_links"),
        1,
        "nothing created or deleted"
    );

    let r = admin.api("DELETE", "/api/links/api", "");
    assert_eq!(r.status, 200);
    assert_eq!(admin.api("DELETE", "/api/links/api", "").status, 404);
    assert_eq!(visit(&s, "/r/api", &[]).status, 404);
    assert_eq!(admin.api("PATCH", "/api/links", "").status, 405);
}

fn gif_ok(r: &HttpResponse, what: &str) {
    assert_eq!(r.status, 200, "{what}");
    assert_eq!(r.header("content-type"), Some("image/gif"), "{what}");
    assert_eq!(r.body.len(), 43, "{what}");
    assert!(r.body.starts_with(b"GIF89a"), "{what}");
    assert_eq!(u16::from_le_bytes([r.body[6], r.body[7]]), 1, "width");
    assert_eq!(u16::from_le_bytes([r.body[8], r.body[9]]), 1, "height");
    assert_eq!(r.body[42], 0x3b, "the GIF trailer");
    assert_eq!(
        r.header("cache-control"),
        Some("no-store, no-cache, must-revalidate, max-age=0"),
        "{what}"
    );
    assert_eq!(r.header("pragma"), Some("no-cache"), "{what}");
    assert_eq!(r.header("expires"), Some("0"), "{what}");
}

#[test]
fn the_pixel_is_always_a_gif_and_records_only_valid_opens() {
    let s = server();
    let r = visit(
        &s,
        "/pixel.gif?domain=News.Example.com&path=/2026/jan&tags=campaign:jan,variant:b",
        &[("User-Agent", "Mozilla/5.0 Thunderbird/128.0")],
    );
    gif_ok(&r, "a good pixel");
    let json_tags =
        "/pixel.gif?domain=news.example.com&tags=%7B%22list%22%3A%22vip%22%2C%22n%22%3A3%7D";
    gif_ok(&visit(&s, json_tags, &[]), "JSON tags");
    for bad in [
        "/pixel.gif",
        "/pixel.gif?domain=",
        "/pixel.gif?domain=javascript:alert(1)",
        "/pixel.gif?domain=%3Cscript%3E&path=/x",
        "/pixel.gif?domain=a..b",
        "/pixel.gif?path=/only-a-path",
    ] {
        gif_ok(&visit(&s, bad, &[]), bad);
    }
    let long = format!("/pixel.gif?domain=a.example&path=/{}", "x".repeat(600));
    gif_ok(&visit(&s, &long, &[]), "a path over 512");
    // A HEAD only checks the image exists: no body, and nobody opened anything.
    let head = s.request(
        "HEAD",
        &dashboard_host(&s),
        "/pixel.gif?domain=head.example",
        &[],
    );
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("image/gif"));

    flush_events(&s);
    let pixels: Vec<EventRow> = events(&s)
        .into_iter()
        .filter(|e| e.0 != "hosting")
        .collect();
    assert_eq!(pixels.len(), 2, "{pixels:?}");
    assert_eq!(
        (
            pixels[0].0.as_str(),
            pixels[0].1.as_str(),
            pixels[0].2.as_str()
        ),
        ("pixel", "news.example.com", "/2026/jan")
    );
    assert_eq!(pixels[0].4, "other", "the UA family as usual");
    let tags: serde_json::Value = serde_json::from_str(pixels[0].5.as_deref().unwrap()).unwrap();
    assert_eq!(
        tags,
        serde_json::json!({ "campaign": "jan", "variant": "b" })
    );
    assert_eq!(pixels[1].2, "/", "path defaults to /");
    let tags: serde_json::Value = serde_json::from_str(pixels[1].5.as_deref().unwrap()).unwrap();
    assert_eq!(tags, serde_json::json!({ "list": "vip", "n": "3" }));
}

#[test]
fn a_flood_of_pixels_is_answered_but_not_recorded_and_short_links_share_the_limit() {
    let s = server();
    let admin = login(&s);
    assert_eq!(create(&admin, "x", "https://x.example/").status, 303);
    let answers: Vec<HttpResponse> = (0..75)
        .map(|_| visit(&s, "/pixel.gif?domain=flood.example", &[]))
        .collect();
    for r in &answers {
        gif_ok(r, "every request gets its GIF");
    }
    // The bucket refills at 2 a second, so one of these may slip through; most may not.
    let clicks: Vec<HttpResponse> = (0..3).map(|_| visit(&s, "/r/x", &[])).collect();
    let refused = clicks.iter().filter(|r| r.status == 429).count() as i64;
    assert!(refused >= 2, "the same per-address budget");
    assert!(clicks.iter().any(|r| r.header("retry-after").is_some()));
    flush_events(&s);
    let stored = s.count("SELECT count(*) FROM events WHERE source_type = 'pixel'");
    assert!(
        (60..75).contains(&stored),
        "a burst of 60, then ~2 a second: {stored}"
    );
    assert_eq!(
        s.count("SELECT clicks FROM short_links WHERE slug = 'x'"),
        3 - refused,
        "a refused click is not counted"
    );
}

#[test]
fn the_analytics_source_filter_tells_pixels_and_short_links_apart() {
    let s = server();
    let admin = login(&s);
    assert_eq!(
        create(&admin, "go", "https://target.example/page").status,
        303
    );
    assert_eq!(visit(&s, "/r/go", &[]).status, 302);
    gif_ok(
        &visit(&s, "/pixel.gif?domain=mail.example&path=/issue-1", &[]),
        "pixel",
    );
    s.write_file("blog", "index.html", "home");
    s.get("blog.localhost", "/");
    wait_for_events(&s, 3);

    let all = admin.get("/analytics").text();
    assert!(all.contains("id=\"pageviews\">3<"), "all sources");
    assert!(all.contains("<option value=\"pixel\">Tracking pixel</option>"));
    assert!(all.contains("<option value=\"redirect\">Short links</option>"));

    // The Site menu lists every domain; the top tables below it show only the filtered ones.
    let tops = |html: &str| html[html.find("id=\"top-sites\"").expect("top sites")..].to_string();
    let pixel = admin.get("/analytics?source=pixel").text();
    assert!(pixel.contains("id=\"pageviews\">1<"), "only the pixel");
    assert!(pixel.contains("<option value=\"pixel\" selected>Tracking pixel</option>"));
    let top = tops(&pixel);
    assert!(top.contains("mail.example") && top.contains("/issue-1"));
    assert!(!top.contains("target.example") && !top.contains("/r/go") && !top.contains("blog"));

    let redirect = admin.get("/analytics?source=redirect").text();
    assert!(redirect.contains("id=\"pageviews\">1<"), "only the click");
    let top = tops(&redirect);
    assert!(top.contains("target.example") && top.contains("/r/go"));
    assert!(!top.contains("mail.example") && !top.contains("/issue-1"));
}
