//! Test harness: a private ACME CA, Debian's `pebble` (2.4.0), with `pebble-challtestsrv` as
//! its DNS server so that every name resolves to 127.0.0.1. Pebble ships no certificates for
//! its own HTTPS listener here, so we make a throwaway CA and a leaf for 127.0.0.1/localhost.
//! Both processes are killed when the `Pebble` is dropped. `.ci/run` installs both (Debian's
//! package `pebble`); without them the tests fail, saying so.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub const PEBBLE: &str = "/usr/bin/pebble";
pub const CHALLTESTSRV: &str = "/usr/bin/pebble-challtestsrv";

#[derive(Clone, Debug)]
pub struct Options {
    /// The port Pebble's VA connects to for http-01 (on 127.0.0.1, via the fake DNS).
    pub http01_port: u16,
    /// `PEBBLE_WFE_NONCEREJECT`: the percentage of good nonces refused as `badNonce`.
    /// `None` keeps Pebble's default (5 %).
    pub nonce_reject: Option<u32>,
    /// `certificateValidityPeriod` in seconds (`None`: Pebble's default, 5 years).
    pub validity_secs: Option<u64>,
    /// `PEBBLE_AUTHZREUSE`: percentage of valid authorizations reused by new orders
    /// (Pebble's default is 50).
    pub authz_reuse: Option<u32>,
}

impl Options {
    pub fn new(http01_port: u16) -> Options {
        Options {
            http01_port,
            nonce_reject: None,
            validity_secs: None,
            authz_reuse: None,
        }
    }
}

pub struct Pebble {
    /// `https://127.0.0.1:PORT/dir`
    pub directory_url: String,
    /// `https://127.0.0.1:PORT` of Pebble's management interface (`/roots/0`, ...).
    pub management_url: String,
    /// The CA of Pebble's HTTPS certificate: what an ACME client must trust to talk to it.
    pub https_root_pem: String,
    dir: tempfile::TempDir,
    children: Vec<Child>,
}

impl Pebble {
    pub fn available() -> bool {
        Path::new(PEBBLE).exists() && Path::new(CHALLTESTSRV).exists()
    }

