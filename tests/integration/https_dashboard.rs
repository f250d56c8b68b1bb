//! The dashboard's side of HTTPS, through the real binary: the Settings page's HTTPS section
//! (off: how to turn it on; `internal`: mode, port, certificates, the CA's fingerprint and
//! install steps) and the public `GET /ca.crt`, checked against what `cc-server ca` prints.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::admin::{host, login, server};
use crate::harness::{HttpResponse, Server, run_cli};

fn internal() -> Server {
    crate::https::internal(Server::builder())
}

/// `cc-server ca` on the server's data dir: (PEM on stdout, fingerprint on stderr).
fn cli_ca(s: &Server) -> (String, String) {
    let (code, out, err) = run_cli(&["ca", "--data-dir", s.data_dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let fingerprint = err
        .lines()
        .find_map(|l| l.strip_prefix("SHA-256 fingerprint: "))
        .unwrap_or_else(|| panic!("no fingerprint in {err:?}"))
        .trim()
        .to_string();
    (out, fingerprint)
}

/// `GET /ca.crt` on the dashboard host with no cookie at all.
fn ca_crt(s: &Server) -> HttpResponse {
    s.get(&host(s), "/ca.crt")
}

/// One `GET` over TLS to the HTTPS port, asking for `name`, trusting only `ca_pem`.
fn https_get(port: u16, name: &str, path: &str, ca_pem: &str) -> HttpResponse {
    let mut roots = RootCertStore::empty();
    for cert in cc_server::tls::x509::pem_certs(ca_pem) {
        roots.add(CertificateDer::from(cert)).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let conn = ClientConnection::new(
        Arc::new(config),
        ServerName::try_from(name.to_string()).unwrap(),
    )
    .unwrap();
    let mut stream = StreamOwned::new(conn, tcp);
    let request = format!("GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut buf = Vec::new();
    match stream.read_to_end(&mut buf) {
        Ok(_) => {}
        // The server may close without close_notify after `Connection: close`.
        Err(e) if e.kind() == ErrorKind::UnexpectedEof && !buf.is_empty() => {}
        Err(e) => panic!("https://{name}{path}: {e}"),
    }
    HttpResponse::parse(&buf)
}

#[test]
fn internal_settings_show_the_ca_and_ca_crt_serves_it_without_a_login() {
    let s = internal();
    let (pem, fingerprint) = cli_ca(&s);
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert!(
        fingerprint.len() == 95 && fingerprint.contains(':'),
        "{fingerprint}"
    );

    // Public: no session, and the same PEM as `cc-server ca`.
    let r = ca_crt(&s);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/x-x509-ca-cert"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"cc-server-ca.crt\"")
    );
    assert_eq!(r.text(), pem);
    assert!(r.header("set-cookie").is_none());
    let head = s.request("HEAD", &host(&s), "/ca.crt", &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());

    // The page itself needs a session.
    let anonymous = s.get(&host(&s), "/settings");
    assert_eq!(anonymous.status, 303);
    assert_eq!(anonymous.header("location"), Some("/login"));

    let admin = login(&s);
    let page = admin.get("/settings");
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(
        html.contains("<a href=\"/settings\" aria-current=\"page\">Settings</a>"),
        "{html}"
    );
    assert!(html.contains("<section id=\"https\"><h2>HTTPS</h2>"));
    assert!(html.contains("<code>internal</code>"), "{html}");
    let https_port = s.https_port.expect("the HTTPS port");
    assert!(
        html.contains(&format!("<dd id=\"https-port\">{https_port}</dd>")),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "<code id=\"ca-fingerprint\" class=\"fingerprint\">{fingerprint}</code>"
        )),
        "{html}"
    );
    assert!(html.contains("href=\"/ca.crt\""));
    // A phone types the plain-HTTP address, on the host the admin used.
    assert!(
        html.contains(&format!("http://localhost:{}/ca.crt", s.port)),
        "{html}"
    );
    assert!(
        html.contains(&format!("https://localhost:{https_port}/")),
        "{html}"
    );
    for system in [
        "Android",
        "iPhone and iPad",
        "macOS",
        "Windows",
        "Linux",
        "Firefox",
    ] {
        assert!(
            html.contains(&format!("<summary>{system}</summary>")),
            "{system}"
        );
    }
    assert!(html.contains("VPN &amp; Device Management"));
    assert!(html.contains("Certificate Trust Settings"));
    assert!(html.contains("/usr/local/share/ca-certificates/"));
    assert!(html.contains("update-ca-certificates"));
    assert!(html.contains("trust anchor --store"));
    assert!(html.contains("security.enterprise_roots.enabled"));
    assert!(!html.contains("id=\"https-off\""));
    // No certificate yet: nothing has come over TLS.
    assert!(html.contains("None yet"), "{html}");
    // Offline: nothing on the page comes from elsewhere.
    assert!(!html.contains("src=\"http") && !html.contains("href=\"//"));
}

