//! Custom domains: the other host names a site answers for (`www.example.com`), set by a
//! `CNAME` file in its deployed folder (Surge's convention), the dashboard or `cc-server
//! domains`. Owns which names may be claimed and the host → site map the router consults
//! (read again every couple of seconds, so the CLI's changes apply without a restart). SQL is
//! the store's; routing the names the server owns (`<site>.<domain>`) is the router's.

use std::collections::HashMap;

use crate::refreshed::Refreshed;
use crate::router::{self, Route};

/// Host name → site.
pub type Map = HashMap<String, String>;

#[derive(Default)]
pub struct Domains {
    map: Refreshed<Map>,
}

impl Domains {
    /// The site `host` (normalised: lower case, no port) was given to, if any.
    pub fn site_for(&self, host: &str, load: impl FnOnce() -> Option<Map>) -> Option<String> {
        self.map.get(load).get(host).cloned()
    }

    /// Reads the map again on the next request (after a change made by this server).
    pub fn changed(&self) {
        self.map.changed();
    }
}

/// Checks a host name a site wants to claim on a server whose domain is `domain`; returns it
/// normalised. The dashboard's own names and every `<label>.<domain>` / `*.localhost` name
/// are the server's, never a site's to claim.
pub fn check_claim(raw: &str, domain: &str) -> Result<String, String> {
    let host = router::normalise_host(raw.trim())
        .filter(|h| !h.is_empty() && !h.contains(':'))
        .ok_or_else(|| format!("'{}' is not a host name", raw.trim()))?;
    if host.len() > 253
        || !host.contains('.')
        || host.split('.').any(|label| {
            label.is_empty() || label.len() > 63 || label.starts_with('-') || label.ends_with('-')
        })
    {
        return Err(format!(
            "'{host}' is not a host name (labels of a-z 0-9 -, dot-separated, like www.example.com)"
        ));
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!("'{host}' is an IP address, not a host name"));
    }
    if router::route(Some(&host), domain) != Route::Unknown
        || host == domain
        || host.ends_with(&format!(".{domain}"))
        || host.ends_with(".localhost")
    {
        return Err(format!(
            "'{host}' is one of this server's own names (the dashboard, or a <site>.{domain} name)"
        ));
    }
    Ok(host)
}

/// The host in a deployed `CNAME` file: its first non-empty line (Surge allows a scheme).
pub fn parse_cname_file(text: &str, domain: &str) -> Result<String, String> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or("CNAME is empty: it should hold one host name, like www.example.com")?;
    let host = line
        .strip_prefix("https://")
        .or_else(|| line.strip_prefix("http://"))
        .unwrap_or(line)
        .trim_end_matches('/');
    check_claim(host, domain).map_err(|e| format!("CNAME: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_outside_names_may_be_claimed() {
        assert_eq!(
            check_claim("WWW.Example.com.", "cc.lan").unwrap(),
            "www.example.com"
        );
        assert_eq!(
            check_claim("shop.example.org:8080", "cc.lan").unwrap(),
            "shop.example.org"
        );
        for own in [
            "cc.lan",
            "blog.cc.lan",
            "x.y.cc.lan",
            "localhost",
            "a.localhost",
            "10.0.0.1",
            "[::1]",
        ] {
            assert!(check_claim(own, "cc.lan").is_err(), "{own}");
        }
        for bad in [
            "",
            "nodot",
            "a..b",
            "-a.com",
            "a b.com",
            "a/b.com",
            "ex ample.com",
        ] {
            assert!(check_claim(bad, "cc.lan").is_err(), "{bad}");
        }
        assert_eq!(
            parse_cname_file("\nhttps://www.example.com/\n", "cc.lan").unwrap(),
            "www.example.com"
        );
        assert!(parse_cname_file("", "cc.lan").is_err());
    }
}
