//! HTTPS served by cc-server itself, through the real binary and a real TLS client (rustls,
//! trusting only what the test names): `--https internal` with the CA `cc-server ca` exports,
//! and `--https acme` end to end against Pebble, a real ACME server (pebble.rs).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use tungstenite::client::IntoClientRequest;

use crate::admin::{PASSWORD, encode};
use crate::harness::{HttpResponse, Server, cpu_seconds, run_cli};
use crate::pebble::{Options, Pebble, free_port};

/// A TLS client configuration trusting only the certificates in `roots_pem`.
fn trusting(roots_pem: &str) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in cc_server::tls::x509::pem_certs(roots_pem) {
        roots.add(CertificateDer::from(cert)).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A TLS connection to the server's HTTPS port asking for `name` (an IP address: no SNI).
fn tls(
    port: u16,
    name: &str,
    config: &Arc<ClientConfig>,
) -> Result<StreamOwned<ClientConnection, TcpStream>, String> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let server_name = ServerName::try_from(name.to_string()).unwrap();
    let conn = ClientConnection::new(config.clone(), server_name).unwrap();
    let mut stream = StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| e.to_string())?;
    }
    Ok(stream)
}

/// One request over a new TLS connection; the answer and the certificate served.
fn https(
    port: u16,
    name: &str,
    request: &str,
    config: &Arc<ClientConfig>,
) -> Result<(HttpResponse, Vec<u8>), String> {
    let mut stream = tls(port, name, config)?;
    let leaf = stream.conn.peer_certificates().unwrap()[0].to_vec();
    stream.write_all(request.as_bytes()).unwrap();
    let mut buf = Vec::new();
    match stream.read_to_end(&mut buf) {
        Ok(_) => {}
        // A server may close without close_notify after `Connection: close`.
        Err(e) if e.kind() == ErrorKind::UnexpectedEof && !buf.is_empty() => {}
        Err(e) => return Err(e.to_string()),
    }
    Ok((HttpResponse::parse(&buf), leaf))
}

fn get(host: &str, path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
}

