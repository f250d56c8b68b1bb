//! Static hosting: index files, types, validators, ranges, HEAD, 404 pages.

use crate::harness::Server;

fn site_server() -> Server {
    let server = Server::start();
    server.write_file("web", "index.html", "<h1>home</h1>");
    server.write_file("web", "style.css", "body{}");
    server.write_file("web", "docs/index.html", "<h1>docs</h1>");
    server.write_file("web", "docs/page.html", "<p>page</p>");
    server.write_file("web", "data/report.json", "{\"ok\":true}");
    server.write_file("web", "hello world.txt", "spaced");
    server.write_file("web", ".env", "API_KEY=hunter2");
    server.write_file("web", ".git/config", "[core]");
    server.write_file("web", "js/main.js", "console.log('front-end script')");
    server
}

#[test]
fn files_are_served_with_type_and_length() {
    let s = site_server();
    let cases = [
        ("/", 200, "text/html; charset=utf-8", "<h1>home</h1>"),
        (
            "/index.html",
            200,
            "text/html; charset=utf-8",
            "<h1>home</h1>",
        ),
        ("/style.css", 200, "text/css; charset=utf-8", "body{}"),
        ("/docs/", 200, "text/html; charset=utf-8", "<h1>docs</h1>"),
        (
            "/docs/page.html",
            200,
            "text/html; charset=utf-8",
            "<p>page</p>",
        ),
        (
            "/data/report.json",
            200,
            "application/json",
            "{\"ok\":true}",
        ),
        (
            "/hello%20world.txt",
            200,
            "text/plain; charset=utf-8",
            "spaced",
        ),
        (
            "/index.html?v=3",
            200,
            "text/html; charset=utf-8",
            "<h1>home</h1>",
        ),
        (
            "/js/main.js",
            200,
            "text/javascript; charset=utf-8",
            "console.log('front-end script')",
        ),
    ];
    for (path, status, ctype, body) in cases {
        let r = s.get("web.localhost", path);
        assert_eq!(r.status, status, "{path}");
        assert_eq!(r.header("content-type"), Some(ctype), "{path}");
        assert_eq!(r.text(), body, "{path}");
        assert_eq!(
            r.header("content-length"),
            Some(body.len().to_string().as_str()),
            "{path}"
        );
    }
}

#[test]
fn main_js_and_dot_files_are_never_served() {
    let s = site_server();
    // With a main.js, paths that are not served as files go to the script instead.
    s.write_file(
        "web",
        "main.js",
        "// secret source\nres.status(404).send('from the script');",
    );
    for path in [
        "/main.js",
        "/.env",
        "/.git/config",
        "/%2eenv",
        "/docs/../.env",
        "/MAIN.JS",
    ] {
        let r = s.get("web.localhost", path);
        assert!(r.status == 404 || r.status == 400, "{path}: {}", r.status);
        let text = r.text();
        assert!(
            !text.contains("secret source") && !text.contains("hunter2"),
            "{path}: {text}"
        );
    }
    assert_eq!(s.get("web.localhost", "/main.js").text(), "from the script");
    // A front-end script named main.js in a sub-folder is an ordinary file.
    assert_eq!(
        s.get("web.localhost", "/js/main.js").text(),
        "console.log('front-end script')"
    );
}

#[test]
fn a_folder_without_slash_redirects() {
    let s = site_server();
    let r = s.get("web.localhost", "/docs?x=1");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/docs/?x=1"));
    // A folder named like a host must not turn into a redirect to that host.
    s.write_file("web", "evil.example/index.html", "x");
    let r = s.get("web.localhost", "//evil.example");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/evil.example/"));
}

#[test]
fn the_sites_404_page_or_a_plain_404() {
    let s = site_server();
    let r = s.get("web.localhost", "/missing");
    assert_eq!((r.status, r.text().as_str()), (404, "404 Not Found"));
    s.write_file("web", "404.html", "<h1>lost?</h1>");
    let r = s.get("web.localhost", "/missing");
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "<h1>lost?</h1>");
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
}

