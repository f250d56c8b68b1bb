//! Short links: what a slug and a target may be, and the public `GET /r/<slug>` on the
//! dashboard host, which answers 302 to the target, counts the click and records a
//! `source_type='redirect'` event. Creating, editing and deleting are `Services` actions.

use crate::analytics::Visit;
use crate::http::{Request, Response};
use crate::services::Services;
use crate::store;

/// Longest slug: short links are meant to be typed.
pub const MAX_SLUG: usize = 64;
/// Longest target, the length browsers and mail clients reliably handle in a Location header.
pub const MAX_TARGET: usize = 2048;

/// A slug is 1–64 of `a-z A-Z 0-9 - _`: URL-safe as is, so `/r/<slug>` never needs decoding.
pub fn check_slug(slug: &str) -> Result<(), String> {
    let ok = !slug.is_empty()
        && slug.len() <= MAX_SLUG
        && slug
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{}' is not a valid slug: use 1-{MAX_SLUG} characters of a-z, A-Z, 0-9, '-' and '_'",
            slug.chars().take(80).collect::<String>()
        ))
    }
}

/// Checks a target as typed and returns it without surrounding whitespace. Only absolute
/// `http(s)://host…` URLs pass: anything else (`javascript:`, `data:`, `//host`) would let a
/// link on this server run script or land somewhere the admin did not see.
pub fn check_target(input: &str) -> Result<String, String> {
    let target = input.trim();
    parse_target(target)?;
    Ok(target.to_string())
}

/// The lower-case host of a (valid) target, as analytics records it: `domain` of the event.
pub fn target_host(target: &str) -> Option<String> {
    parse_target(target).ok()
}

fn parse_target(t: &str) -> Result<String, String> {
    if t.is_empty() {
        return Err("give a target URL, such as https://example.com/page".into());
    }
    if t.len() > MAX_TARGET {
        return Err(format!(
            "the target URL is {} bytes long; the limit is {MAX_TARGET}",
            t.len()
        ));
    }
    if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the target URL may not contain spaces or control characters".into());
    }
    // Location is an ASCII header; other characters must arrive percent-encoded (and
    // international domain names in their xn-- form).
    if !t.is_ascii() {
        return Err(
            "the target URL must be ASCII: percent-encode other characters and write international domain names as xn--…".into(),
        );
    }
    let lower = t.to_ascii_lowercase();
    let rest = if let Some(r) = lower.strip_prefix("https://") {
        r
    } else if let Some(r) = lower.strip_prefix("http://") {
        r
    } else {
        let scheme = lower.split_once(':').map(|(s, _)| s).filter(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        });
        return Err(match scheme {
            Some("http" | "https") => {
                "the target URL needs '//' and a host after the scheme, as in https://example.com/"
                    .into()
            }
            Some(s) => {
                format!("'{s}:' URLs are not allowed: the target must be http:// or https://")
            }
            None => "the target must be an absolute URL starting with http:// or https://".into(),
        });
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err("the target URL has no host, as in https://example.com/".into());
    }
    // `https://trusted.example@evil.example/` goes to evil.example: refuse the disguise.
    if authority.contains('@') {
        return Err("the target URL may not contain a user name or password (user@host)".into());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or("the target's IPv6 address lacks its closing ']'")?;
        addr.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("'[{addr}]' is not an IPv6 address"))?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("a ':port' must follow ']'")?),
        };
        (addr.to_string(), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        let host = host.strip_suffix('.').unwrap_or(host);
        if !crate::names::is_host_name(host) {
            return Err(format!("'{host}' is not a host name the target can go to"));
        }
        (host.to_string(), port)
    };
    if let Some(p) = port
        && !p.parse::<u16>().is_ok_and(|n| n > 0)
    {
        return Err(format!("'{p}' is not a port number (1-65535)"));
    }
    Ok(host)
}

/// The public address of a short link, on the host the admin reached the dashboard by.
pub fn short_url(svc: &Services, req: &Request, slug: &str) -> String {
    svc.public_url(req, &format!("/r/{slug}"))
}