    pub fn start(options: &Options) -> Pebble {
        assert!(
            Pebble::available(),
            "{PEBBLE} and {CHALLTESTSRV} are needed: apt-get install pebble (as .ci/run does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let (https_root_pem, cert_pem, key_pem) = https_certificate("pebble https test CA");
        fs::write(dir.path().join("cert.pem"), cert_pem).unwrap();
        fs::write(dir.path().join("key.pem"), key_pem).unwrap();
        let (acme_port, management_port, dns_port, dns_management_port) = (
            free_port(),
            free_port(),
            free_udp_and_tcp_port(),
            free_port(),
        );
        let mut config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{acme_port}"),
            "managementListenAddress": format!("127.0.0.1:{management_port}"),
            "certificate": dir.path().join("cert.pem"),
            "privateKey": dir.path().join("key.pem"),
            "httpPort": options.http01_port,
            // tls-alpn-01 is never offered an answer here; the port only has to be a number.
            "tlsPort": 5001,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        if let Some(secs) = options.validity_secs {
            config["pebble"]["certificateValidityPeriod"] = secs.into();
        }
        fs::write(dir.path().join("pebble.json"), config.to_string()).unwrap();

        let logs = dir.path().to_path_buf();
        let log = |name: &str| Stdio::from(fs::File::create(logs.join(name)).unwrap());
        // DNS first: every A query answers 127.0.0.1, AAAA nothing (we listen on IPv4 only).
        let dns = Command::new(CHALLTESTSRV)
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{dns_management_port}")])
            .stdout(log("challtestsrv.log"))
            .stderr(log("challtestsrv.err"))
            .spawn()
            .expect("start pebble-challtestsrv");
        let mut pebble = Pebble {
            directory_url: format!("https://127.0.0.1:{acme_port}/dir"),
            management_url: format!("https://127.0.0.1:{management_port}"),
            https_root_pem,
            dir,
            children: vec![dns],
        };
        let mut command = Command::new(PEBBLE);
        command
            .arg("-config")
            .arg(pebble.dir.path().join("pebble.json"))
            .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
            // No random 0–15 s sleep before each validation.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .stdout(log("pebble.log"))
            .stderr(log("pebble.err"));
        if let Some(percent) = options.nonce_reject {
            command.env("PEBBLE_WFE_NONCEREJECT", percent.to_string());
        }
        if let Some(percent) = options.authz_reuse {
            command.env("PEBBLE_AUTHZREUSE", percent.to_string());
        }
        pebble.children.push(command.spawn().expect("start pebble"));
        for port in [dns_management_port, acme_port, management_port] {
            pebble.wait_for(port);
        }
        pebble
    }

    fn wait_for(&mut self, port: u16) {
        let until = Instant::now() + Duration::from_secs(15);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            let exited = self
                .children
                .iter_mut()
                .any(|c| c.try_wait().ok().flatten().is_some());
            if exited || Instant::now() > until {
                panic!("pebble did not start listening on {port}:\n{}", self.logs());
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Both processes' output, for failure messages.
    pub fn logs(&self) -> String {
        [
            "pebble.log",
            "pebble.err",
            "challtestsrv.log",
            "challtestsrv.err",
        ]
        .iter()
        .map(|name| {
            let text = fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            format!("--- {name}\n{text}")
        })
        .collect()
    }

    /// The root that issued certificates chain to (regenerated by every Pebble run).
    pub fn issuing_root_pem(&self) -> String {
        let root = ureq::tls::parse_pem(self.https_root_pem.as_bytes())
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect::<Vec<_>>();
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::new_with_certs(&root))
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let url = format!("{}/roots/0", self.management_url);
        agent
            .get(&url)
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// (CA PEM, leaf certificate PEM, leaf key PEM) for Pebble's HTTPS on 127.0.0.1/localhost.
fn https_certificate(ca_name: &str) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, ca_name);
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let cert_pem = leaf.signed_by(&key, &issuer).unwrap().pem();
    (ca_pem, cert_pem, key.serialize_pem())
}

/// A CA that has nothing to do with Pebble, for "wrong root" tests.
pub fn unrelated_root_pem() -> String {
    https_certificate("unrelated test CA").0
}

/// A port free right now on 127.0.0.1 (the OS picks; a race with other processes is possible
/// but unlikely).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// DNS listens on both UDP and TCP.
fn free_udp_and_tcp_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Serves http-01 answers on 127.0.0.1:`port`: `GET /.well-known/acme-challenge/<token>`
/// answers the published key authorization, anything else 404. Lives until the test process
/// ends. `stall` holds every answer back that long (for deadline tests).
#[derive(Clone)]
pub struct ChallengeServer {
    pub port: u16,
    pub answers: Arc<Mutex<HashMap<String, String>>>,
    /// Every request path seen, for assertions.
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl ChallengeServer {
    pub fn start(stall: Duration) -> ChallengeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = ChallengeServer {
            port: listener.local_addr().unwrap().port(),
            answers: Arc::default(),
            requests: Arc::default(),
        };
        let shared = server.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                thread::spawn(move || shared.answer(stream, stall));
            }
        });
        server
    }

    fn answer(&self, mut stream: TcpStream, stall: Duration) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut head = Vec::new();
        let mut buf = [0; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let head = String::from_utf8_lossy(&head);
        let path = head.split(' ').nth(1).unwrap_or("").to_string();
        self.requests.lock().unwrap().push(path.clone());
        thread::sleep(stall);
        let answer = path
            .strip_prefix("/.well-known/acme-challenge/")
            .and_then(|token| self.answers.lock().unwrap().get(token).cloned());
        let response = match answer {
            Some(body) => format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
            None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                .to_string(),
        };
        let _ = stream.write_all(response.as_bytes());
    }
}