#[test]
fn etag_and_last_modified_give_304() {
    let s = site_server();
    let first = s.get("web.localhost", "/style.css");
    let etag = first.header("etag").unwrap().to_string();
    let modified = first.header("last-modified").unwrap().to_string();

    let r = s.request(
        "GET",
        "web.localhost",
        "/style.css",
        &[("If-None-Match", &etag)],
    );
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some(etag.as_str()));

    let r = s.request(
        "GET",
        "web.localhost",
        "/style.css",
        &[("If-Modified-Since", &modified)],
    );
    assert_eq!(r.status, 304);

    let r = s.request(
        "GET",
        "web.localhost",
        "/style.css",
        &[("If-None-Match", "\"stale\"")],
    );
    assert_eq!((r.status, r.text().as_str()), (200, "body{}"));

    // A changed file gets a new validator.
    std::thread::sleep(std::time::Duration::from_millis(20));
    s.write_file("web", "style.css", "body{color:red}");
    let r = s.request(
        "GET",
        "web.localhost",
        "/style.css",
        &[("If-None-Match", &etag)],
    );
    assert_eq!((r.status, r.text().as_str()), (200, "body{color:red}"));

    // Edited in place to the same length with its modification time set back: still new.
    let path = s.sites_dir().join("web/style.css");
    let etag = r.header("etag").unwrap().to_string();
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&path, "body{color:tan}").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let r = s.request(
        "GET",
        "web.localhost",
        "/style.css",
        &[("If-None-Match", &etag)],
    );
    assert_eq!((r.status, r.text().as_str()), (200, "body{color:tan}"));
}

#[test]
fn head_has_headers_but_no_body() {
    let s = site_server();
    let r = s.request("HEAD", "web.localhost", "/index.html", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("13"));
    assert!(r.body.is_empty());
}

#[test]
fn byte_ranges() {
    let s = site_server();
    s.write_file("web", "abc.txt", "abcdefghij");
    let r = s.request(
        "GET",
        "web.localhost",
        "/abc.txt",
        &[("Range", "bytes=2-4")],
    );
    assert_eq!((r.status, r.text().as_str()), (206, "cde"));
    assert_eq!(r.header("content-range"), Some("bytes 2-4/10"));
    let r = s.request("GET", "web.localhost", "/abc.txt", &[("Range", "bytes=-3")]);
    assert_eq!((r.status, r.text().as_str()), (206, "hij"));
    let r = s.request(
        "GET",
        "web.localhost",
        "/abc.txt",
        &[("Range", "bytes=50-")],
    );
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */10"));
    let r = s.request(
        "GET",
        "web.localhost",
        "/abc.txt",
        &[("Range", "bytes=0-1,4-5")],
    );
    assert_eq!((r.status, r.text().as_str()), (200, "abcdefghij"));
}

#[test]
fn large_files_stream_with_content_length() {
    let s = site_server();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    s.write_file("web", "big.bin", &big);
    let r = s.get("web.localhost", "/big.bin");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("3000000"));
    assert_eq!(r.header("transfer-encoding"), None);
    assert!(r.body == big, "body differs");
}

/// The server's open descriptors that point at `name` (" (deleted)" marks a removed file).
fn open_files_named(s: &Server, name: &str) -> Vec<String> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{}/fd", s.pid())) else {
        return Vec::new();
    };
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .map(|target| target.to_string_lossy().into_owned())
        .filter(|target| target.contains(name))
        .collect()
}