/// `GET /r/<slug>` (public): 302 to the target, one click and one `redirect` event; an
/// unknown slug is a 404 and records nothing. A HEAD (link checkers, unfurlers that only
/// look) answers the same 302 but counts nothing.
pub fn redirect(svc: &Services, req: &Request, slug: &str) -> Response {
    // Limited before the lookup, so guessing slugs costs the same as following them.
    if let Err(too_many) = svc.check_public_rate(req) {
        return too_many.to_json_response();
    }
    if check_slug(slug).is_err() {
        return not_found();
    }
    let conn = match svc.conn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("links: {e}");
            return unavailable();
        }
    };
    let target = if req.is_head() {
        store::links::get(&conn, slug).map(|l| l.map(|l| l.target))
    } else {
        store::links::click(&conn, slug)
    };
    let target = match target {
        Ok(Some(t)) => t,
        Ok(None) => return not_found(),
        Err(e) => {
            eprintln!("links: /r/{slug}: {e}");
            return unavailable();
        }
    };
    // Targets are checked when saved; a row edited by hand in cc.db is checked again here.
    let Some(host) = target_host(&target) else {
        eprintln!("links: /r/{slug} has a target that is not an http(s) URL; not following it");
        return not_found();
    };
    if !req.is_head() {
        let path = format!("/r/{slug}");
        let ip = svc.client_ip(req);
        svc.recorder
            .record(Visit::now(req, ip, "redirect", host, path, 302));
    }
    Response::new(302)
        .with_header("Location", target)
        // Every click must reach us to be counted: no browser or proxy may keep the answer.
        .with_header("Cache-Control", "no-store")
        // This server records the referring page itself; the target is not told which page
        // (a webmail message, a private document) the link was clicked on.
        .with_header("Referrer-Policy", "no-referrer")
}

fn not_found() -> Response {
    Response::text(404, "404 Not Found: there is no such short link")
}

fn unavailable() -> Response {
    Response::text(
        503,
        "503 Service Unavailable: the database is not available right now",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for ok in ["a", "Launch-2026_v2", &"x".repeat(64)] {
            assert!(check_slug(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a/b", "a.b", "é", "a%20", &"x".repeat(65)] {
            assert!(check_slug(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn targets_that_pass() {
        for (input, host) in [
            ("https://example.com", "example.com"),
            (" https://Example.COM/a/b?c=d#e ", "example.com"),
            ("HTTP://example.com:8080/x", "example.com"),
            ("http://10.0.0.2/", "10.0.0.2"),
            ("http://[::1]:4698/", "::1"),
            ("https://blog.example.com./post", "blog.example.com"),
            ("https://xn--bcher-kva.example/", "xn--bcher-kva.example"),
        ] {
            let t = check_target(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(t, input.trim());
            assert_eq!(target_host(&t).as_deref(), Some(host), "{input}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_TARGET - 20));
        assert_eq!(long.len(), MAX_TARGET);
        assert!(check_target(&long).is_ok());
    }

    #[test]
    fn targets_that_are_refused_say_why() {
        for (input, why) in [
            ("", "give a target"),
            ("javascript:alert(1)", "'javascript:' URLs are not allowed"),
            ("JavaScript:alert(1)", "'javascript:' URLs are not allowed"),
            ("data:text/html,<script>alert(1)</script>", "'data:' URLs"),
            ("//evil.example/", "absolute URL"),
            ("evil.example", "absolute URL"),
            ("http:/x", "needs '//' and a host"),
            ("https:example.com", "needs '//' and a host"),
            ("ftp://example.com/", "'ftp:'"),
            ("http://", "no host"),
            ("https:///path", "no host"),
            ("http://?q", "no host"),
            ("https://a b.example/", "spaces"),
            ("https://example.com/\u{0}", "control"),
            ("https://example.com/a\tb", "spaces"),
            ("https://exämple.com/", "ASCII"),
            ("https://good.example@evil.example/", "user name"),
            ("https://good.example\\@evil.example/", "user name"),
            ("https://-bad.example/", "not a host name"),
            ("https://bad_host.example/", "not a host name"),
            ("https://<script>/", "not a host name"),
            ("http://example.com:99999/", "port"),
            ("http://example.com:x/", "port"),
            ("http://[::1/", "closing"),
            ("http://[zz]/", "IPv6"),
        ] {
            let e = check_target(input).expect_err(input);
            assert!(e.contains(why), "{input}: {e}");
        }
        let e =
            check_target(&format!("https://example.com/{}", "a".repeat(MAX_TARGET))).unwrap_err();
        assert!(e.contains("limit is 2048"), "{e}");
    }
}