#[test]
fn without_https_the_section_says_how_to_turn_it_on_and_there_is_no_ca() {
    let s = server();
    let r = ca_crt(&s);
    assert_eq!(r.status, 404);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert!(
        r.text().contains("no private CA") && r.text().contains("--https internal"),
        "{}",
        r.text()
    );

    let admin = login(&s);
    let html = admin.get("/settings").text();
    assert!(html.contains("<section id=\"https\"><h2>HTTPS</h2>"));
    assert!(html.contains("id=\"https-off\""), "{html}");
    assert!(html.contains("<code>--https acme --email you@example.com</code>"));
    assert!(html.contains("<code>--https internal</code>"));
    assert!(html.contains("--trusted-proxy"));
    assert!(!html.contains("ca-fingerprint") && !html.contains("href=\"/ca.crt\""));
    assert!(!html.contains("id=\"certificates\""));
}

#[test]
fn a_name_reached_over_tls_is_listed_and_stored_rows_show_their_errors_but_never_a_key() {
    let s = internal();
    let admin = login(&s);
    // A client trusting only what /ca.crt served reaches the dashboard over HTTPS: the
    // handshake mints the certificate for `localhost`.
    let ca = ca_crt(&s).text();
    let r = https_get(s.https_port.unwrap(), "localhost", "/login", &ca);
    assert_eq!(r.status, 200);

    let html = admin.get("/settings").text();
    let table = &html[html.find("<table id=\"certificates\"").expect("the table")..];
    assert!(table.contains("<strong>localhost</strong>"), "{table}");
    assert!(table.contains("private CA"));
    assert!(table.contains(">—</td>"), "{table}");
    assert!(!html.contains("BEGIN PRIVATE KEY"));

    // A stored renewal error, and an ACME certificate, as the store keeps them.
    s.db()
        .execute(
            "INSERT INTO certificates (name, issuer, chain_pem, key_pem, not_before, not_after, \
             renewed_at, last_error, last_error_at) VALUES \
             ('shop.example.com', 'https://acme-v02.api.letsencrypt.org/directory', 'CHAIN-TEXT', \
              '-----BEGIN PRIVATE KEY-----\nSEEDED-KEY\n-----END PRIVATE KEY-----', \
              1767225600, 1775001600, 1767225600, \
              'order failed: <urn:ietf:params:acme:error:connection>', 1772323200)",
            [],
        )
        .unwrap();
    let html = admin.get("/settings").text();
    let table = &html[html.find("<table id=\"certificates\"").unwrap()..];
    assert!(
        table.contains("<strong>shop.example.com</strong>"),
        "{table}"
    );
    assert!(table.contains("Let&#39;s Encrypt"), "{table}");
    // The row's dates are fixed: once past its end, it is marked.
    let expired = cc_server::tls::unix_now() >= 1775001600;
    assert!(
        table.contains(if expired {
            "2026-04-01 00:00 UTC (expired)"
        } else {
            "2026-04-01 00:00 UTC"
        }),
        "{table}"
    );
    assert!(table.contains("2026-01-01 00:00 UTC"), "{table}");
    assert!(
        table.contains("order failed: &lt;urn:ietf:params:acme:error:connection&gt;"),
        "{table}"
    );
    assert!(table.contains("(2026-03-01 00:00 UTC)"), "{table}");
    assert!(!html.contains("SEEDED-KEY") && !html.contains("CHAIN-TEXT"));
    assert!(!html.contains("<urn:"));
}
