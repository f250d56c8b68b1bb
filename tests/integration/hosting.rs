//! What Surge, Netlify and Cloudflare Pages users expect of a static site: a single-page
//! app's fallback, clean URLs, `_redirects`, `_headers`, cache rules and compression, through
//! real deploys and real requests.

use std::io::Read;

use crate::harness::{HttpResponse, Server, zip_of};

const HOST: &str = "app.localhost";

fn deploy(s: &Server, token: &str, files: &[(&str, &[u8])]) -> HttpResponse {
    s.deploy_raw(Some(token), "app", &zip_of(files))
}

fn get(s: &Server, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    s.request("GET", HOST, path, headers)
}

#[test]
fn a_vite_style_single_page_app_answers_deep_links_and_caches_its_hashed_assets() {
    let s = Server::start();
    let token = s.create_key("ci", &["deploy:app"]);
    let shell = b"<!doctype html><div id=app></div><script src=/assets/index-DiwrgTda.js></script>";
    let r = deploy(
        &s,
        &token,
        &[
            ("index.html", shell),
            ("200.html", shell),
            ("assets/index-DiwrgTda.js", b"console.log('app')"),
            ("about.html", b"<h1>about</h1>"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());

    let deep = get(&s, "/users/42", &[]);
    assert_eq!(deep.status, 200);
    assert_eq!(deep.body, shell);
    assert_eq!(
        deep.header("cache-control"),
        Some("public, max-age=0, must-revalidate")
    );

    let asset = get(&s, "/assets/index-DiwrgTda.js", &[]);
    assert_eq!(asset.status, 200);
    assert_eq!(
        asset.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    // A missing asset is a 404, not the app's HTML handed to a script tag.
    let missing = get(&s, "/assets/nope.js", &[]);
    assert_eq!(missing.status, 404, "{}", missing.text());
    // ... unless a browser navigates to it.
    let navigated = get(&s, "/users/jane.doe", &[("Accept", "text/html,*/*")]);
    assert_eq!(navigated.status, 200);
    assert_eq!(navigated.body, shell);

    // Clean URLs: /about is about.html.
    let about = get(&s, "/about", &[]);
    assert_eq!(
        (about.status, about.text().as_str()),
        (200, "<h1>about</h1>")
    );
    // The fallback file itself and the rule files are never content.
    for hidden in ["/200.html", "/_redirects", "/_headers", "/CNAME", "/AUTH"] {
        let r = get(&s, hidden, &[]);
        assert!(
            r.status == 404 || r.body == shell,
            "{hidden}: {} {}",
            r.status,
            r.text()
        );
        assert_ne!(r.text(), "secret", "{hidden}");
    }
}

#[test]
fn netlify_redirects_apply_in_order_and_a_bad_line_leaves_the_live_site() {
    let s = Server::start();
    let token = s.create_key("ci", &["deploy:app"]);
    let redirects = "\
# Netlify syntax, as people already have it
/old-blog/*     /blog/:splat          301
/news/:year/:slug  /blog/:year-:slug  302   # inline comment
/docs           /guide/index.html     200
/manual         /guide                200
/shadowed.html  /forced.html          200!
/store  id=:id  /items/:id            301
/home           https://example.com/  301
/removed        /gone.html            404
";
    let r = deploy(
        &s,
        &token,
        &[
            ("index.html", b"home".as_slice()),
            ("_redirects", redirects.as_bytes()),
            ("guide/index.html", b"the guide"),
            ("shadowed.html", b"the file"),
            ("forced.html", b"the forced rule"),
            ("gone.html", b"gone for good"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());

    let r = get(&s, "/old-blog/2024/hello", &[]);
    assert_eq!(
        (r.status, r.header("location")),
        (301, Some("/blog/2024/hello"))
    );
    let r = get(&s, "/news/2025/launch", &[]);
    assert_eq!(
        (r.status, r.header("location")),
        (302, Some("/blog/2025-launch"))
    );
    let r = get(&s, "/docs", &[]);
    assert_eq!((r.status, r.text().as_str()), (200, "the guide"));
    // A rewrite to a folder, without its slash, serves its index.html.
    let r = get(&s, "/manual", &[]);
    assert_eq!((r.status, r.text().as_str()), (200, "the guide"));
    let r = get(&s, "/shadowed.html", &[]);
    assert_eq!((r.status, r.text().as_str()), (200, "the forced rule"));
    let r = get(&s, "/store?id=7", &[]);
    assert_eq!(r.status, 301);
    assert!(
        r.header("location").unwrap().starts_with("/items/7"),
        "{r:?}"
    );
    let r = get(&s, "/home", &[]);
    assert_eq!(
        (r.status, r.header("location")),
        (301, Some("https://example.com/"))
    );
    let r = get(&s, "/removed", &[]);
    assert_eq!((r.status, r.text().as_str()), (404, "gone for good"));
    // Clean URLs come before unforced rules: /gone is gone.html itself.
    let r = get(&s, "/gone", &[]);
    assert_eq!((r.status, r.text().as_str()), (200, "gone for good"));
    // A file that exists wins over an unforced rule; no rule, no redirect.
    let r = get(&s, "/", &[]);
    assert_eq!((r.status, r.text().as_str()), (200, "home"));

    // A broken line: the deploy is refused with its line number, the live site stays.
    let r = deploy(
        &s,
        &token,
        &[
            ("index.html", b"new home".as_slice()),
            ("_redirects", b"/ok /fine 301\n/broken\n"),
        ],
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("line 2"), "{}", r.text());
    assert_eq!(get(&s, "/", &[]).text(), "home");
    // A proxy to another host cannot be honoured: refused, never applied to everyone.
    let r = deploy(
        &s,
        &token,
        &[(
            "_redirects",
            b"/api/*  https://api.example.com/:splat  200\n".as_slice(),
        )],
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("line 1"), "{}", r.text());
}

#[test]
fn headers_rules_apply_and_framing_headers_are_refused() {
    let s = Server::start();
    let token = s.create_key("ci", &["deploy:app"]);
    let headers = "\
/*
  X-Frame-Options: DENY
/assets/*
  Cache-Control: public, max-age=600
";
    let r = deploy(
        &s,
        &token,
        &[
            ("index.html", b"home".as_slice()),
            ("assets/logo.svg", b"<svg/>"),
            ("_headers", headers.as_bytes()),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let home = get(&s, "/", &[]);
    assert_eq!(home.header("x-frame-options"), Some("DENY"));
    let logo = get(&s, "/assets/logo.svg", &[]);
    assert_eq!(logo.header("x-frame-options"), Some("DENY"));
    assert_eq!(logo.header("cache-control"), Some("public, max-age=600"));

    for framing in [
        "Content-Length: 5",
        "Transfer-Encoding: chunked",
        "Connection: close",
    ] {
        let text = format!("/*\n  {framing}\n");
        let r = deploy(&s, &token, &[("_headers", text.as_bytes())]);
        assert_eq!(r.status, 400, "{framing}: {}", r.text());
        assert!(r.text().contains("line 2"), "{}", r.text());
    }
    assert_eq!(get(&s, "/", &[]).header("x-frame-options"), Some("DENY"));
}

fn decode(encoding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        "br" => brotli::BrotliDecompress(&mut &body[..], &mut out).unwrap(),
        "gzip" => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .unwrap();
        }
        other => panic!("unexpected encoding {other}"),
    }
    out
}

#[test]
fn text_files_go_out_compressed_for_clients_that_accept_it() {
    let s = Server::start();
    let script = "export function greet(name) { return `hello ${name}`; }\n".repeat(400);
    s.write_file("app", "bundle.js", &script);
    s.write_file("app", "logo.png", vec![7u8; 5000]);
    s.write_file("app", "small.css", "body{}");

    for encoding in ["br", "gzip"] {
        let r = get(&s, "/bundle.js", &[("Accept-Encoding", encoding)]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-encoding"), Some(encoding));
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
        assert!(
            r.body.len() < script.len() / 10,
            "{encoding}: {} bytes",
            r.body.len()
        );
        assert_eq!(decode(encoding, &r.body), script.as_bytes(), "{encoding}");
        // Its own validator: a revalidation in the same encoding is a 304.
        let etag = r.header("etag").unwrap().to_string();
        assert!(etag.ends_with(&format!("-{encoding}\"")), "{etag}");
        let again = get(
            &s,
            "/bundle.js",
            &[("Accept-Encoding", encoding), ("If-None-Match", &etag)],
        );
        assert_eq!(again.status, 304);
    }
    // Without Accept-Encoding, a range, an image or a tiny file: the bytes as they are.
    let plain = get(&s, "/bundle.js", &[]);
    assert_eq!(
        (plain.header("content-encoding"), plain.body.len()),
        (None, script.len())
    );
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"));
    let range = get(
        &s,
        "/bundle.js",
        &[("Accept-Encoding", "br"), ("Range", "bytes=0-5")],
    );
    assert_eq!(
        (range.status, range.header("content-encoding")),
        (206, None)
    );
    assert_eq!(range.body, &script.as_bytes()[..6]);
    let png = get(&s, "/logo.png", &[("Accept-Encoding", "br, gzip")]);
    assert_eq!(png.header("content-encoding"), None);
    let small = get(&s, "/small.css", &[("Accept-Encoding", "br, gzip")]);
    assert_eq!(small.header("content-encoding"), None);

    // A precompressed sibling is preferred (its bytes as shipped).
    let mut shipped = Vec::new();
    let params = brotli::enc::BrotliEncoderParams::default();
    brotli::BrotliCompress(&mut script.as_bytes(), &mut shipped, &params).unwrap();
    s.write_file("app", "prebuilt.js", &script);
    s.write_file("app", "prebuilt.js.br", &shipped);
    let r = get(&s, "/prebuilt.js", &[("Accept-Encoding", "gzip, br")]);
    assert_eq!(r.header("content-encoding"), Some("br"));
    assert_eq!(r.body, shipped);
}

#[test]
fn pretty_urls_redirect_html_names_only_when_the_site_asks() {
    let s = Server::start();
    s.write_file("app", "about.html", "<h1>about</h1>");
    s.write_file("app", "docs/index.html", "<h1>docs</h1>");
    // Off by default (as on Surge and Netlify): both forms answer.
    assert_eq!(get(&s, "/about.html", &[]).status, 200);
    assert_eq!(get(&s, "/about", &[]).status, 200);

    s.db()
        .execute(
            "INSERT INTO env_vars (site_id, key, value) VALUES ('app', 'CC_PRETTY_URLS', '1')",
            [],
        )
        .unwrap();
    let start = std::time::Instant::now();
    let mut r = get(&s, "/about.html?x=1", &[]);
    while r.status != 301 && start.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(100));
        r = get(&s, "/about.html?x=1", &[]);
    }
    assert_eq!((r.status, r.header("location")), (301, Some("/about?x=1")));
    let r = get(&s, "/docs/index.html", &[]);
    assert_eq!((r.status, r.header("location")), (301, Some("/docs/")));
    assert_eq!(get(&s, "/about", &[]).text(), "<h1>about</h1>");
}

#[test]
fn a_slow_upload_holds_one_worker_and_the_others_still_serve() {
    use std::io::Write;
    use std::time::{Duration, Instant};

    let s = Server::builder().arg("--workers").arg("2").start();
    let token = s.create_key("ci", &["deploy:app"]);
    assert_eq!(deploy(&s, &token, &[("index.html", b"up")]).status, 200);

    // An upload declared larger than what the connection layer reads ahead, then trickled at
    // 10 KiB/s: an HTTP worker reads it.
    let mut slow = s.connect();
    let boundary = "XslowX";
    let preamble = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"site_name\"\r\n\r\napp\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.zip\"\r\n\r\n"
    );
    let head = format!(
        "POST /api/deploy HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        5 * 1024 * 1024
    );
    slow.write_all(head.as_bytes()).unwrap();
    slow.write_all(preamble.as_bytes()).unwrap();
    let mut trickle = slow.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(40) {
            if trickle.write_all(&[b'z'; 1024]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    std::thread::sleep(Duration::from_millis(700));

    // A second upload meanwhile is refused at once, saying why; files still answer.
    let started = Instant::now();
    let r = deploy(&s, &token, &[("index.html", b"second")]);
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(
        r.text().contains("another upload is in progress"),
        "{}",
        r.text()
    );
    assert!(r.header("retry-after").is_some());
    assert!(started.elapsed() < Duration::from_secs(2));
    let r = get(&s, "/", &[]);
    assert_eq!((r.status, r.text().as_str()), (200, "up"));

    // The trickle is cut off once it has had its ten seconds.
    let r = crate::harness::read_response(&mut slow).unwrap();
    assert_eq!(r.status, 408, "{}", r.text());
    assert!(r.text().contains("less than 16 KiB/s"), "{}", r.text());
    writer.join().unwrap();
    assert_eq!(deploy(&s, &token, &[("index.html", b"third")]).status, 200);
    assert_eq!(get(&s, "/", &[]).text(), "third");
}
