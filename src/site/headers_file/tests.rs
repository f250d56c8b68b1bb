use super::*;

fn rules(text: &str) -> HeaderRules {
    HeaderRules::parse(text).unwrap_or_else(|e| panic!("{e}"))
}

fn headers(text: &str, path: &str) -> Vec<(String, String)> {
    rules(text).for_path(path)
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// The line and message of the error `text` gives; panics when it parses.
fn refusal(text: &str) -> (usize, String) {
    match HeaderRules::parse(text) {
        Ok(_) => panic!("expected {text:?} to be refused"),
        Err(e) => (e.line, e.message),
    }
}

fn assert_refused(text: &str, line: usize, needle: &str) {
    let (got_line, message) = refusal(text);
    assert_eq!(got_line, line, "{text:?}: {message}");
    assert!(
        message.contains(needle),
        "{text:?}: {message:?} lacks {needle:?}"
    );
}

const SAMPLE: &str = "\
# Security for every page
/*
  X-Frame-Options: DENY
  X-Content-Type-Options: nosniff

/assets/*
\tCache-Control: public, max-age=31536000, immutable

/blog/:slug
  X-Slug: :slug
";

#[test]
fn every_syntax_form() {
    let r = rules(SAMPLE);
    assert!(!r.is_empty());
    assert_eq!(
        r.for_path("/"),
        pairs(&[
            ("X-Frame-Options", "DENY"),
            ("X-Content-Type-Options", "nosniff")
        ])
    );
    assert_eq!(
        r.for_path("/assets/app.js"),
        pairs(&[
            ("X-Frame-Options", "DENY"),
            ("X-Content-Type-Options", "nosniff"),
            ("Cache-Control", "public, max-age=31536000, immutable"),
        ])
    );
    assert_eq!(
        r.for_path("/blog/hello-world")[2],
        ("X-Slug".into(), "hello-world".into())
    );
    // A placeholder is one segment, never empty.
    assert_eq!(r.for_path("/blog/a/b").len(), 2);
    assert_eq!(r.for_path("/blog/").len(), 2);
}

#[test]
fn empty_and_comment_only_files() {
    for text in ["", "\n\n", "# nothing\n   # indented comment\n", "\u{feff}"] {
        let r = rules(text);
        assert!(r.is_empty());
        assert!(r.for_path("/").is_empty());
    }
}

#[test]
fn crlf_bom_tabs_and_unindented_headers() {
    let text = "\u{feff}/a\r\n\tX-A: 1\r\nX-B:2\r\n  X-C :  spaced  value \r\n";
    assert_eq!(
        headers(text, "/a"),
        pairs(&[("X-A", "1"), ("X-B", "2"), ("X-C", "spaced  value")])
    );
}

#[test]
fn value_keeps_colons_and_tabs() {
    let text = "/with-colon\n  Link: <https://example.com/a:b>; rel=preload\n  X-Tab: a\tb\n";
    assert_eq!(
        headers(text, "/with-colon"),
        pairs(&[
            ("Link", "<https://example.com/a:b>; rel=preload"),
            ("X-Tab", "a\tb")
        ])
    );
}

#[test]
fn trailing_slash_follows_netlify() {
    let text = "/a\n  X-A: 1\n/b/\n  X-B: 1\n/dir/*\n  X-Dir: 1\n";
    let r = rules(text);
    for path in ["/a", "/a/"] {
        assert_eq!(r.for_path(path), pairs(&[("X-A", "1")]), "{path}");
    }
    for path in ["/b", "/b/"] {
        assert_eq!(r.for_path(path), pairs(&[("X-B", "1")]), "{path}");
    }
    for path in ["/dir", "/dir/", "/dir/x", "/dir/x/y/"] {
        assert_eq!(r.for_path(path), pairs(&[("X-Dir", "1")]), "{path}");
    }
    for path in ["/a/b", "/ab", "/directory", "/"] {
        assert!(r.for_path(path).is_empty(), "{path}");
    }
}

#[test]
fn splat_anywhere_and_empty() {
    let text = "/*.js\n  X-Js: 1\n/img-*\n  X-Img: :splat\n/*\n  X-All: :splat\n";
    let r = rules(text);
    assert_eq!(
        r.for_path("/deep/dir/app.js"),
        pairs(&[("X-Js", "1"), ("X-All", "deep/dir/app.js")])
    );
    assert_eq!(r.for_path("/.js")[0], ("X-Js".into(), "1".into()));
    assert_eq!(
        r.for_path("/img-"),
        pairs(&[("X-Img", ""), ("X-All", "img-")])
    );
    assert_eq!(r.for_path("/"), pairs(&[("X-All", "")]));
    assert_eq!(r.for_path("/app.jsx"), pairs(&[("X-All", "app.jsx")]));
}

#[test]
fn placeholders_and_splat_substitution() {
    let text = "\
/movies/:title
  x-movie-name: You are watching \":title\"
/shop/:category/:item.html
  X-Item: :category/:item at :itemized :unknown :splat
/files/*
  X-Path: /download/:splat
  X-Literal: time 12:30, ratio 1:2
";
    let r = rules(text);
    assert_eq!(
        r.for_path("/movies/Up"),
        pairs(&[("x-movie-name", "You are watching \"Up\"")])
    );
    assert_eq!(
        r.for_path("/shop/books/dune.html"),
        pairs(&[("X-Item", "books/dune at :itemized :unknown :splat")])
    );
    // A placeholder inside a segment needs the rest of the segment to match.
    assert!(r.for_path("/shop/books/dune.htm").is_empty());
    assert_eq!(
        r.for_path("/files/a/b%20c.pdf"),
        pairs(&[
            ("X-Path", "/download/a/b%20c.pdf"),
            ("X-Literal", "time 12:30, ratio 1:2")
        ])
    );
}

#[test]
fn long_paths_against_many_variables_stay_quick() {
    let text = "/*/:a/:b/:c/:d/:e/:f/:g/:h/z\n  X: :h\n/p/:x.html\n  X-Dot: :x\n";
    let long = "/a".repeat(2000);
    let started = std::time::Instant::now();
    assert!(headers(text, &long).is_empty());
    assert_eq!(headers(text, &format!("{long}/z")), pairs(&[("X", "a")]));
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    // Greedy like Cloudflare's regular expressions: the placeholder takes what it can.
    assert_eq!(headers(text, "/p/a.b.html"), pairs(&[("X-Dot", "a.b")]));
}