fn ca_pem(s: &Server) -> String {
    let (code, out, err) = run_cli(&["ca", "--data-dir", s.data_dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("SHA-256 fingerprint: "), "{err}");
    out
}

/// A server with `--https internal` on a free port, and the admin password of `admin`.
pub fn internal(builder: crate::harness::Builder) -> Server {
    builder
        .env("CC_ADMIN_PASSWORD", PASSWORD)
        .arg("--https")
        .arg("internal")
        .arg("--https-port")
        .arg("0")
        .start()
}

#[test]
fn internal_https_serves_sites_and_the_dashboard_to_clients_trusting_only_the_exported_ca() {
    let s = internal(Server::builder());
    s.write_file("blog", "index.html", "<h1>over tls</h1>");
    let port = s.https_port.unwrap();
    let ca = ca_pem(&s);
    let config = trusting(&ca);

    let (r, _) = https(port, "blog.localhost", &get("blog.localhost", "/"), &config).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "<h1>over tls</h1>");
    // A big file (sendfile into the relay's socket pair, many TLS records) arrives whole.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    s.write_file("blog", "big.bin", &big);
    let (r, _) = https(
        port,
        "blog.localhost",
        &get("blog.localhost", "/big.bin"),
        &config,
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert!(
        r.body == big,
        "the big file arrived changed ({} bytes)",
        r.body.len()
    );
    // A private CA's clients may still need plain HTTP (to fetch the CA): no HSTS, no redirect.
    assert_eq!(r.header("strict-transport-security"), None);
    assert_eq!(s.get("blog.localhost", "/").status, 200);

    // The dashboard, by name and by IP address (a client typing an address sends no name).
    for name in ["localhost", "127.0.0.1"] {
        let (r, _) = https(port, name, &get(name, "/login"), &config).unwrap();
        assert_eq!(r.status, 200, "{name}");
    }

    // No certificate for a name the server does not serve, nor for a site that does not exist.
    for name in ["nope.example.com", "missing.localhost"] {
        let err = https(port, name, &get(name, "/"), &config).unwrap_err();
        assert!(
            err.contains("UnrecognisedName") || err.contains("alert"),
            "{name}: {err}"
        );
    }
    // A client that trusts another CA refuses the server.
    let other = trusting(&crate::pebble::unrelated_root_pem());
    assert!(https(port, "blog.localhost", &get("blog.localhost", "/"), &other).is_err());

    let (code, out, _) = run_cli(&["certs", "--data-dir", s.data_dir.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        out.contains("blog.localhost") && out.contains("private CA"),
        "{out}"
    );
    assert!(!out.contains("missing.localhost"), "{out}");
}

#[test]
fn over_https_the_session_cookie_is_host_only_and_secure() {
    let s = internal(Server::builder());
    let port = s.https_port.unwrap();
    let config = trusting(&ca_pem(&s));
    let host = format!("localhost:{port}");
    let form = encode(&[("password", PASSWORD)]);
    let login = format!(
        "POST /login HTTP/1.1\r\nHost: {host}\r\nOrigin: https://{host}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{form}",
        form.len()
    );
    let (r, _) = https(port, "localhost", &login, &config).unwrap();
    assert_eq!(r.status, 303, "{}", r.text());
    let set = r.header("set-cookie").unwrap().to_string();
    assert!(set.starts_with("__Host-cc_session="), "{set}");
    assert!(set.contains("; Secure") && set.contains("Path=/") && !set.contains("Domain"));
    let cookie = set.split(';').next().unwrap();

    let keys = format!(
        "GET /keys HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(
        https(port, "localhost", &keys, &config).unwrap().0.status,
        200
    );
    // The same value under the plain-HTTP name, or sent over plain HTTP, is no session.
    let value = cookie.split_once('=').unwrap().1;
    let plain_name = format!("cc_session={value}");
    let keys = format!(
        "GET /keys HTTP/1.1\r\nHost: {host}\r\nCookie: {plain_name}\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(
        https(port, "localhost", &keys, &config).unwrap().0.status,
        303
    );
    let r = s.request(
        "GET",
        &format!("localhost:{}", s.port),
        "/keys",
        &[("Cookie", cookie)],
    );
    assert_eq!(r.status, 303);
}

#[test]
fn websockets_work_over_tls() {
    let s = internal(Server::builder());
    s.write_file(
        "chat",
        "main.js",
        r#"socket.on("message", (msg) => { socket.broadcast("echo " + msg); });
           export default { fetch() { return new Response("ok"); } };"#,
    );
    let port = s.https_port.unwrap();
    let stream = tls(port, "chat.localhost", &trusting(&ca_pem(&s))).unwrap();
    let request = format!("wss://chat.localhost:{port}/ws")
        .into_client_request()
        .unwrap();
    let (mut ws, response) = tungstenite::client(request, stream).expect("handshake");
    assert_eq!(response.status().as_u16(), 101);
    ws.send(tungstenite::Message::text("hi")).unwrap();
    loop {
        match ws.read().unwrap() {
            tungstenite::Message::Text(t) => {
                assert_eq!(t.as_str(), "echo hi");
                break;
            }
            tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn a_restart_keeps_the_ca_and_the_certificates_and_due_ones_are_renewed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = internal(Server::builder().data_dir(&data));
    s.write_file("blog", "index.html", "hi");
    let ca = ca_pem(&s);
    let config = trusting(&ca);
    let ask = |s: &Server| {
        https(
            s.https_port.unwrap(),
            "blog.localhost",
            &get("blog.localhost", "/"),
            &config,
        )
        .unwrap()
        .1
    };
    let first = ask(&s);
    drop(s);

    let s = internal(Server::builder().data_dir(&data));
    assert_eq!(ca_pem(&s), ca, "the CA is made once");
    assert_eq!(ask(&s), first, "the certificate is kept");
    drop(s);

    // Sixty-one days on (by the test clock) the 90-day leaf is past two thirds of its life.
    let s = internal(
        Server::builder()
            .data_dir(&data)
            .env("CC_CERT_CLOCK_SKEW_SECS", &(61 * 86_400).to_string())
            .env("CC_CERT_CHECK_SECS", "1"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while ask(&s) == first {
        assert!(Instant::now() < deadline, "the certificate was not renewed");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(ca_pem(&s), ca);
}

/// cc-server with `--https acme` against `pebble`, its HTTP port the one Pebble validates.
fn acme_server(
    pebble: &Pebble,
    http_port: u16,
    data: &std::path::Path,
    env: &[(&str, &str)],
) -> Server {
    let root = data.parent().unwrap().join("pebble-root.pem");
    std::fs::write(&root, &pebble.https_root_pem).unwrap();
    let mut b = Server::builder()
        .data_dir(data)
        .arg("--domain")
        .arg("cc.test")
        .arg("--port")
        .arg(&http_port.to_string())
        .arg("--https")
        .arg("acme")
        .arg("--https-port")
        .arg("0")
        .arg("--email")
        .arg("admin@cc.test")
        .arg("--acme-directory")
        .arg(&pebble.directory_url)
        .arg("--acme-ca-root")
        .arg(root.to_str().unwrap());
    for (k, v) in env {
        b = b.env(k, v);
    }
    b.start()
}

#[test]
fn acme_certificates_are_obtained_at_the_first_handshake_kept_and_renewed() {
    let http_port = free_port();
    let pebble = Pebble::start(&Options::new(http_port));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = acme_server(&pebble, http_port, &data, &[]);
    s.write_file("blog", "index.html", "public");
    let config = trusting(&pebble.issuing_root_pem());
    let port = s.https_port.unwrap();

    // The first handshake waits while the certificate is obtained (Pebble validates through
    // cc-server's HTTP port), then the page comes over it, with HSTS.
    let (r, first) = https(port, "blog.cc.test", &get("blog.cc.test", "/"), &config)
        .unwrap_or_else(|e| panic!("{e}\n{}", s.log().join("\n")));
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "public");
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    assert!(s.log_contains("certificate for blog.cc.test obtained"));

    // Plain HTTP goes to HTTPS with its path and query; challenge paths are not redirected.
    let r = s.get("blog.cc.test", "/a/b?c=1&d");
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("location"),
        Some(format!("https://blog.cc.test:{port}/a/b?c=1&d").as_str())
    );
    assert_eq!(
        s.get("blog.cc.test", "/.well-known/acme-challenge/nope")
            .status,
        404
    );
    // A host the server does not serve is not sent anywhere: a cached 308 naming any host a
    // client sends could point others there.
    assert_eq!(s.get("evil.example", "/x").status, 404);

    // Names the server does not serve get no certificate, and no order is made for them.
    for name in ["nope.cc.test", "random.example.org"] {
        assert!(
            https(port, name, &get(name, "/"), &config).is_err(),
            "{name}"
        );
    }
    let (_, out, _) = run_cli(&["certs", "--data-dir", data.to_str().unwrap()]);
    assert!(
        out.contains("blog.cc.test") && !out.contains("nope.cc.test"),
        "{out}"
    );
    drop(s);

    // A restart serves the kept certificate without a new order.
    let s = acme_server(&pebble, http_port, &data, &[]);
    let (_, again) = https(
        s.https_port.unwrap(),
        "blog.cc.test",
        &get("blog.cc.test", "/"),
        &config,
    )
    .unwrap();
    assert_eq!(again, first);
    assert!(!s.log_contains("certificate for blog.cc.test obtained"));
    drop(s);

    // Four years on (Pebble's certificates live five), it is renewed in the background.
    let skew = (4 * 365 * 86_400).to_string();
    let s = acme_server(
        &pebble,
        http_port,
        &data,
        &[
            ("CC_CERT_CLOCK_SKEW_SECS", &skew),
            ("CC_CERT_CHECK_SECS", "1"),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, leaf) = https(
            s.https_port.unwrap(),
            "blog.cc.test",
            &get("blog.cc.test", "/"),
            &config,
        )
        .unwrap();
        if leaf != first {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not renewed:\n{}",
            s.log().join("\n")
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(s.log_contains("certificate for blog.cc.test obtained"));
}

#[test]
fn a_failed_order_backs_off_and_its_handshakes_fail_at_once_meanwhile() {
    // Pebble validates on a port where nothing listens: every order fails.
    let pebble = Pebble::start(&Options::new(free_port()));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = acme_server(&pebble, free_port(), &data, &[]);
    s.write_file("blog", "index.html", "public");
    let config = trusting(&pebble.issuing_root_pem());
    let port = s.https_port.unwrap();

    // The first client waits for the order, which fails: no certificate.
    assert!(https(port, "blog.cc.test", &get("blog.cc.test", "/"), &config).is_err());
    let log = s.log().join("\n");
    assert!(
        log.contains("no certificate for blog.cc.test yet") && log.contains("next try in 60 s"),
        "{log}"
    );
    // While it backs off, a handshake fails at once and no new order is made.
    let started = Instant::now();
    assert!(https(port, "blog.cc.test", &get("blog.cc.test", "/"), &config).is_err());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    std::thread::sleep(Duration::from_millis(500));
    let orders = s
        .log()
        .iter()
        .filter(|l| l.contains("no certificate for blog.cc.test yet"))
        .count();
    assert_eq!(orders, 1);
}

#[test]
fn bytes_after_a_close_notify_are_dropped_not_spun_on() {
    let s = internal(Server::builder());
    s.write_file("blog", "index.html", "hi");
    let port = s.https_port.unwrap();
    let config = trusting(&ca_pem(&s));
    // More of these than relay threads: each one used to pin its relay thread for good.
    for _ in 0..4 {
        let mut stream = tls(port, "blog.localhost", &config).unwrap();
        stream.conn.send_close_notify();
        stream.conn.complete_io(&mut stream.sock).unwrap();
        stream.sock.write_all(&[0x17; 20_000]).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu_seconds(s.pid());
    let (r, _) = https(port, "blog.localhost", &get("blog.localhost", "/"), &config).unwrap();
    assert_eq!(r.text(), "hi");
    std::thread::sleep(Duration::from_secs(2));
    let spent = cpu_seconds(s.pid()) - before;
    assert!(
        spent < 1.0,
        "the server spent {spent} s of CPU in 2 s while idle"
    );
}

#[test]
fn slow_handshakes_are_capped_per_address_and_never_take_plain_http_slots() {
    let s = internal(
        Server::builder()
            .arg("--max-connections")
            .arg("40")
            .arg("--max-per-address")
            .arg("20")
            .arg("--head-timeout")
            .arg("2"),
    );
    s.write_file("blog", "index.html", "hi");
    let port = s.https_port.unwrap();
    // Sixty connections that send the start of a ClientHello and stall.
    let stalled: Vec<TcpStream> = (0..60)
        .map(|_| {
            let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.write_all(&[
                0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
            ])
            .unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // Plain HTTP and finished TLS clients from the same address still get in.
    for _ in 0..5 {
        assert_eq!(s.get("blog.localhost", "/").text(), "hi");
    }
    let config = trusting(&ca_pem(&s));
    let mut alive = 0;
    for mut c in stalled {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let started = Instant::now();
        let mut b = [0u8; 1];
        if !matches!(c.read(&mut b), Ok(0) | Err(_)) {
            alive += 1;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a stalled handshake outlived its deadline"
        );
    }
    assert_eq!(alive, 0);
    // Past the deadline the stalled ones are gone, and a handshake works again.
    let (r, _) = https(port, "blog.localhost", &get("blog.localhost", "/"), &config).unwrap();
    assert_eq!(r.text(), "hi");
}

#[test]
fn the_cli_deploys_over_https_trusting_the_private_ca_it_is_given() {
    let s = internal(Server::builder());
    let port = s.https_port.unwrap();
    let token = s.create_key("laptop", &[]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "deployed over tls").unwrap();
    let ca = dir.path().join("cc-ca.crt");
    std::fs::write(&ca, ca_pem(&s)).unwrap();
    let server = format!("https://localhost:{port}");
    let site = dir.path().join("site");
    std::fs::create_dir(&site).unwrap();
    std::fs::write(site.join("index.html"), "deployed over tls").unwrap();

    // Without the CA the client refuses the server, and says what to do.
    let (code, _, err) = crate::harness::run_cli_in(
        &site,
        &[
            "deploy", "tls", "--server", &server, "--token", &token, "--yes",
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--ca-file"), "{err}");

    let (code, out, err) = crate::harness::run_cli_in(
        &site,
        &[
            "deploy",
            "tls",
            "--server",
            &server,
            "--token",
            &token,
            "--ca-file",
            ca.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    // The URL it prints is the site's HTTPS one.
    assert!(
        out.contains(&format!("https://tls.localhost:{port}/")),
        "{out}"
    );
    let config = trusting(&ca_pem(&s));
    let (r, _) = https(port, "tls.localhost", &get("tls.localhost", "/"), &config).unwrap();
    assert_eq!(r.text(), "deployed over tls");
}

#[test]
fn a_burst_of_handshakes_from_one_address_all_get_through() {
    // A load tester, or an office behind one NAT, opens dozens at the same moment.
    let s = internal(Server::builder());
    s.write_file("blog", "index.html", "hi");
    let port = s.https_port.unwrap();
    let config = trusting(&ca_pem(&s));
    let barrier = std::sync::Barrier::new(60);
    std::thread::scope(|scope| {
        let answers: Vec<_> = (0..60)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    https(port, "blog.localhost", &get("blog.localhost", "/"), &config)
                        .map(|(r, _)| r.text())
                })
            })
            .collect();
        for a in answers {
            assert_eq!(a.join().unwrap().as_deref(), Ok("hi"));
        }
    });
}

#[test]
fn a_client_that_reads_late_still_gets_the_end_of_a_closing_answer() {
    // The server finishes writing while the client is not reading; the relay must still see
    // the reactor's end close once the client has taken everything, and close too.
    let s = internal(Server::builder());
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    s.write_file("blog", "big.bin", &big);
    let port = s.https_port.unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    socket.connect(&addr.into()).unwrap();
    let tcp: TcpStream = socket.into();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let name = ServerName::try_from("blog.localhost".to_string()).unwrap();
    let conn = ClientConnection::new(trusting(&ca_pem(&s)), name).unwrap();
    let mut stream = StreamOwned::new(conn, tcp);
    stream
        .write_all(get("blog.localhost", "/big.bin").as_bytes())
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let mut buf = Vec::new();
    match stream.read_to_end(&mut buf) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => {}
        Err(e) => panic!("after {} bytes: {e}", buf.len()),
    }
    let r = HttpResponse::parse(&buf);
    assert!(r.body == big, "{} bytes of the body", r.body.len());
}

#[test]
fn an_early_answer_to_an_upload_still_reaches_the_client() {
    // The deploy API refuses an upload without a token before reading it, and closes: the
    // client is still sending, and must still get the 401.
    let s = internal(Server::builder());
    let port = s.https_port.unwrap();
    let config = trusting(&ca_pem(&s));
    let body = vec![b'x'; 3_000_000];
    let mut stream = tls(port, "localhost", &config).unwrap();
    let head = format!(
        "POST /api/deploy HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/zip\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(&body);
    let _ = stream.flush();
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf);
    assert!(!buf.is_empty(), "no answer at all");
    assert_eq!(HttpResponse::parse(&buf).status, 401);
}
