//! main.js fetch(): the outgoing request and its address rules. One request per call, within
//! `FETCH_TIMEOUT`, redirects handed back rather than followed, marked as a script's; never to
//! this server's own port on a loopback address and, with `--fetch-deny-private`, never to a
//! loopback or private address at all. Never sees boa: `engine` hands over the URL and
//! fetch()'s options as JSON and turns the reply or the error into JavaScript.

use std::cell::RefCell;
use std::time::Duration;

use serde_json::{Value, json};

/// How long one `fetch` may take; this time does not count toward the run-time limit.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests one run may make (counted by `engine`, which knows the run).
pub const MAX_FETCHES: usize = 20;

thread_local! {
    /// This worker's HTTP agent, the server's own port and whether private addresses are
    /// refused (scripts run on one thread per worker process).
    static FETCH: RefCell<Option<(ureq::Agent, u16, bool)>> = const { RefCell::new(None) };
}

/// Sets up this thread's `fetch`: once per worker, from `Engine::new`.
pub(super) fn configure(server_port: u16, deny_private: bool) {
    let agent = agent(deny_private);
    FETCH.with(|f| *f.borrow_mut() = Some((agent, server_port, deny_private)));
}

fn agent(deny_private: bool) -> ureq::Agent {
    use ureq::unversioned::transport::DefaultConnector;
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        // Redirects are handed to the script, not followed: a redirect must not lead
        // past the address checks below (fetch's `redirect: "manual"`).
        .max_redirects(0)
        .timeout_global(Some(FETCH_TIMEOUT))
        // No proxy from the environment (HTTP_PROXY, ALL_PROXY…): through a proxy the
        // address connected to would never be checked.
        .proxy(None)
        .build();
    if deny_private {
        ureq::Agent::with_parts(config, DefaultConnector::default(), PublicOnly::default())
    } else {
        config.into()
    }
}

/// The resolver of a `--fetch-deny-private` agent: the addresses a request connects to are
/// the ones checked here. A check on a separate lookup before the request could be passed by
/// a name that resolves to a public address once and to a private one the next time (DNS
/// rebinding). (`ureq::unversioned` is ureq's unstable API: the version is pinned.)
#[derive(Default)]
struct PublicOnly(ureq::unversioned::resolver::DefaultResolver);

impl std::fmt::Debug for PublicOnly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublicOnly")
    }
}

impl ureq::unversioned::resolver::Resolver for PublicOnly {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let addrs = self.0.resolve(uri, config, timeout)?;
        if let Some(private) = addrs.iter().find(|a| is_private(a.ip())) {
            let host = uri.host().unwrap_or_default();
            return Err(ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "'{host}' resolves to a private address ({}) and this server refuses those",
                    private.ip()
                ),
            )));
        }
        Ok(addrs)
    }
}

/// One request for a script: `options` is fetch()'s JSON (`method`, `headers`, `body`). The
/// reply is `{status, url, headers, body}`; an error is the message after `fetch: `. `notify`
/// hears "start" and "end" around the wait on the network. Blocks the thread meanwhile.
pub(super) fn request(
    url: &str,
    options: &Value,
    notify: &mut dyn FnMut(&str),
) -> Result<Value, String> {
    let uri: ureq::http::Uri = url.parse().map_err(|_| format!("'{url}' is not a URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(format!("'{url}' is not an http:// or https:// URL"));
    }
    let (agent, own_port, deny_private) = FETCH
        .with(|f| f.borrow().clone())
        .ok_or_else(|| "not available".to_string())?;
    check_target(&uri, own_port, deny_private)?;

    let method = options["method"]
        .as_str()
        .unwrap_or("GET")
        .to_ascii_uppercase();
    let body = match &options["body"] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    let mut request = ureq::http::Request::builder()
        .method(method.as_str())
        .uri(uri);
    for (name, value) in options["headers"].as_object().into_iter().flatten() {
        if let Some(v) = value.as_str() {
            request = request.header(name.as_str(), v);
        }
    }
    // Marks the request as a script's: if it reaches this server after all (127.1, a LAN
    // address, a DNS name for loopback), the server refuses it (`SCRIPT_FETCH_HEADER`).
    let request = request
        .header(super::SCRIPT_FETCH_HEADER, "1")
        .body(body.unwrap_or_default())
        .map_err(|e| e.to_string())?;

    notify("start");
    let result = agent.run(request);
    notify("end");
    let mut response = result.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let mut headers = serde_json::Map::new();
    for (name, value) in response.headers() {
        headers.insert(
            name.as_str().to_string(),
            Value::String(value.to_str().unwrap_or_default().to_string()),
        );
    }
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    Ok(json!({ "status": status, "url": url, "headers": headers, "body": text }))
}

/// The address rules: no request to this server's own port on a loopback address (a script
/// calling its own server would wait on itself), and with `deny_private` none to a loopback or
/// private address, checked on every address the host name resolves to (for a clear early
/// answer; the agent's `PublicOnly` resolver checks again the addresses it connects to).
fn check_target(uri: &ureq::http::Uri, own_port: u16, deny_private: bool) -> Result<(), String> {
    let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.to_canonical())
            .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified());
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    if loopback && port == own_port {
        return Err("requests to this cc-server itself are not allowed".into());
    }
    if deny_private {
        use std::net::ToSocketAddrs;
        let addrs = (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve '{host}': {e}"))?;
        if loopback || addrs.into_iter().any(|a| is_private(a.ip())) {
            return Err(format!(
                "'{host}' is a private address and this server refuses those"
            ));
        }
    }
    Ok(())
}

