//! Host routing: which part of cc-server a request's Host header addresses.
//! Pure functions only: no I/O, no knowledge of HTTP beyond the header's text.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::names::is_valid_site_name;

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The admin dashboard and `/api/*`: `<domain>`, `localhost`, an IP literal, or no Host.
    Dashboard,
    /// A hosted site, by its (valid, lower-case) name.
    Site(String),
    /// Anything else: answered 404 `Site Not Found`.
    Unknown,
}

/// Routes a Host header value for a server whose domain is `domain` (already normalised:
/// lower case, no port, no trailing dot).
pub fn route(host: Option<&str>, domain: &str) -> Route {
    let Some(host) = host else {
        return Route::Dashboard;
    };
    let Some(host) = normalise_host(host) else {
        return Route::Unknown;
    };
    if host.is_empty() || host == domain || host == "localhost" || is_ip_literal(&host) {
        return Route::Dashboard;
    }
    for parent in [domain, "localhost"] {
        if let Some(label) = host
            .strip_suffix(parent)
            .and_then(|rest| rest.strip_suffix('.'))
            && is_valid_site_name(label)
        {
            return Route::Site(label.to_string());
        }
    }
    Route::Unknown
}

/// Lower-cases a Host value and drops its port and one trailing dot. `None` when the value
/// cannot be a host at all (bad port, unbalanced brackets, characters outside a hostname).
pub fn normalise_host(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let name = if let Some(rest) = raw.strip_prefix('[') {
        // [v6] or [v6]:port
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || is_port_suffix(after)) {
            return None;
        }
        inside.parse::<Ipv6Addr>().ok()?;
        return Some(format!("[{}]", inside.to_ascii_lowercase()));
    } else {
        match raw.rsplit_once(':') {
            Some((name, port)) if is_port_suffix(&format!(":{port}")) => name,
            Some(_) => return None,
            None => raw,
        }
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return None;
    }
    Some(name.to_ascii_lowercase())
}

fn is_port_suffix(s: &str) -> bool {
    s.strip_prefix(':')
        .is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok())
}

fn is_ip_literal(host: &str) -> bool {
    host.parse::<Ipv4Addr>().is_ok() || host.starts_with('[')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(name: &str) -> Route {
        Route::Site(name.to_string())
    }

    #[test]
    fn routes_every_kind_of_host() {
        let cases: &[(Option<&str>, &str, Route)] = &[
            (None, "localhost", Route::Dashboard),
            (Some(""), "localhost", Route::Dashboard),
            (Some("localhost"), "localhost", Route::Dashboard),
            (Some("localhost:4698"), "localhost", Route::Dashboard),
            (Some("LOCALHOST:4698"), "localhost", Route::Dashboard),
            (Some("localhost."), "localhost", Route::Dashboard),
            (Some("127.0.0.1"), "localhost", Route::Dashboard),
            (Some("192.168.1.20:4698"), "cc.lan", Route::Dashboard),
            (Some("[::1]"), "localhost", Route::Dashboard),
            (Some("[::1]:4698"), "localhost", Route::Dashboard),
            (Some("[FE80::1]:80"), "localhost", Route::Dashboard),
            (Some("cc.lan"), "cc.lan", Route::Dashboard),
            (Some("CC.LAN.:4698"), "cc.lan", Route::Dashboard),
            (Some("localhost"), "cc.lan", Route::Dashboard),
            (Some("blog.localhost"), "localhost", site("blog")),
            (Some("Blog.LocalHost:4698"), "localhost", site("blog")),
            (Some("blog.localhost."), "localhost", site("blog")),
            (Some("blog.localhost.:4698"), "localhost", site("blog")),
            (Some("blog.cc.lan:4698"), "cc.lan", site("blog")),
            (Some("blog.localhost"), "cc.lan", site("blog")),
            (Some("my-site-2.localhost"), "localhost", site("my-site-2")),
            (Some("a.b.localhost"), "localhost", Route::Unknown),
            (Some("a.b.cc.lan"), "cc.lan", Route::Unknown),
            (Some("-blog.localhost"), "localhost", Route::Unknown),
            (Some("blog-.localhost"), "localhost", Route::Unknown),
            (Some("b_log.localhost"), "localhost", Route::Unknown),
            (Some(".localhost"), "localhost", Route::Unknown),
            (Some("example.com"), "localhost", Route::Unknown),
            (Some("blogcc.lan"), "cc.lan", Route::Unknown),
            (Some("blog.localhost:99999"), "localhost", Route::Unknown),
            (Some("blog.localhost:abc"), "localhost", Route::Unknown),
            (Some("blog.localhost:"), "localhost", Route::Unknown),
            (Some("[::1"), "localhost", Route::Unknown),
            (Some("[nope]"), "localhost", Route::Unknown),
            (Some("bl/og.localhost"), "localhost", Route::Unknown),
            (Some("blög.localhost"), "localhost", Route::Unknown),
            (Some("blog.localhost\0"), "localhost", Route::Unknown),
        ];
        for (host, domain, want) in cases {
            assert_eq!(
                &route(*host, domain),
                want,
                "host {host:?} on domain {domain}"
            );
        }
    }
}
