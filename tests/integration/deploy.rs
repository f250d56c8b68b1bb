//! Deploying through the real CLI and API: keys, uploads, hostile zips,
//! atomic swaps, rollback, teardown, and recovery after a crash.

use std::io::Write;
use std::path::Path;

use crate::harness::{HttpResponse, Server, run_cli, run_cli_in, zip_of};

fn deploy_cli(s: &Server, dir: &Path, site: &str, token: &str) -> (i32, String, String) {
    run_cli_in(
        dir,
        &["deploy", site, "--server", &s.url(), "--token", token],
        &[],
    )
}

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, content) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

/// Files in a folder, relative, sorted (to prove nothing changed).
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_key_from_the_cli_deploys_a_folder_that_is_then_served() {
    let s = Server::start();
    let token = s.create_key("me", &[]);
    assert!(token.starts_with("cc_"), "{token}");
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("index.html", "<h1>home</h1>"),
            ("page.html", "<p>page</p>"),
            ("css/site.css", "body{}"),
            (".env", "SECRET=1"),
            ("node_modules/lib/index.js", "junk"),
            ("drafts/wip.html", "unfinished"),
            (".ccignore", "drafts/\n"),
        ],
    );
    let (code, out, err) = deploy_cli(&s, dir.path(), "blog", &token);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        format!("Deployment successful: http://blog.localhost:{}/", s.port)
    );

    assert_eq!(s.get("blog.localhost", "/").text(), "<h1>home</h1>");
    assert_eq!(s.get("blog.localhost", "/page.html").text(), "<p>page</p>");
    assert_eq!(s.get("blog.localhost", "/css/site.css").text(), "body{}");
    assert_eq!(
        listing(&s.sites_dir().join("blog")),
        ["css/site.css", "index.html", "page.html"]
    );

    let (site, bytes, files, by): (String, i64, i64, String) = s
        .db()
        .query_row(
            "SELECT site_id, size_bytes, file_count, deployed_by FROM deployments",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(
        (site.as_str(), bytes, files, by.as_str()),
        ("blog", 30, 3, "me")
    );
    let stored: String = s
        .db()
        .query_row("SELECT key_hash FROM api_keys", [], |r| r.get(0))
        .unwrap();
    assert!(
        !stored.contains(&token[3..]),
        "the token itself must not be stored"
    );
}

#[test]
fn the_api_answers_json_with_the_contract_fields() {
    let s = Server::start();
    let token = s.create_key("me", &["deploy:blog"]);
    let r = s.deploy_raw(
        Some(&token),
        "blog",
        &zip_of(&[("index.html", b"v1"), ("a/b.txt", b"bb")]),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["site"], "blog");
    assert_eq!(v["url"], format!("http://blog.localhost:{}/", s.port));
    assert_eq!(
        (v["files"].as_u64(), v["bytes"].as_u64()),
        (Some(2), Some(4))
    );
    assert!(v["deployment_id"].as_i64().unwrap() >= 1);
}

/// Finds each central-directory header of a zip and lets `f` change it.
fn patch_central(mut zip: Vec<u8>, f: impl Fn(&mut [u8])) -> Vec<u8> {
    let mut i = 0;
    while i + 46 <= zip.len() {
        if zip[i..i + 4] == *b"PK\x01\x02" {
            f(&mut zip[i..i + 46]);
            i += 46;
        } else {
            i += 1;
        }
    }
    zip
}