/// Loopback, unspecified, RFC 1918, link-local, CGNAT and IPv6 unique-local addresses.
fn is_private(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || a == 0 // "this network", 0.0.0.0/8
                || (a == 100 && (64..128).contains(&b)) // CGNAT
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 240 // reserved and broadcast
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            // An IPv4 address inside IPv6 (mapped, compatible, or NAT64's 64:ff9b::/96 and
            // 64:ff9b:1::/48) reaches that IPv4 address.
            let embedded = std::net::Ipv4Addr::from(((s[6] as u32) << 16) | s[7] as u32);
            v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated, still routed by some)
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_private(std::net::IpAddr::V4(v4)))
                || (s[..6] == [0; 6] && is_private(std::net::IpAddr::V4(embedded)))
                || (s[0] == 0x64 && s[1] == 0xff9b && is_private(std::net::IpAddr::V4(embedded)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses() {
        for p in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.5",
            "169.254.1.1",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "192.0.0.8",
            "198.18.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "fec0::1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::a00:1",
        ] {
            assert!(is_private(p.parse().unwrap()), "{p}");
        }
        for p in [
            "1.1.1.1",
            "8.8.8.8",
            "2606:4700::1111",
            "100.128.0.1",
            "64:ff9b::808:808",
        ] {
            assert!(!is_private(p.parse().unwrap()), "{p}");
        }
    }

    #[test]
    fn never_to_this_servers_own_port_on_loopback() {
        let check = |url: &str| check_target(&url.parse().unwrap(), 4698, false);
        for own in [
            "http://127.0.0.1:4698/",
            "http://127.1.2.3:4698/x",
            "http://localhost:4698/",
            "http://LOCALHOST:4698/",
            "http://blog.localhost:4698/",
            "http://[::1]:4698/",
            "http://[::ffff:127.0.0.1]:4698/",
            "http://0.0.0.0:4698/",
        ] {
            assert!(check(own).is_err(), "{own}");
        }
        // Other ports, and other hosts on this port, are fine unless private ones are denied
        // (which needs a DNS lookup, so is left to the integration tests).
        for other in [
            "http://127.0.0.1:4699/",
            "http://localhost/",
            "https://localhost/",
            "http://192.168.1.10:4698/",
            "https://example.com:4698/",
        ] {
            assert!(check(other).is_ok(), "{other}");
        }
        assert!(check_target(&"http://127.0.0.1/".parse().unwrap(), 80, false).is_err());
        assert!(check_target(&"https://127.0.0.1/".parse().unwrap(), 443, false).is_err());
    }

    #[test]
    fn a_deny_private_agent_refuses_at_connect_time() {
        // The agent alone, without check_target: the lookup it connects with is the checked one.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!(
            "http://127.0.0.1:{}/",
            listener.local_addr().unwrap().port()
        );
        let err = agent(true).get(&url).call().unwrap_err().to_string();
        assert!(err.contains("private address"), "{err}");
        assert!(listener.accept().is_err(), "it connected anyway");
        // Without the flag the same request goes through to the listener.
        let _ = std::thread::spawn(move || agent(false).get(&url).call());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while listener.accept().is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "no connection without the flag"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