#[test]
fn a_large_file_replaced_or_deleted_is_seen_at_once_and_frees_its_disk() {
    let s = site_server();
    let first: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    s.write_file("web", "video.bin", &first);
    for _ in 0..2 {
        let r = s.get("web.localhost", "/video.bin");
        assert!(r.status == 200 && r.body == first, "{}", r.status);
        let r = s.request(
            "GET",
            "web.localhost",
            "/video.bin",
            &[("Range", "bytes=150000-150009")],
        );
        assert_eq!(r.status, 206);
        assert_eq!(r.body, &first[150_000..150_010]);
    }
    // Replaced the way a deploy does it (a new file renamed over the old one).
    let second: Vec<u8> = (0..150_000u32).map(|i| (i % 13) as u8).collect();
    let dir = s.sites_dir().join("web");
    std::fs::write(dir.join(".video.tmp"), &second).unwrap();
    std::fs::rename(dir.join(".video.tmp"), dir.join("video.bin")).unwrap();
    let r = s.get("web.localhost", "/video.bin");
    assert_eq!(r.header("content-length"), Some("150000"));
    assert!(r.body == second, "the old version was served");
    // Edited in place to another length.
    std::fs::write(dir.join("video.bin"), &first[..120_000]).unwrap();
    let r = s.get("web.localhost", "/video.bin");
    assert!(
        r.body == first[..120_000],
        "a stale length or bytes were served"
    );
    // Deleted: gone at once, and within seconds no descriptor keeps its disk space.
    std::fs::remove_file(dir.join("video.bin")).unwrap();
    assert_eq!(s.get("web.localhost", "/video.bin").status, 404);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !open_files_named(&s, "video.bin").is_empty() {
        assert!(
            std::time::Instant::now() < until,
            "still open 20 s after the delete: {:?}",
            open_files_named(&s, "video.bin")
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn only_get_and_head_on_a_static_site() {
    let s = site_server();
    let r = s.request("POST", "web.localhost", "/", &[("Content-Length", "0")]);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
}

#[test]
fn a_folder_made_by_hand_appears_without_restart() {
    let s = Server::start();
    assert_eq!(s.get("later.localhost", "/").status, 404);
    s.write_file("later", "index.html", "now here");
    assert_eq!(s.get("later.localhost", "/").text(), "now here");
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    use std::io::{Read, Write};
    let s = site_server();
    let mut c = s.connect();
    for _ in 0..3 {
        c.write_all(b"GET /style.css HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains("body{}") {
            let n = c.read(&mut buf).unwrap();
            assert!(n > 0, "connection closed early");
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got.starts_with(b"HTTP/1.1 200"));
    }
}

#[test]
fn every_request_gets_an_access_log_line() {
    let mut s = site_server();
    s.get("web.localhost", "/style.css");
    s.get("web.localhost", "/missing");
    assert!(s.stop().success());
    let log = s.log().join("\n");
    for expected in [
        "GET web.localhost /style.css 200 6B ",
        "GET web.localhost /missing 404 13B ",
    ] {
        let line = log
            .lines()
            .find(|l| l.starts_with(expected))
            .unwrap_or_else(|| panic!("no line starting {expected:?} in:\n{log}"));
        assert!(line.ends_with("ms"), "{line}");
    }
}

#[test]
fn a_file_changed_on_disk_is_served_new_on_the_next_request() {
    // Small files are kept in memory between requests; a change of any kind must show at once.
    let s = site_server();
    let dir = s.sites_dir().join("web");
    std::fs::write(dir.join("page.txt"), "version 1").unwrap();
    std::fs::write(dir.join("range.txt"), "abcdefghij").unwrap();
    // Files changed within the last second are never kept: let these settle, then serve them
    // twice so the second answer comes from memory.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    for _ in 0..2 {
        assert_eq!(s.get("web.localhost", "/page.txt").text(), "version 1");
        assert_eq!(s.get("web.localhost", "/range.txt").text(), "abcdefghij");
    }
    let r = s.request(
        "GET",
        "web.localhost",
        "/range.txt",
        &[("Range", "bytes=2-4")],
    );
    assert_eq!((r.status, r.text().as_str()), (206, "cde"));
    let r = s.request("HEAD", "web.localhost", "/range.txt", &[]);
    assert_eq!((r.status, r.header("content-length")), (200, Some("10")));
    assert!(r.body.is_empty());

    // Edited in place, same length, same inode.
    std::fs::write(dir.join("page.txt"), "version 2").unwrap();
    assert_eq!(s.get("web.localhost", "/page.txt").text(), "version 2");
    // Replaced by a rename, as a deploy does.
    std::fs::write(dir.join("new.txt"), "version 3").unwrap();
    std::fs::rename(dir.join("new.txt"), dir.join("page.txt")).unwrap();
    assert_eq!(s.get("web.localhost", "/page.txt").text(), "version 3");
    // Made a dot-file's symlink: hidden, whatever was cached under the name.
    std::fs::remove_file(dir.join("page.txt")).unwrap();
    std::os::unix::fs::symlink(dir.join(".env"), dir.join("page.txt")).unwrap();
    assert_eq!(s.get("web.localhost", "/page.txt").status, 404);
    std::fs::remove_file(dir.join("page.txt")).unwrap();
    assert_eq!(s.get("web.localhost", "/page.txt").status, 404);
    // The whole site gone: its files at once, the site itself within a second (whether a
    // folder exists is looked at once a second).
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(s.get("web.localhost", "/range.txt").status, 404);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(
        s.get("web.localhost", "/range.txt").text(),
        "404 Site Not Found"
    );
}
