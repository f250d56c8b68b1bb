//! No request ever reads a file outside its site folder. Each hostile target is
//! sent byte-for-byte on a raw connection; the answer must be a 400 or 404 that leaks nothing.

use crate::harness::Server;

const SECRET: &str = "TOP-SECRET-OUTSIDE-THE-SITE";

#[test]
fn hostile_paths_never_leave_the_site_folder() {
    let s = Server::start();
    s.write_file("web", "index.html", "<h1>web</h1>");
    s.write_file("web", "docs/index.html", "<h1>docs</h1>");
    s.write_file("other", "private.html", "other site's page");
    std::fs::write(s.data_dir.join("secret.txt"), SECRET).unwrap();
    let site = s.sites_dir().join("web");
    std::os::unix::fs::symlink(s.data_dir.join("secret.txt"), site.join("escape")).unwrap();
    std::os::unix::fs::symlink("/etc", site.join("etc-link")).unwrap();
    std::os::unix::fs::symlink(s.sites_dir().join("other"), site.join("other-link")).unwrap();
    // A symlink that stays inside the site is fine.
    std::os::unix::fs::symlink("index.html", site.join("alias.html")).unwrap();

    let hostile = [
        "/../secret.txt",
        "/../../secret.txt",
        "/../cc.db",
        "/%2e%2e/secret.txt",
        "/%2E%2E/%2E%2E/secret.txt",
        "/.%2e/secret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/..%5csecret.txt",
        "/..\\secret.txt",
        "/%252e%252e/secret.txt",
        "/%c0%ae%c0%ae/secret.txt",
        "/%e0%80%ae%e0%80%ae/secret.txt",
        "/%c0%af../secret.txt",
        "/index.html%00/../../secret.txt",
        "/%00",
        "/docs/../../secret.txt",
        "/./.././secret.txt",
        "/..;/secret.txt",
        "//etc/passwd",
        "/etc/passwd",
        "/%2fetc%2fpasswd",
        "/escape",
        "/etc-link/passwd",
        "/other-link/private.html",
        "/%u002e%u002e/secret.txt",
        "../secret.txt",
        "http://web.localhost/../secret.txt",
        "/....//secret.txt",
        "/%2e%2e%5c%2e%2e%5csecret.txt",
    ];
    assert!(hostile.len() >= 20);
    for target in hostile {
        let raw =
            format!("GET {target} HTTP/1.1\r\nHost: web.localhost\r\nConnection: close\r\n\r\n");
        let r = s.raw(raw.as_bytes());
        let body = r.text();
        assert!(
            r.status == 400 || r.status == 404,
            "{target}: status {} body {body}",
            r.status
        );
        for leak in [SECRET, "root:", "SQLite format", "other site's page"] {
            assert!(!body.contains(leak), "{target} leaked {leak:?}: {body}");
        }
    }

    // The server is fine afterwards, and in-site symlinks still work.
    assert_eq!(s.get("web.localhost", "/alias.html").text(), "<h1>web</h1>");
    assert_eq!(s.get("web.localhost", "/").text(), "<h1>web</h1>");
}
