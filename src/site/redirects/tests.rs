use super::*;
use std::time::{Duration, Instant};

fn table(text: &str) -> Redirects {
    Redirects::parse(text).unwrap_or_else(|e| panic!("{e}"))
}

/// `(status, to)` of the unforced rule matching `path?query`.
fn hit(rules: &Redirects, path_and_query: &str) -> Option<(u16, String)> {
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    rules.find(path, query, false).map(|r| (r.status, r.to))
}

fn to(rules: &Redirects, path_and_query: &str) -> Option<String> {
    hit(rules, path_and_query).map(|(_, to)| to)
}

fn refusal(text: &str) -> ParseError {
    match Redirects::parse(text) {
        Ok(_) => panic!("accepted: {text:?}"),
        Err(e) => e,
    }
}

const NETLIFY_FILE: &str = "\
# Redirects from what the browser requests to what we serve
/home              /
/blog/my-post.php  /blog/my-post   # moved in 2019
/news              /blog
/cuties            https://www.petsofnetlify.com
/authors/c%C3%A9line  /authors/about-c%C3%A9line

\t/news/:year/:month/:slug\t/blog/:year-:month/:slug.html   302
/old/*      /new/:splat   301!
/store id=:id  /blog/:id  301
/search  q=netlify  lang=:lang  /netlify-:lang.html  302
/pass-through /index.html    200
/ecommerce    /store-closed  404
/gone         /gone.html     410
/docs/*       /docs/index.html#top  302
/app/*  200
/blog/*  https://blog.example.com/:splat  302
/*      /index.html   200
";

#[test]
fn a_realistic_netlify_file_parses_and_every_form_matches() {
    let rules = table(NETLIFY_FILE);
    assert_eq!(rules.len(), 16);
    assert!(!rules.is_empty());
    assert_eq!(hit(&rules, "/home"), Some((301, "/".into())));
    assert_eq!(
        to(&rules, "/blog/my-post.php").as_deref(),
        Some("/blog/my-post")
    );
    let cuties = rules.find("/cuties", None, false).unwrap();
    assert!(cuties.external);
    assert_eq!(
        (cuties.to.as_str(), cuties.line),
        ("https://www.petsofnetlify.com", 5)
    );
    assert_eq!(
        to(&rules, "/authors/c%c3%a9line").as_deref(),
        Some("/authors/about-c%C3%A9line")
    );
    assert_eq!(
        hit(&rules, "/news/2004/02/my-story"),
        Some((302, "/blog/2004-02/my-story.html".into()))
    );
    assert_eq!(
        to(&rules, "/store?id=my-post&other=1").as_deref(),
        Some("/blog/my-post")
    );
    assert_eq!(
        to(&rules, "/search?lang=fr&q=netlify").as_deref(),
        Some("/netlify-fr.html")
    );
    assert_eq!(
        hit(&rules, "/pass-through"),
        Some((200, "/index.html".into()))
    );
    assert_eq!(
        hit(&rules, "/ecommerce"),
        Some((404, "/store-closed".into()))
    );
    assert_eq!(hit(&rules, "/gone"), Some((410, "/gone.html".into())));
    assert_eq!(
        to(&rules, "/docs/x").as_deref(),
        Some("/docs/index.html#top")
    );
    assert_eq!(hit(&rules, "/app/a/b"), Some((200, "/app/a/b".into())));
    let blog = rules.find("/blog/2020/post", None, false).unwrap();
    assert_eq!((blog.status, blog.external), (302, true));
    assert_eq!(blog.to, "https://blog.example.com/2020/post");
    assert_eq!(
        hit(&rules, "/anything/else"),
        Some((200, "/index.html".into()))
    );
    // The forced rule is only found among forced rules.
    assert_eq!(
        rules.find("/old/a", None, true).map(|r| r.to).as_deref(),
        Some("/new/a")
    );
    assert_eq!(rules.find("/home", None, true), None);
}

#[test]
fn comments_blank_lines_whitespace_and_line_endings() {
    let rules =
        table("\u{feff}# top\r\n\r\n   \t\n  /a \t  /b#frag   302  # comment /c\r\n/c /d #302\n");
    assert_eq!(rules.len(), 2);
    assert_eq!(hit(&rules, "/a"), Some((302, "/b#frag".into())));
    assert_eq!(
        hit(&rules, "/c"),
        Some((301, "/d".into())),
        "`#302` is a comment, not a status"
    );
    assert_eq!(rules.find("/c", None, false).unwrap().line, 5);
    assert!(table("").is_empty());
    assert!(table("# only comments\n\n").is_empty());
}

#[test]
fn every_supported_status_and_the_bang_are_read() {
    let statuses = [301, 302, 303, 307, 308, 200, 404, 410, 451];
    let text: String = statuses
        .iter()
        .map(|s| format!("/s{s} /t{s} {s}\n/f{s} /t {s}!\n"))
        .collect();
    let rules = table(&text);
    for status in statuses {
        assert_eq!(
            hit(&rules, &format!("/s{status}")),
            Some((status, format!("/t{status}")))
        );
        assert_eq!(
            rules
                .find(&format!("/f{status}"), None, true)
                .unwrap()
                .status,
            status
        );
        assert_eq!(rules.find(&format!("/f{status}"), None, false), None);
    }
    let only_unforced = table("/ /home 302\n");
    assert_eq!(to(&only_unforced, "/").as_deref(), Some("/home"));
    assert_eq!(only_unforced.find("/", None, true), None);
}

#[test]
fn first_matching_rule_in_file_order_wins() {
    let rules = table("/blog/:slug /first\n/blog/hello /second\n/* /third 200\n/x /fourth\n");
    assert_eq!(to(&rules, "/blog/hello").as_deref(), Some("/first"));
    assert_eq!(
        to(&rules, "/x").as_deref(),
        Some("/third"),
        "the earlier `/*` wins over `/x`"
    );
    let rules = table("/blog/hello /exact\n/blog/:slug /pattern\n/:a/:b /wild\n");
    assert_eq!(to(&rules, "/blog/hello").as_deref(), Some("/exact"));
    assert_eq!(to(&rules, "/blog/other").as_deref(), Some("/pattern"));
    assert_eq!(to(&rules, "/other/x").as_deref(), Some("/wild"));
    let rules = table("/p id=1 /one\n/p /any\n");
    assert_eq!(to(&rules, "/p?id=2").as_deref(), Some("/any?id=2"));
    assert_eq!(to(&rules, "/p?id=1").as_deref(), Some("/one"));
}

#[test]
fn forced_and_unforced_rules_are_looked_up_apart() {
    let rules = table("/app/* /shell.html 200!\n/app/* /other.html 200\n/x /y 301!\n");
    assert_eq!(rules.find("/app/a", None, true).unwrap().to, "/shell.html");
    assert_eq!(rules.find("/app/a", None, false).unwrap().to, "/other.html");
    assert_eq!(rules.find("/x", None, true).unwrap().status, 301);
    assert_eq!(rules.find("/x", None, false), None);
}

#[test]
fn trailing_slashes_match_either_way_and_splats_match_empty() {
    let rules = table("/a /to-a\n/b/ /to-b\n/news/* /blog/:splat\n/c/:id /c2/:id\n");
    for path in ["/a", "/a/"] {
        assert_eq!(to(&rules, path).as_deref(), Some("/to-a"), "{path}");
    }
    for path in ["/b", "/b/"] {
        assert_eq!(to(&rules, path).as_deref(), Some("/to-b"), "{path}");
    }
    assert_eq!(to(&rules, "/news").as_deref(), Some("/blog/"));
    assert_eq!(to(&rules, "/news/").as_deref(), Some("/blog/"));
    assert_eq!(to(&rules, "/news/a/b").as_deref(), Some("/blog/a/b"));
    assert_eq!(to(&rules, "/news/a/").as_deref(), Some("/blog/a/"));
    assert_eq!(to(&rules, "/newsletter"), None);
    assert_eq!(to(&rules, "/c/1/").as_deref(), Some("/c2/1"));
    assert_eq!(
        to(&rules, "/c/"),
        None,
        "a placeholder needs a non-empty segment"
    );
    assert_eq!(to(&rules, "/c//x"), None);
    assert_eq!(to(&rules, "/a/b"), None);
    let prefixed = table("/blog* /b:splat\n");
    assert_eq!(to(&prefixed, "/blog-2/x").as_deref(), Some("/b-2/x"));
    assert_eq!(to(&prefixed, "/blo"), None);
}

#[test]
fn paths_are_case_sensitive_and_compared_decoded() {
    let rules = table("/About /about-us\n/caf%C3%A9 /coffee\n/a%20b /space\n/p/:name /q/:name\n");
    assert_eq!(
        to(&rules, "/about"),
        None,
        "Netlify: paths are case-sensitive"
    );
    assert_eq!(to(&rules, "/About").as_deref(), Some("/about-us"));
    assert_eq!(to(&rules, "/caf%c3%a9").as_deref(), Some("/coffee"));
    assert_eq!(to(&rules, "/café").as_deref(), Some("/coffee"));
    assert_eq!(to(&rules, "/a%20b").as_deref(), Some("/space"));
    assert_eq!(
        to(&rules, "/p/a%20b").as_deref(),
        Some("/q/a%20b"),
        "captures stay raw"
    );
    assert_eq!(to(&rules, "nope"), None, "a path must start with /");
}

#[test]
fn query_conditions_capture_compare_decoded_and_allow_extra_params() {
    let rules =
        table("/s q=hello%20world /hello\n/t id= /empty\n/u id=:id /u/:id\n/v a=1 b=:b /v/:b\n");
    assert_eq!(to(&rules, "/s?q=hello+world").as_deref(), Some("/hello"));
    assert_eq!(
        to(&rules, "/s?q=hello%20world&x=1").as_deref(),
        Some("/hello")
    );
    assert_eq!(to(&rules, "/s?q=hello"), None);
    assert_eq!(to(&rules, "/t?id=").as_deref(), Some("/empty"));
    assert_eq!(to(&rules, "/t?id"), None, "as Netlify: `id=` needs `?id=`");
    assert_eq!(to(&rules, "/u?id=a%2Fb").as_deref(), Some("/u/a%2Fb"));
    assert_eq!(to(&rules, "/u?id="), None);
    assert_eq!(to(&rules, "/u"), None);
    assert_eq!(
        to(&rules, "/u?id=first&id=second").as_deref(),
        Some("/u/first")
    );
    assert_eq!(to(&rules, "/v?b=2&a=1").as_deref(), Some("/v/2"));
    assert_eq!(
        to(&rules, "/v?b=2"),
        None,
        "every listed parameter is required"
    );
}

#[test]
fn the_query_string_is_passed_on_unless_the_rule_has_its_own() {
    let rules = table(
        "/a /b\n/c /d?x=1\n/e /f#top\n/g https://ex.com/h 302\n/i id=:id /j/:id\n/k /l 200\n",
    );
    assert_eq!(to(&rules, "/a?utm=1&p=2").as_deref(), Some("/b?utm=1&p=2"));
    assert_eq!(to(&rules, "/a?").as_deref(), Some("/b"));
    assert_eq!(to(&rules, "/c?y=2").as_deref(), Some("/d?x=1"));
    assert_eq!(to(&rules, "/e?y=2").as_deref(), Some("/f?y=2#top"));
    assert_eq!(
        to(&rules, "/g?y=2").as_deref(),
        Some("https://ex.com/h?y=2")
    );
    assert_eq!(to(&rules, "/i?id=7&y=2").as_deref(), Some("/j/7"));
    assert_eq!(to(&rules, "/k?y=2").as_deref(), Some("/l?y=2"));
}

#[test]
fn placeholders_fill_the_destination_and_other_colons_stay() {
    let rules =
        table("/u/:user/:repo https://ex.com:8443/:repo/:user/:unknown 302\n/x/:id /y-:id.html\n");
    assert_eq!(
        to(&rules, "/u/me/proj").as_deref(),
        Some("https://ex.com:8443/proj/me/:unknown")
    );
    assert_eq!(to(&rules, "/x/42").as_deref(), Some("/y-42.html"));
}

#[test]
fn a_splat_cannot_make_an_off_site_redirect() {
    let rules = table("/go/* /:splat\n/r/* /:splat 302\n");
    for path in [
        "/go//evil.com",
        "/go///evil.com",
        "/go/%2F%2Fevil.com",
        "/go/\\evil.com",
        "/go//\\evil.com",
    ] {
        let to = to(&rules, path).unwrap();
        assert!(
            !to.starts_with("//") && !to.starts_with("/\\"),
            "{path} → {to}"
        );
    }
    assert_eq!(to(&rules, "/go//evil.com").as_deref(), Some("/evil.com"));
    assert_eq!(to(&rules, "/go/ok/page").as_deref(), Some("/ok/page"));
    assert_eq!(to(&rules, "/go").as_deref(), Some("/"));
}

#[test]
fn captured_text_cannot_inject_a_line_break() {
    let rules = table("/go/* /to/:splat\n/q v=:v /v/:v\n");
    let encoded = to(&rules, "/go/%0d%0aSet-Cookie:%20x=1").unwrap();
    assert_eq!(encoded, "/to/%0d%0aSet-Cookie:%20x=1");
    // Even raw bytes a caller let through come out encoded.
    let raw = to(&rules, "/go/a\r\nSet-Cookie: x=1?p=\r\n").unwrap();
    assert_eq!(raw, "/to/a%0D%0ASet-Cookie:%20x=1?p=%0D%0A");
    let from_query = to(&rules, "/q?v=a%0D%0Ab").unwrap();
    assert_eq!(from_query, "/v/a%0D%0Ab");
    for to in [encoded, raw, from_query] {
        assert!(!to.contains(['\r', '\n', ' ']), "{to}");
    }
}

#[test]
fn each_unsupported_or_malformed_line_is_refused_with_its_line_number() {
    let cases: &[(&str, &str)] = &[
        (
            "https://a.com/* https://b.com/:splat 301!",
            "host name are not supported; use a path",
        ),
        ("/a", "no destination"),
        ("/a b.html 301", "must start with `/`"),
        ("/a 301", "no destination"),
        ("/a /b 418", "status 418 is not supported"),
        ("/a /b 301x", "bad status"),
        ("/a /b 3011", "bad status"),
        ("/a https://api.example.com/ 200", "proxy"),
        ("/a https://example.com/x 404!", "proxy"),
        (
            "/ /anz 302 Country=au,nz",
            "`Country=` conditions are not supported",
        ),
        (
            "/ /fr 302 language=fr",
            "`language=` conditions are not supported",
        ),
        (
            "/admin/* /admin/:splat 200! ROLE=admin",
            "`ROLE=` conditions are not supported",
        ),
        (
            "/a /b 302 Cookie=ab",
            "`Cookie=` conditions are not supported",
        ),
        ("/api/* /x/:splat 200 Sign=SECRET", "signed proxy"),
        ("/a /b 302 Foo=bar", "unknown condition"),
        ("/a /b 302 extra", "unexpected `extra`"),
        ("/a //evil.com", "another host"),
        ("/a /\\evil.com", "another host"),
        ("/a https:///x", "malformed URL"),
        ("/a https://", "malformed URL"),
        ("/a foo /b", "query condition `key=value`"),
        ("/a =x /b", "query condition `key=value`"),
        ("a /b", "must start with a single `/`"),
        ("//a /b", "must start with a single `/`"),
        ("/a?x=1 /b", "query conditions"),
        ("/a/*/b /c", "splat may only end the path"),
        ("/a/*.html /c", "splat may only end the path"),
        ("/a/:id.html /c", "placeholder is a whole segment"),
        ("/:a/:a /b", "`:a` is captured twice"),
        ("/a/* /b 302 x", "unexpected"),
        ("X-Frame-Options: DENY", "_headers"),
        (
            "/x/* https://example.com:splat 302",
            "host name of an outside URL",
        ),
        (
            "/:sub/* https://:sub.example.com/:splat",
            "host name of an outside URL",
        ),
    ];
    for (rule, expected) in cases {
        let error = refusal(&format!("# header\n/fine /ok\n\n{rule}\n/also /fine\n"));
        assert_eq!(error.line, 4, "{rule}");
        assert!(
            error.message.contains(expected),
            "{rule}: {}",
            error.message
        );
        assert!(
            error.to_string().starts_with("_redirects line 4: "),
            "{error}"
        );
    }
}