/// `bytes` with every `from` replaced by `to` (of the same length).
fn replace_all(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut out = bytes.to_vec();
    let mut i = 0;
    while i + from.len() <= out.len() {
        if &out[i..i + from.len()] == from {
            out[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
    out
}

fn pseudo_random(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E3779B97F4A7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

type Case<'a> = (&'a str, Option<&'a str>, &'a str, Vec<u8>, u16, &'a str);

#[test]
fn bad_deploys_get_clear_answers_and_leave_the_live_site_alone() {
    let s = Server::builder().arg("--max-upload-mb").arg("5").start();
    let token = s.create_key("blogger", &["deploy:blog"]);
    let other = s.create_key("other", &["deploy:other"]);
    let revoked = s.create_key("gone", &["deploy:*"]);
    let data_dir = s.data_dir.to_str().unwrap().to_string();
    let (code, _, err) = run_cli(&["keys", "revoke", "3", "--data-dir", &data_dir]);
    assert_eq!(code, 0, "{err}");

    let v1 = zip_of(&[("index.html", b"v1"), ("page.html", b"page v1")]);
    assert_eq!(s.deploy_raw(Some(&token), "blog", &v1).status, 200);
    let before = listing(&s.sites_dir().join("blog"));

    let good = zip_of(&[("index.html", b"v2")]);
    let mut symlink = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    symlink
        .add_symlink(
            "link.html",
            "/etc/passwd",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
    let symlink = symlink.finish().unwrap().into_inner();
    // External attributes (offset 38) → a character device.
    let device = patch_central(zip_of(&[("dev", b"x")]), |h| {
        h[38..42].copy_from_slice(&((0o020644u32) << 16).to_le_bytes())
    });
    // Uncompressed size (offset 24) → 1 GiB, from a zip of about 1 KB.
    let bomb = patch_central(zip_of(&[("bomb.bin", &[0u8; 1000])]), |h| {
        h[24..28].copy_from_slice(&(1u32 << 30).to_le_bytes())
    });
    assert!(bomb.len() < 1500);
    let names: Vec<String> = (0..30_000).map(|i| format!("f{i}")).collect();
    let many: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    let many = zip_of(&many);
    // Two entries of one name: written as a.txt and b.txt, then renamed in every header.
    let twice = zip_of(&[("a.txt", b"first"), ("b.txt", b"second")]);
    let twice = replace_all(&twice, b"b.txt", b"a.txt");
    // 200 entries of exactly 1 MiB of zeros: each under the per-entry ratio check (which
    // starts above 1 MiB), together 200 MiB from a zip of about 200 KB.
    let zeros = vec![0u8; 1024 * 1024];
    let zero_names: Vec<String> = (0..200).map(|i| format!("z{i}.bin")).collect();
    let zero_files: Vec<(&str, &[u8])> = zero_names
        .iter()
        .map(|n| (n.as_str(), &zeros[..]))
        .collect();
    let zeros = zip_of(&zero_files);
    assert!(zeros.len() < 400_000, "{}", zeros.len());
    // The same entries claiming 2 MiB packed each (offset 20 of a central header): their data
    // ranges overlap, and the ratio checks would count bytes that are not there.
    let inflated = patch_central(zeros.clone(), |h| {
        h[20..24].copy_from_slice(&(2u32 << 20).to_le_bytes())
    });
    let huge = zip_of(&[("noise.bin", &pseudo_random(6 * 1024 * 1024))]);
    let truncated = good[..good.len() / 2].to_vec();
    let deep_name = format!("{}f.html", "d/".repeat(40));
    let deep = zip_of(&[(deep_name.as_str(), b"x")]);
    let clash = zip_of(&[("a", b"file"), ("a/b.html", b"under a file")]);
    let mut folders = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..25_000 {
        folders
            .add_directory(format!("d{i}/"), zip::write::SimpleFileOptions::default())
            .unwrap();
    }
    let folders = folders.finish().unwrap().into_inner();
    let long_name = "a".repeat(64);

    // (what, token, site_name, zip, status, part of the error message)
    let cases: Vec<Case> = vec![
        ("no token", None, "blog", good.clone(), 401, "token"),
        (
            "wrong token",
            Some("cc_0000"),
            "blog",
            good.clone(),
            401,
            "token",
        ),
        (
            "revoked token",
            Some(&revoked),
            "blog",
            good.clone(),
            401,
            "revoked",
        ),
        (
            "scope for another site",
            Some(&other),
            "blog",
            good.clone(),
            403,
            "may not deploy 'blog'",
        ),
        (
            "site ..",
            Some(&token),
            "..",
            good.clone(),
            400,
            "not valid",
        ),
        (
            "site a_b",
            Some(&token),
            "a_b",
            good.clone(),
            400,
            "not valid",
        ),
        (
            "site -x",
            Some(&token),
            "-x",
            good.clone(),
            400,
            "not valid",
        ),
        (
            "site of 64 chars",
            Some(&token),
            &long_name,
            good.clone(),
            400,
            "not valid",
        ),
        (
            "empty site",
            Some(&token),
            "",
            good.clone(),
            400,
            "not valid",
        ),
        (
            "unicode site",
            Some(&token),
            "blög",
            good.clone(),
            400,
            "not valid",
        ),
        (
            "not a zip",
            Some(&token),
            "blog",
            b"just some text".to_vec(),
            400,
            "not a readable zip",
        ),
        ("truncated zip", Some(&token), "blog", truncated, 400, "zip"),
        (
            "zip slip",
            Some(&token),
            "blog",
            zip_of(&[("../../evil.html", b"x")]),
            400,
            "'../../evil.html'",
        ),
        (
            "absolute path",
            Some(&token),
            "blog",
            zip_of(&[("/tmp/evil.html", b"x")]),
            400,
            "absolute",
        ),
        ("symlink", Some(&token), "blog", symlink, 400, "symlink"),
        ("device file", Some(&token), "blog", device, 400, "device"),
        ("30 000 files", Some(&token), "blog", many, 413, "files"),
        (
            "25 000 folders",
            Some(&token),
            "blog",
            folders,
            413,
            "folders",
        ),
        (
            "40 levels deep",
            Some(&token),
            "blog",
            deep,
            400,
            "nested deeper",
        ),
        (
            "a file and a folder of one name",
            Some(&token),
            "blog",
            clash,
            400,
            "'a/b.html'",
        ),
        (
            "the same entry twice",
            Some(&token),
            "blog",
            twice,
            400,
            "twice",
        ),
        (
            "200 KB unpacking to 200 MB in 1 MiB entries",
            Some(&token),
            "blog",
            zeros,
            413,
            "times its packed size",
        ),
        (
            "entries claiming more packed bytes than the zip has",
            Some(&token),
            "blog",
            inflated,
            400,
            "overlap",
        ),
        (
            "1 KB unpacking to 1 GB",
            Some(&token),
            "blog",
            bomb,
            413,
            "MiB",
        ),
        (
            "upload over the limit",
            Some(&token),
            "blog",
            huge,
            413,
            "upload",
        ),
    ];
    for (what, tok, site, zip, status, message) in cases {
        let r: HttpResponse = s.deploy_raw(tok, site, &zip);
        assert_eq!(r.status, status, "{what}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("application/json"), "{what}");
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        let error = v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no error field: {}", r.text()));
        assert!(
            error.contains(message),
            "{what}: {error:?} lacks {message:?}"
        );
        assert_eq!(
            s.get("blog.localhost", "/").text(),
            "v1",
            "{what} changed the live site"
        );
        assert_eq!(
            listing(&s.sites_dir().join("blog")),
            before,
            "{what} changed the site's files"
        );
    }
    assert!(
        listing(&s.data_dir.join("deploy/staging")).is_empty(),
        "staging left behind"
    );
    assert!(
        listing(&s.data_dir.join("deploy/uploads")).is_empty(),
        "uploads left behind"
    );
    assert!(!s.data_dir.join("evil.html").exists() && !s.data_dir.join("sites/evil.html").exists());
    let deployments: i64 = s.count("SELECT count(*) FROM deployments");
    assert_eq!(deployments, 1, "failed deploys must not be recorded");
}

#[test]
fn visitors_see_the_whole_old_site_or_the_whole_new_one() {
    let s = Server::start();
    let token = s.create_key("me", &[]);
    let v = |n: &str| {
        zip_of(&[
            ("index.html", format!("index {n}").as_bytes()),
            ("page.html", format!("page {n}").as_bytes()),
        ])
    };
    let (v1, v2) = (v("v1"), v("v2"));
    assert_eq!(s.deploy_raw(Some(&token), "blog", &v1).status, 200);
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut seen = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                for (path, prefix) in [("/", "index "), ("/page.html", "page ")] {
                    let r = s.get("blog.localhost", path);
                    assert_eq!(r.status, 200, "{path} during a deploy: {}", r.text());
                    let text = r.text();
                    assert!(
                        text == format!("{prefix}v1") || text == format!("{prefix}v2"),
                        "{path}: {text:?}"
                    );
                    seen += 1;
                }
            }
            seen
        });
        for i in 0..20 {
            let zip = if i % 2 == 0 { &v2 } else { &v1 };
            assert_eq!(s.deploy_raw(Some(&token), "blog", zip).status, 200);
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(reader.join().unwrap() > 20);
    });
}

#[test]
fn rollback_swaps_back_and_teardown_removes() {
    let s = Server::start();
    let token = s.create_key("me", &[]);
    let url = s.url();
    let remote = ["--server", url.as_str(), "--token", token.as_str()];
    let cli = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(remote);
        run_cli(&all)
    };

    let (code, _, err) = cli(&["rollback", "blog"]);
    assert_eq!(code, 1);
    assert!(err.contains("no previous deployment"), "{err}");

    assert_eq!(
        s.deploy_raw(Some(&token), "blog", &zip_of(&[("index.html", b"v1")]))
            .status,
        200
    );
    assert_eq!(
        s.deploy_raw(Some(&token), "blog", &zip_of(&[("index.html", b"v2")]))
            .status,
        200
    );
    let (code, out, err) = cli(&["rollback", "blog"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Rolled back 'blog'"), "{out}");
    assert_eq!(s.get("blog.localhost", "/").text(), "v1");
    assert_eq!(cli(&["rollback", "blog"]).0, 0);
    assert_eq!(
        s.get("blog.localhost", "/").text(),
        "v2",
        "a second rollback undoes the first"
    );

    let (code, out, _) = cli(&["sites"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("blog") && out.contains(&format!("http://blog.localhost:{}/", s.port)),
        "{out}"
    );

    // teardown --keep-data keeps the site's db keys; plain teardown removes them.
    s.db()
        .execute(
            "INSERT INTO kv_store (site_id, key, value) VALUES ('blog', 'k', '1')",
            [],
        )
        .unwrap();
    let (code, _, err) = cli(&["teardown", "blog", "--keep-data"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(s.get("blog.localhost", "/").status, 404);
    let kv = |s: &Server| -> i64 { s.count("SELECT count(*) FROM kv_store") };
    assert_eq!(kv(&s), 1);
    assert_eq!(
        s.deploy_raw(Some(&token), "blog", &zip_of(&[("index.html", b"v3")]))
            .status,
        200
    );
    assert_eq!(cli(&["teardown", "blog"]).0, 0);
    assert_eq!(kv(&s), 0);
    assert!(!s.sites_dir().join("blog").exists());
    let (code, _, err) = cli(&["teardown", "blog"]);
    assert_eq!(code, 1);
    assert!(err.contains("no site 'blog'"), "{err}");
}

#[test]
fn a_scoped_key_sees_and_touches_only_its_sites() {
    let s = Server::start();
    let admin = s.create_key("owner", &["deploy:*"]);
    let friend = s.create_key("friend", &["deploy:blog"]);
    for site in ["blog", "shop"] {
        assert_eq!(
            s.deploy_raw(Some(&admin), site, &zip_of(&[("index.html", b"x")]))
                .status,
            200
        );
    }
    let url = s.url();
    let (code, out, _) = run_cli(&["sites", "--server", &url, "--token", &friend]);
    assert_eq!(code, 0);
    assert!(out.contains("blog") && !out.contains("shop"), "{out}");
    let (code, _, err) = run_cli(&["teardown", "shop", "--server", &url, "--token", &friend]);
    assert_eq!(code, 1);
    assert!(err.contains("may not deploy 'shop'"), "{err}");
    assert_eq!(s.get("shop.localhost", "/").status, 200);
}

#[test]
fn the_cli_finds_its_token_and_refuses_mistakes() {
    let s = Server::start();
    let token = s.create_key("me", &[]);
    let home = tempfile::tempdir().unwrap();
    let site_dir = tempfile::tempdir().unwrap();
    write(site_dir.path(), &[("index.html", "from env")]);
    let home_str = home.path().to_str().unwrap();
    let url = s.url();

    // CC_TOKEN and CC_SERVER
    let (code, _, err) = run_cli_in(
        site_dir.path(),
        &["deploy", "blog"],
        &[
            ("CC_TOKEN", &token),
            ("CC_SERVER", &url),
            ("HOME", home_str),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(s.get("blog.localhost", "/").text(), "from env");

    // ~/.cc-token
    std::fs::write(home.path().join(".cc-token"), format!("{token}\n")).unwrap();
    write(site_dir.path(), &[("index.html", "from file")]);
    let (code, _, err) = run_cli_in(
        site_dir.path(),
        &["deploy", "blog", "--server", &url],
        &[("HOME", home_str)],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(s.get("blog.localhost", "/").text(), "from file");

    // --token wins over the file
    let (code, _, err) = run_cli_in(
        site_dir.path(),
        &["deploy", "blog", "--server", &url, "--token", "cc_bad"],
        &[("HOME", home_str)],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("revoked token") && err.contains("401"),
        "{err}"
    );

    // No token anywhere
    std::fs::remove_file(home.path().join(".cc-token")).unwrap();
    let (code, _, err) = run_cli_in(
        site_dir.path(),
        &["deploy", "blog", "--server", &url],
        &[("HOME", home_str)],
    );
    assert_eq!(code, 2);
    assert!(err.contains("no deploy token"), "{err}");

    // An empty folder, the home folder
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = run_cli_in(
        empty.path(),
        &["deploy", "blog", "--server", &url, "--token", &token],
        &[("HOME", home_str)],
    );
    assert_eq!(code, 2);
    assert!(err.contains("no files") && err.contains("--yes"), "{err}");
    let (code, _, err) = run_cli_in(
        home.path(),
        &["deploy", "blog", "--server", &url, "--token", &token],
        &[("HOME", home_str)],
    );
    assert_eq!(code, 2);
    assert!(err.contains("home") && err.contains("--yes"), "{err}");
    assert_eq!(
        s.get("blog.localhost", "/").text(),
        "from file",
        "refusals changed the site"
    );

    // A bad site name is a usage error before any network traffic.
    let (code, _, err) = run_cli_in(
        site_dir.path(),
        &["deploy", "Bad_Name", "--server", &url, "--token", &token],
        &[],
    );
    assert_eq!(code, 2);
    assert!(err.contains("not a valid site name"), "{err}");
}

#[test]
fn a_crash_mid_upload_leaves_the_old_site_and_no_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = Server::builder().data_dir(&data).start();
    let token = s.create_key("me", &[]);
    assert_eq!(
        s.deploy_raw(Some(&token), "blog", &zip_of(&[("index.html", b"v1")]))
            .status,
        200
    );

    // Start a 20 MB upload, send half of it, then kill -9 the server.
    let big = zip_of(&[("noise.bin", &pseudo_random(20 * 1024 * 1024))]);
    let mut c = s.connect();
    let boundary = "B0undary";
    let body_head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"site_name\"\r\n\r\nblog\r\n--{boundary}\r\n\
         Content-Disposition: form-data; name=\"file\"; filename=\"x.zip\"\r\n\r\n"
    );
    let total = body_head.len() + big.len() + boundary.len() + 8;
    write!(
        c,
        "POST /api/deploy HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {total}\r\n\r\n{body_head}"
    )
    .unwrap();
    c.write_all(&big[..big.len() / 2]).unwrap();
    // Wait until the server has started writing the upload to disk.
    let uploads = data.join("deploy/uploads");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while listing(&uploads).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the upload never reached the disk: {:?}",
            s.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    s.kill();
    drop(c);
    // A staging folder from an unpack that was cut short, too.
    std::fs::create_dir_all(data.join("deploy/staging/blog-123456/half")).unwrap();

    let s = Server::builder().data_dir(&data).start();
    assert_eq!(s.get("blog.localhost", "/").text(), "v1");
    assert!(
        listing(&data.join("deploy/uploads")).is_empty(),
        "upload left behind"
    );
    assert!(
        std::fs::read_dir(data.join("deploy/staging"))
            .unwrap()
            .next()
            .is_none(),
        "staging left behind"
    );
}

#[test]
fn a_site_over_its_disk_quota_is_refused_and_keeps_its_live_files() {
    let s = Server::builder().arg("--max-site-mb").arg("1").start();
    let token = s.create_key("q", &["deploy:*"]);
    let first = pseudo_random(600 * 1024);
    let v1 = zip_of(&[("index.html", b"v1"), ("a.bin", &first)]);
    assert_eq!(s.deploy_raw(Some(&token), "big", &v1).status, 200);
    // 600 KB new + 600 KB kept for rollback > 1 MiB.
    let second = pseudo_random(601 * 1024);
    let v2 = zip_of(&[("index.html", b"v2"), ("b.bin", &second)]);
    let r = s.deploy_raw(Some(&token), "big", &v2);
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("quota of 1 MiB"), "{}", r.text());
    assert!(r.text().contains("kept for rollback"), "{}", r.text());
    assert_eq!(s.get("big.localhost", "/").text(), "v1");
    assert!(
        listing(&s.data_dir.join("deploy/staging")).is_empty(),
        "staging left behind"
    );
    // A small deploy still fits, and another site has its own quota.
    let small = zip_of(&[("index.html", b"v3")]);
    assert_eq!(s.deploy_raw(Some(&token), "big", &small).status, 200);
    assert_eq!(s.get("big.localhost", "/").text(), "v3");
    assert_eq!(s.deploy_raw(Some(&token), "other", &v1).status, 200);
    // The site's db data counts too.
    let script = zip_of(&[(
        "main.js",
        br#"db.set("blob", "x".repeat(700000)); res.send("stored");"#,
    )]);
    assert_eq!(s.deploy_raw(Some(&token), "notes", &script).status, 200);
    assert_eq!(s.get("notes.localhost", "/").text(), "stored");
    let more = pseudo_random(400 * 1024);
    let r = s.deploy_raw(
        Some(&token),
        "notes",
        &zip_of(&[("main.js", b"res.send('v2')"), ("c.bin", &more)]),
    );
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("1 MiB in its db"), "{}", r.text());
    // The site's detail (API and dashboard) shows what counts against the quota.
    let auth = format!("Bearer {token}");
    let detail = s.request(
        "GET",
        "localhost",
        "/api/sites/notes",
        &[("Authorization", &auth)],
    );
    let detail: serde_json::Value = serde_json::from_str(&detail.text()).unwrap();
    let disk = &detail["disk"];
    assert_eq!(disk["quota_bytes"], 1024 * 1024, "{detail}");
    assert!(disk["db_bytes"].as_u64().unwrap() >= 700_000, "{detail}");
    let parts = ["live_bytes", "previous_bytes", "db_bytes"].map(|k| disk[k].as_u64().unwrap());
    assert_eq!(
        disk["total_bytes"].as_u64().unwrap(),
        parts.iter().sum::<u64>()
    );
}

#[test]
fn the_dashboard_shows_a_sites_disk_use_against_its_quota() {
    let s = Server::builder()
        .env("CC_ADMIN_PASSWORD", crate::admin::PASSWORD)
        .arg("--max-site-mb")
        .arg("5")
        .start();
    s.write_file(
        "notes",
        "main.js",
        r#"db.set("blob", "x".repeat(300000)); res.send("ok");"#,
    );
    assert_eq!(s.get("notes.localhost", "/").text(), "ok");
    let page = crate::admin::login(&s).get("/sites/notes").text();
    let at = page.find("id=\"disk\"").expect("a disk card");
    let card = &page[at..at + 300];
    assert!(card.contains("Disk (quota 5.2 MB)"), "{card}");
    assert!(card.contains("300.0 KB in db"), "{card}");
}
