//! Host routing through the real server (the pure function has its own table of cases).

use crate::harness::Server;

#[test]
fn hosts_reach_the_dashboard_a_site_or_nothing() {
    let server = Server::start();
    server.write_file("blog", "index.html", "<h1>blog</h1>");
    let port = server.port;

    for host in [
        "localhost",
        &format!("localhost:{port}"),
        "127.0.0.1",
        "[::1]",
        "LOCALHOST.",
    ] {
        let r = server.get(host, "/login");
        assert_eq!(r.status, 200, "{host}");
        assert!(r.text().contains("Command Center"), "{host}: {}", r.text());
    }
    for host in ["blog.localhost", &format!("BLOG.localhost.:{port}")] {
        let r = server.get(host, "/");
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "<h1>blog</h1>"),
            "{host}"
        );
    }
    for host in [
        "foo.localhost",
        "a.blog.localhost",
        "example.com",
        "bl_og.localhost",
    ] {
        let r = server.get(host, "/");
        assert_eq!(r.status, 404, "{host}");
        assert!(r.text().contains("Site Not Found"), "{host}");
    }
    // No Host at all (HTTP/1.0) → dashboard.
    let r = server.raw(b"GET /login HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("Command Center"));
}

#[test]
fn a_custom_domain_routes_its_subdomains() {
    let server = Server::builder().arg("--domain").arg("CC.Lan").start();
    server.write_file("blog", "index.html", "on cc.lan");
    assert_eq!(server.get("blog.cc.lan", "/").text(), "on cc.lan");
    assert_eq!(server.get("blog.localhost", "/").text(), "on cc.lan");
    assert!(
        server
            .get("cc.lan", "/login")
            .text()
            .contains("Command Center")
    );
    assert_eq!(server.get("blog.other.lan", "/").status, 404);
}

#[test]
fn dashboard_api_answers_json_404() {
    let server = Server::start();
    let r = server.get("localhost", "/api/nothing");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.text().contains("\"error\""));
}

#[test]
fn the_environment_sets_the_domain_and_a_flag_wins() {
    let s = Server::builder().env("CC_DOMAIN", "env.lan").start();
    s.write_file("blog", "index.html", "x");
    assert_eq!(s.get("blog.env.lan", "/").status, 200);
    let s = Server::builder()
        .env("CC_DOMAIN", "env.lan")
        .arg("--domain")
        .arg("flag.lan")
        .start();
    s.write_file("blog", "index.html", "x");
    assert_eq!(s.get("blog.flag.lan", "/").status, 200);
    assert_eq!(s.get("blog.env.lan", "/").status, 404);
}