#[test]
fn a_colon_without_a_name_is_literal_text() {
    let text = "/v:1/:2/x\n  X-V: :1 :x\n";
    assert_eq!(headers(text, "/v:1/:2/x"), pairs(&[("X-V", ":1 :x")]));
    assert!(headers(text, "/v:1/a/x").is_empty());
}

#[test]
fn captured_text_cannot_inject_header_lines() {
    let text = "/u/:name\n  X-User: :name\n/s/*\n  X-Rest: [:splat]\n";
    let r = rules(text);
    let got = r.for_path("/u/evil\r\nSet-Cookie:a=b");
    assert_eq!(got, pairs(&[("X-User", "evil%0D%0ASet-Cookie:a=b")]));
    let got = r.for_path("/s/a\nb\u{0}c\u{7f} \"<x>\"é");
    assert_eq!(got[0].1, "[a%0Ab%00c%7F%20%22%3Cx%3E%22%C3%A9]");
    for (_, value) in r
        .for_path("/s/\r\n\r\n")
        .into_iter()
        .chain(r.for_path("/u/\t\x0b"))
    {
        assert!(!value.chars().any(|c| c.is_control()), "{value:?}");
    }
}

#[test]
fn non_ascii_rule_paths_match_what_browsers_send() {
    let text = "/café/*\n  X-Cafe: 1\n/{x}\n  X-Brace: 1\n";
    let r = rules(text);
    assert_eq!(r.for_path("/caf%C3%A9/menu"), pairs(&[("X-Cafe", "1")]));
    assert_eq!(r.for_path("/%7Bx%7D"), pairs(&[("X-Brace", "1")]));
}