#[test]
fn a_pasted_headers_block_is_named_as_such() {
    let error = refusal("/ok /fine\n/*\n  X-Frame-Options: DENY\n  Cache-Control: no-cache\n");
    assert_eq!(error.line, 2);
    assert!(error.message.contains("_headers"), "{}", error.message);
    let error = refusal("/*\n  # comment\n\n  Access-Control-Allow-Origin: *\n");
    assert_eq!((error.line, error.message.contains("_headers")), (1, true));
}

#[test]
fn size_limits_are_enforced() {
    let long = format!("/a /{}\n", "b".repeat(MAX_LINE_BYTES));
    let error = refusal(&format!("/x /y\n{long}"));
    assert_eq!(error.line, 2);
    let many: String = (0..=MAX_RULES).map(|i| format!("/r{i} /t\n")).collect();
    let error = refusal(&many);
    assert_eq!(error.line, MAX_RULES + 1);
    assert!(error.message.contains("50000"), "{}", error.message);
    let huge = format!("# {}\n", "x".repeat(MAX_FILE_BYTES));
    let error = refusal(&huge);
    assert_eq!(error.line, 0);
    assert!(
        error.to_string().starts_with("_redirects: the file is"),
        "{error}"
    );
}

#[test]
fn fifty_thousand_rules_are_as_quick_to_search_as_five() {
    let mut text = String::new();
    for i in 0..MAX_RULES / 2 {
        text.push_str(&format!(
            "/exact{i} /e{i} 302\n/section{i}/:id/* /s{i}/:id/:splat\n"
        ));
    }
    let rules = table(&text);
    assert_eq!(rules.len(), MAX_RULES);
    assert_eq!(
        to(&rules, "/section24999/7/a/b").as_deref(),
        Some("/s24999/7/a/b")
    );
    assert_eq!(hit(&rules, "/exact12345"), Some((302, "/e12345".into())));
    assert_eq!(rules.find("/section7/x", None, false).unwrap().line, 16);
    let started = Instant::now();
    for i in 0..10_000 {
        let path = format!("/section{}/{i}/p", (i * 7) % 25_000);
        assert!(rules.find(&path, Some("a=1"), false).is_some());
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn parsing_and_matching_never_panic_on_noise() {
    let pieces = [
        "/",
        "/a",
        "/:x",
        "*",
        "/*",
        ":splat",
        "#",
        "#c",
        "=",
        "a=",
        "=b",
        "k=:v",
        "301",
        "200!",
        "!",
        "http://",
        "https://h",
        "//",
        "/\\",
        "\\",
        "%",
        "%zz",
        "%C3",
        "é",
        "\t",
        " ",
        "Country=x",
        "X-A:",
        ":",
        "?",
        "/b?q=1",
        "404",
        "0",
        "99999",
        "\u{feff}",
        "\r",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut accepted = 0;
    for _ in 0..3000 {
        let mut line = String::new();
        for _ in 0..next() % 8 {
            line.push_str(pieces[(next() % pieces.len() as u64) as usize]);
            if next() % 3 == 0 {
                line.push(' ');
            }
        }
        if let Ok(rules) = Redirects::parse(&line) {
            accepted += 1;
            for path in ["/", "/a", "/a/b/c", "//x", "/%zz/%C3", "/é/:x"] {
                for query in [None, Some("k=v&a"), Some("=&%")] {
                    let _ = rules.find(path, query, next() % 2 == 0);
                }
            }
        }
    }
    assert!(
        accepted > 100,
        "the noise should produce some valid rules: {accepted}"
    );
}

#[test]
fn the_costs_a_request_can_cause_are_capped_at_parse_and_at_match() {
    // Query conditions per rule.
    let conditions: String = (0..=MAX_QUERY_CONDITIONS)
        .map(|i| format!("k{i}=v "))
        .collect();
    let error = refusal(&format!("/a /b\n/s {conditions}/t\n"));
    assert_eq!(error.line, 2);
    assert!(error.message.contains("at most 10"), "{}", error.message);
    // Rules no index narrows down (each is tried for every request).
    let mut text: String = (0..MAX_UNINDEXED_RULES / 2)
        .map(|i| format!("/:p{i}/x /t\n/pre{i}* /t\n"))
        .collect();
    text.push_str("/fixed/:ok /t\n/*  /index.html  200\n");
    let error = refusal(&text);
    assert_eq!(error.line, MAX_UNINDEXED_RULES + 2);
    assert!(error.message.contains("1000 rules"), "{}", error.message);
    // A path over the limit matches nothing, not even `/*`.
    let rules = table("/s q=:q /found/:q\n/* /index.html 200\n");
    let long = format!("/{}", "a".repeat(MAX_REQUEST_PATH_BYTES));
    assert!(rules.find(&long, None, false).is_none());
    assert!(
        rules
            .find(&long[..MAX_REQUEST_PATH_BYTES], None, false)
            .is_some()
    );
    // Only the query's first pairs are seen; a repeated key: the first wins.
    let padding = "x=1&".repeat(MAX_QUERY_PAIRS - 1);
    assert_eq!(
        to(&rules, &format!("/s?{padding}q=1&q=2")).as_deref(),
        Some("/found/1")
    );
    assert_eq!(
        to(&rules, &format!("/s?{padding}x=1&q=1")).map(|to| to.starts_with("/index.html?")),
        Some(true)
    );
}

#[test]
fn the_worst_file_a_deploy_may_hold_costs_each_request_little() {
    // As many rules as are allowed, each with the most query conditions, all sharing the
    // request's first segment (or matching any) and failing only at their last condition.
    let conditions: String = (0..MAX_QUERY_CONDITIONS - 1)
        .map(|i| format!("k{i}=v "))
        .collect();
    let mut text = String::new();
    for i in 0..MAX_UNINDEXED_RULES {
        text.push_str(&format!("/:a/* {conditions}last=no{i} /w/:a\n"));
    }
    for i in 0..MAX_RULES - MAX_UNINDEXED_RULES {
        let bang = if i % 2 == 0 { "!" } else { "" };
        text.push_str(&format!("/x/* {conditions}last=no{i} /t 302{bang}\n"));
    }
    let rules = table(&text);
    let mut query: String = (0..MAX_QUERY_CONDITIONS - 1)
        .map(|i| format!("k{i}=v&"))
        .collect();
    query.push_str(&"junk=1&".repeat(MAX_QUERY_PAIRS));
    query.push_str("last=no1");
    let path = format!("/x/{}", "seg/".repeat(MAX_REQUEST_PATH_BYTES / 4 - 1));
    assert!(path.len() <= MAX_REQUEST_PATH_BYTES);
    let started = Instant::now();
    for _ in 0..10 {
        // Both lookups a request makes; `last=no1` is past the pairs looked at.
        assert!(rules.find(&path, Some(&query), true).is_none());
        assert!(rules.find(&path, Some(&query), false).is_none());
    }
    // About 3 ms a request when optimised (it was seconds); unoptimised test builds are ten
    // times slower, and the machine may be busy: the bound is generous.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?} for 10 requests",
        started.elapsed()
    );
}
