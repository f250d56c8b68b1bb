//! The names cc-server accepts: site names (DNS labels), host names, and domains as an admin
//! types them or as the server's config gives them. Pure functions, no I/O; the one place
//! these rules live, used by the router, config, keys, deploys and the analytics endpoints.
//! The Host header's own parsing (ports, IP literals) belongs to the router.

/// A site name is a DNS label: 1–63 of `a-z 0-9 -`, not starting or ending with `-`.
pub fn is_valid_site_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// A DNS host name: dot-separated labels of 1-63 `a-z A-Z 0-9 -`, not starting or ending
/// with `-`, 253 characters at most.
pub fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// A host name as an admin or a browser gives it (maybe with a scheme, path, port or
/// trailing dots) → the lower-case host, checked.
pub fn normalise_domain(input: &str) -> Result<String, String> {
    let s = input.trim().to_ascii_lowercase();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(&s);
    let authority = s.split(['/', '?', '#']).next().unwrap_or("");
    let (host, port) = authority.split_once(':').unwrap_or((authority, ""));
    let host = host.trim_end_matches('.');
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{}' is not a domain name", input.trim()));
    }
    if is_host_name(host) {
        Ok(host.to_string())
    } else {
        Err(format!(
            "'{}' is not a domain name: give a host such as blog.example.com",
            input.trim()
        ))
    }
}

/// The server's own domain from its config: a host name only (no scheme, port or path),
/// lower-cased, one trailing dot dropped; `None` when it is not one.
pub fn parse_config_domain(raw: &str) -> Option<String> {
    let d = raw.trim().to_ascii_lowercase();
    let d = d.strip_suffix('.').unwrap_or(&d);
    is_host_name(d).then(|| d.to_string())
}

/// A Unix user name the service may run as: a lower-case letter or '_' first, then letters,
/// digits, '_' or '-'; at most 32 (what `useradd` takes on Debian without complaint).
pub fn is_unix_user(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 32
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_names_are_dns_labels() {
        let long = "a".repeat(63);
        let too_long = "a".repeat(64);
        for ok in ["a", "blog", "my-site", "x1", "0", long.as_str()] {
            assert!(is_valid_site_name(ok), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "A",
            "a.b",
            "a_b",
            "a b",
            "é",
            too_long.as_str(),
        ] {
            assert!(!is_valid_site_name(bad), "{bad}");
        }
    }

    #[test]
    fn domains_as_typed() {
        assert_eq!(
            normalise_domain(" https://Blog.Example.com/x ").unwrap(),
            "blog.example.com"
        );
        assert_eq!(normalise_domain("example.com:8080").unwrap(), "example.com");
        for bad in [
            "",
            "http://",
            "a..b",
            "-a.com",
            "a b.com",
            "<script>",
            "javascript:alert(1)",
        ] {
            assert!(normalise_domain(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn domains_from_config() {
        assert_eq!(
            parse_config_domain("Example.COM.").as_deref(),
            Some("example.com")
        );
        let long = format!("{}.com", "a".repeat(250));
        for bad in [
            "", ".", "a..b", "-a.com", "a_b.com", "a b", "x:80", "a.com..", &long,
        ] {
            assert_eq!(parse_config_domain(bad), None, "{bad}");
        }
    }
}