#[test]
fn blocks_combine_in_file_order() {
    // Cloudflare's documented example.
    let text = "\
/secure/page
  X-Frame-Options: DENY
  X-Content-Type-Options: nosniff
  Referrer-Policy: no-referrer
/static/*
  Access-Control-Allow-Origin: *
  X-Robots-Tag: nosnippet
/*
  x-robots-tag: noindex
";
    let r = rules(text);
    assert_eq!(
        r.for_path("/static/styles.css"),
        pairs(&[
            ("Access-Control-Allow-Origin", "*"),
            ("X-Robots-Tag", "nosnippet, noindex")
        ])
    );
    assert_eq!(
        r.for_path("/secure/page"),
        pairs(&[
            ("X-Frame-Options", "DENY"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("x-robots-tag", "noindex"),
        ])
    );
}

#[test]
fn repeated_header_in_one_block_and_same_path_twice() {
    let text = "\
/*
  cache-control: max-age=0
  cache-control: no-cache
/x
  X-A: 1
/x
  X-A: 2
";
    let r = rules(text);
    assert_eq!(
        r.for_path("/y"),
        pairs(&[("cache-control", "max-age=0, no-cache")])
    );
    assert_eq!(
        r.for_path("/x/"),
        pairs(&[("cache-control", "max-age=0, no-cache"), ("X-A", "1, 2")])
    );
}

#[test]
fn set_cookie_is_never_joined() {
    let text = "/*\n  Set-Cookie: a=1; Path=/; Secure\n/x\n  set-cookie: b=2; HttpOnly\n";
    assert_eq!(
        headers(text, "/x"),
        pairs(&[
            ("Set-Cookie", "a=1; Path=/; Secure"),
            ("set-cookie", "b=2; HttpOnly")
        ])
    );
}

#[test]
fn detach_removes_what_earlier_blocks_set() {
    let text = "\
/*
  Content-Security-Policy: default-src 'self';
  X-Frame-Options: DENY
/*.jpg
  ! Content-Security-Policy
/special.jpg
  !x-frame-options
  X-Frame-Options: SAMEORIGIN
";
    let r = rules(text);
    assert_eq!(r.for_path("/a.jpg"), pairs(&[("X-Frame-Options", "DENY")]));
    assert_eq!(
        r.resolve("/a.jpg").detached,
        vec!["Content-Security-Policy".to_string()]
    );
    assert_eq!(
        r.for_path("/special.jpg"),
        pairs(&[("X-Frame-Options", "SAMEORIGIN")])
    );
    assert_eq!(
        r.resolve("/special.jpg").detached,
        vec!["Content-Security-Policy"]
    );
    assert_eq!(r.for_path("/a.png").len(), 2);
    assert!(r.resolve("/a.png").detached.is_empty());
}

#[test]
fn detach_placed_before_the_rule_it_targets_does_nothing_to_it() {
    // Rules apply in file order, so a detach only removes what is already set.
    let text = "/a.jpg\n  ! X-A\n/*\n  X-A: 1\n";
    let r = rules(text);
    assert_eq!(r.for_path("/a.jpg"), pairs(&[("X-A", "1")]));
    assert!(r.resolve("/a.jpg").detached.is_empty());
    // A block of only detaches is a valid block.
    assert_eq!(r.blocks.len(), 2);
}

#[test]
fn many_blocks_are_indexed_and_found() {
    let mut text = String::from("/*\n  X-All: 1\n/:lang/about\n  X-About: :lang\n");
    for n in 0..4990 {
        text.push_str(&format!(
            "/page-{n}\n  X-Page: {n}\n/section-{n}/*\n  X-Section: {n}/:splat\n"
        ));
    }
    text.push_str("/page-42\n  X-Page: again\n");
    let r = rules(&text);
    assert_eq!(r.blocks.len(), 9983);
    assert_eq!(r.exact.len(), 4990);
    assert_eq!(r.by_first_segment.len(), 4990);
    assert_eq!(r.unindexed.len(), 2);
    assert_eq!(
        r.for_path("/page-42"),
        pairs(&[("X-All", "1"), ("X-Page", "42, again")])
    );
    assert_eq!(
        r.for_path("/section-4989/x/y"),
        pairs(&[("X-All", "1"), ("X-Section", "4989/x/y")])
    );
    assert_eq!(
        r.for_path("/section-7"),
        pairs(&[("X-All", "1"), ("X-Section", "7/")])
    );
    assert_eq!(
        r.for_path("/en/about"),
        pairs(&[("X-All", "1"), ("X-About", "en")])
    );
    assert_eq!(r.for_path("/nowhere"), pairs(&[("X-All", "1")]));
    let started = std::time::Instant::now();
    for n in 0..2000 {
        assert_eq!(r.for_path(&format!("/page-{n}")).len(), 2);
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn refusals_name_the_line_and_what_to_do() {
    assert_refused("  X-A: 1\n", 1, "before any path");
    assert_refused("# c\n\nX-A: 1\n/a\n  X-B: 1\n", 3, "before any path");
    assert_refused(
        "/a\n  X-A: 1\nassets/*\n  X-B: 1\n",
        3,
        "must start with `/`: write /assets/*",
    );
    assert_refused("/a\n  X-A: 1\n  just words\n", 3, "expected `Name: value`");
    assert_refused("/a\n  : 1\n", 2, "name is empty");
    assert_refused("/a\n  X Frame: 1\n", 2, "not a header name");
    assert_refused("/a\n  X-Ü: 1\n", 2, "not a header name");
    assert_refused("/a\n  X-A:\n", 2, "no value");
    assert_refused("/a\n  X-A: 1\r2\n", 2, "control character U+000D");
    assert_refused("/a\n  X-A: 1\u{0}\n", 2, "control character U+0000");
    assert_refused("/a\n  X-A: \u{7f}\n", 2, "control character");
    assert_refused("/a /b 301\n", 1, "_redirects");
    assert_refused(
        "/a\n  X: 1\n/old/* /new/:splat 302!\n",
        3,
        "looks like _redirects syntax",
    );
    assert_refused("/a # note\n  X: 1\n", 1, "comment must be on its own line");
    assert_refused(
        "https://example.com/*\n  X: 1\n",
        1,
        "rules for a host name are not supported",
    );
    assert_refused("/a\n  X: 1\nhttp://:project.pages.dev/*\n", 3, "host name");
    assert_refused("/a?x=1\n  X: 1\n", 1, "query strings");
    assert_refused("/*/_next/*\n  X: 1\n", 1, "only one `*`");
    assert_refused("/:a/:a\n  X: 1\n", 1, "`:a` appears twice");
    assert_refused("/:splat\n  X: 1\n", 1, "another name");
    assert_refused(
        "/d/:year-:month\n  X: 1\n",
        1,
        "one `*` or `:name` per path segment",
    );
    assert_refused("/d/:name*\n  X: 1\n", 1, "per path segment");
    assert_refused("/a\n/b\n  X: 1\n", 1, "no header lines under it");
    assert_refused("/a\n  X: 1\n/b\n", 3, "no header lines under it");
    assert_refused("/a\n  ! X-A: 1\n", 2, "without a value");
    assert_refused("/a\n  !\n", 2, "name is empty");
}

#[test]
fn server_owned_headers_are_refused_in_any_case() {
    for name in server_owned()
        .map(|n| n.to_ascii_uppercase())
        .chain(["Content-Length".into(), "te".into()])
    {
        assert_refused(
            &format!("/a\n  X: 1\n  {name}: 1\n"),
            3,
            "set by the server",
        );
        assert_refused(&format!("/a\n  ! {name}\n"), 2, "set by the server");
    }
    // Names that merely contain one are fine.
    assert_eq!(headers("/a\n  X-Content-Length: 1\n", "/a").len(), 1);
}

#[test]
fn set_cookie_domain_is_refused_host_only_is_fine() {
    assert_refused(
        "/a\n  Set-Cookie: s=1; Path=/; Domain=example.com\n",
        2,
        "Domain",
    );
    assert_refused("/a\n  set-cookie: s=1;domain =.evil.test\n", 2, "Domain");
    let fine = "/a\n  Set-Cookie: domain=x; Path=/; SameSite=Lax\n  X-Note: Domain=ok\n";
    assert_eq!(headers(fine, "/a").len(), 2);
}

#[test]
fn limits() {
    let mut many = String::new();
    for n in 0..=MAX_BLOCKS {
        many.push_str(&format!("/p{n}\n  X: 1\n"));
    }
    assert_refused(&many, 2 * MAX_BLOCKS + 1, "more than 10000 paths");

    let mut wide = String::from("/a\n");
    for n in 0..=MAX_HEADERS_PER_BLOCK {
        wide.push_str(&format!("  X-{n}: 1\n"));
    }
    assert_refused(&wide, MAX_HEADERS_PER_BLOCK + 2, "more than 100 headers");

    let at_limit = format!("/a\n  X: {}\n", "v".repeat(MAX_VALUE_BYTES));
    assert_eq!(headers(&at_limit, "/a")[0].1.len(), MAX_VALUE_BYTES);
    assert_refused(
        &format!("/a\n  X: {}\n", "v".repeat(MAX_VALUE_BYTES + 1)),
        2,
        "over 8 KiB",
    );

    assert_refused(
        &format!("/{}\n  X: 1\n", "p".repeat(MAX_PATH_BYTES)),
        1,
        "path is over",
    );

    let big = format!("/a\n  X: 1\n#{}", "c".repeat(MAX_FILE_BYTES));
    let error = HeaderRules::parse(&big).unwrap_err();
    assert_eq!(error.line, 0);
    assert!(
        error
            .to_string()
            .starts_with("_headers: the file is over 1024 KiB")
    );
}

#[test]
fn error_display() {
    let error = HeaderRules::parse("/a\n  Connection: close\n").unwrap_err();
    assert_eq!(
        error.to_string(),
        "_headers line 2: `Connection` is set by the server and cannot be set here; remove this line"
    );
}

#[test]
fn random_lines_never_panic() {
    // xorshift64: deterministic, no crates.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let pieces = [
        "/",
        "*",
        ":",
        ":a",
        ":splat",
        "!",
        " ",
        "\t",
        "#",
        "-",
        ".",
        "é",
        "\r",
        "\0",
        "a",
        "Z",
        "9",
        "Set-Cookie",
        "Domain=",
        ";",
        "=",
        "://",
        "https",
        "X-A",
        "\n",
        "  ",
        "%",
        "?",
        "{",
        "/a/",
    ];
    let (mut parsed, mut refused) = (0, 0);
    for _ in 0..4000 {
        let mut text = String::new();
        for _ in 0..(next() % 12) {
            let indent = if next() % 2 == 0 { "  " } else { "" };
            text.push_str(indent);
            for _ in 0..(next() % 8) {
                text.push_str(pieces[(next() % pieces.len() as u64) as usize]);
            }
            text.push('\n');
        }
        match HeaderRules::parse(&text) {
            Ok(r) => {
                parsed += 1;
                for path in ["/", "/a", "/a/", "/x/y.js", "/é/%0A", "", "*", "//", "/:a"] {
                    for (name, value) in r.for_path(path) {
                        assert!(name.chars().all(is_tchar), "{text:?} {name:?}");
                        assert!(
                            !value.chars().any(|c| c.is_control() && c != '\t'),
                            "{text:?}"
                        );
                    }
                }
            }
            Err(e) => {
                refused += 1;
                assert!(
                    e.line <= text.lines().count() && !e.message.is_empty(),
                    "{e}"
                );
            }
        }
        has_content_hash(&text);
        default_cache_control(&text);
    }
    assert!(
        parsed > 100 && refused > 100,
        "parsed {parsed}, refused {refused}"
    );
}

#[test]
fn content_hash_names() {
    let hashed = [
        "app.3f9a2c1b8e7d6c5b4a39.js", // webpack [contenthash], 20 hex
        "app.3f9a2c1b.js",             // webpack [contenthash:8]
        "main.3f9a2c1b.chunk.js",      // create-react-app
        "2.3f9a2c1b.chunk.css",        // create-react-app numbered chunk
        "chunk-vendors.3f9a2c1b.js",   // Vue CLI
        "main.3f9a2c1b8e7d6c5b.js",    // Angular, 16 hex
        "main-3f9a2c1b8e7d6c5b.js",    // Next.js chunk
        "3f9a2c1b8e7d6c5b.css",        // Next.js CSS: the hash is the stem
        "3f9a2c1b8e7d6c5b4a39.png",    // webpack asset module [hash][ext]
        "app-3f9a2c1b8e7d6c5b4a39.js", // Gatsby
        "index-BXk2ac9f.js",           // Vite / Rollup base64url
        "vendor-BXk2ac9f.css",         // Vite
        "logo-C_x-2k9A.svg",           // Rollup hash holding `_` and `-`
        "start.BXk2ac9f.js",           // SvelteKit / Astro join with `.`
        "app-ZJXO2PXU.js",             // esbuild base32
        "chunk-4PQ7ZK2M.js",           // esbuild chunk
        "index.8f0a3c2d.js",           // Parcel
        "index.7879e19d.css",          // Rsbuild
        "application-3f9a2c1b.css",    // Rails Propshaft
        "app-5c2ad7e6f9d1ee8d8d6ba24f2f3c1d89.js", // Phoenix digest
        "main.min.1f3870be274f6c49b3e31a0c6728957f1f3870be274f6c49b3e31a0c6728957f.css", // Hugo
        "style.a1b2c3d4e5f6.css",      // Django ManifestStaticFilesStorage
        "main.3f9a2c1b.js.map",        // source map of a hashed file
        "app.3f9a2c1b.js.gz",          // precompressed
        "assets/index-BXk2ac9f.js",    // a path, not only a name
        "Inter-SemiBold-BXk2ac9f.woff2", // Vite-hashed font
    ];
    let plain = [
        "jquery.min.js",
        "my-component.js",
        "bootstrap.bundle.min.css",
        "README.md",
        "index.html",
        "font-awesome.css",
        "socket.io.js",
        "app-20240101.log", // a date, not a hash
        "logo-dark.svg",
        "chunk-vendors.js",
        "jquery-3.7.1.min.js",
        "Inter-SemiBold.woff2", // CamelCase font weight
        "Poppins-ExtraBold.ttf",
        "icon-LinkedIn.svg",
        "icon-Facebook.svg",
        "fa-solid-900.woff2",
        "android-chrome-512x512.png",
        "favicon-32x32.png",
        "photo-2024-01-01.jpg",
        "IMG_20240101_123456.jpg",
        "team-member12.jpg",  // a word with a number
        "jquery.fancybox.js", // an 8-letter word after `.`
        "angular.material.css",
        "polyfills-es2015.js",
        "deadbeef.png", // hex-looking name, no digit
        "1a2b3c4d.png", // short hex as the whole stem: a name
        "cafe.js",
        "index-DiwrgTda.js", // a real Rollup hash, but shaped like `SemiBold`: revalidated
        "app-ZJXOAPXU.js",   // a letters-only esbuild hash reads as an ALL-CAPS word
        "noextension",
        ".env",
        "",
        "a.",
        "vendor-BXk2ac9f", // the hash is the extension here, not between
    ];
    for name in hashed {
        assert!(has_content_hash(name), "{name} should count as hashed");
    }
    for name in plain {
        assert!(!has_content_hash(name), "{name} should not count as hashed");
    }
}

#[test]
fn default_cache_control_never_makes_html_immutable() {
    assert_eq!(default_cache_control("index-BXk2ac9f.js"), IMMUTABLE);
    assert_eq!(
        default_cache_control("static/css/3f9a2c1b8e7d6c5b.css"),
        IMMUTABLE
    );
    assert_eq!(default_cache_control("app.js"), REVALIDATE);
    assert_eq!(default_cache_control("index.html"), REVALIDATE);
    assert_eq!(default_cache_control("page.3f9a2c1b.html"), REVALIDATE);
    assert_eq!(default_cache_control("page.3f9a2c1b.HTM"), REVALIDATE);
    assert_eq!(default_cache_control("page.3f9a2c1b.html.gz"), REVALIDATE);
    assert_eq!(default_cache_control(""), REVALIDATE);
}

#[test]
fn captured_text_cannot_add_cookie_attributes_or_list_items() {
    let text = "/c/*\n  Set-Cookie: t=:splat; Path=/\n  Link: </:splat>\n";
    let got = headers(text, "/c/x;Domain=localhost;Path=/,y");
    assert_eq!(
        got,
        pairs(&[
            ("Set-Cookie", "t=x%3BDomain=localhost%3BPath=/%2Cy; Path=/"),
            ("Link", "</x%3BDomain=localhost%3BPath=/%2Cy>")
        ])
    );
}
