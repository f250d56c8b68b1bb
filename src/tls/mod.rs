//! HTTPS: which certificate each TLS connection gets. Owns the certificates in memory (kept in
//! `cc.db` through the store), mints leaves from the private CA on demand (`--https
//! internal`), has them obtained from an ACME CA (`--https acme`) by a background thread that
//! also renews them at two thirds of their lifetime, and keeps the HTTP-01 challenge answers
//! the app serves. Never touches sockets (tiny_http's TLS relay does) and never decides
//! routing: the app says which names it serves.

pub mod acme;
pub mod ca;
pub mod x509;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::store;
use crate::store::tls::StoredCert;

/// Let's Encrypt's production and staging directories.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";
/// The `issuer` of certificates minted by the private CA.
pub const INTERNAL: &str = "internal";
/// New ACME orders per hour for the server's own names (Let's Encrypt allows 300 per 3 hours),
/// and apart from them for custom domains: a site whose CNAME names hosts that do not point
/// here (every such order fails) cannot use up the budget of the others. Renewals count in
/// neither.
const ORDERS_PER_HOUR: usize = 30;
const CUSTOM_ORDERS_PER_HOUR: usize = 10;
/// Certificates for IP addresses, at most (`internal`; an address is one a client reached).
const MAX_IP_CERTIFICATES: usize = 64;
/// A name whose order failed is not tried again before this, doubled per failure up to a day.
const FIRST_BACK_OFF: Duration = Duration::from_secs(60);
const LONGEST_BACK_OFF: Duration = Duration::from_secs(86_400);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// A private CA made on first start signs a certificate for every name asked for.
    Internal,
    /// Certificates from an ACME CA (Let's Encrypt by default).
    Acme(AcmeSettings),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeSettings {
    pub directory: String,
    pub email: Option<String>,
    /// A PEM root to trust for the directory's own HTTPS (a test CA such as Pebble's).
    pub ca_root: Option<Vec<u8>>,
}

/// What a new TLS connection gets (the server hands it to its TLS relay).
pub enum Choice {
    /// This configuration, whose certificate is the name's.
    Ready(Arc<ServerConfig>),
    /// The name's certificate is being obtained: ask again shortly.
    Wait,
    /// No certificate for this name: the handshake fails.
    Refuse,
}

/// Which names the server answers for: only these get certificates. `None` for a name that
/// reaches nothing here.
pub type Serves = Box<dyn Fn(&str) -> Option<NameKind> + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// The dashboard or `<site>.<domain>`.
    Own,
    /// A custom domain of a site.
    Custom,
}

/// A certificate being served.
struct Served {
    config: Arc<ServerConfig>,
    not_before: i64,
    not_after: i64,
}

/// ACME orders waiting, running and failed.
#[derive(Default)]
struct Orders {
    queue: VecDeque<String>,
    queued: HashSet<String>,
    /// Failed names: failures so far and when the next try may start.
    backing_off: HashMap<String, (u32, Instant)>,
    /// When the last hour's new orders were queued: own names, custom domains.
    recent: VecDeque<Instant>,
    recent_custom: VecDeque<Instant>,
    /// The last failure of a name with no certificate yet (a renewal's goes to the store).
    first_errors: HashMap<String, String>,
}

pub struct Https {
    mode: Mode,
    db_path: PathBuf,
    ca: Option<ca::Ca>,
    served: RwLock<HashMap<String, Served>>,
    serves: OnceLock<Serves>,
    challenges: Mutex<HashMap<String, String>>,
    orders: Mutex<Orders>,
    wake: Condvar,
    /// Test clock: seconds added to now when deciding what is due for renewal.
    clock_skew: i64,
    check_every: Duration,
    leaf_lifetime: i64,
}

impl Https {
    /// Loads the kept certificates (and, for `internal`, the CA — made on first start) and
    /// starts the thread that obtains and renews certificates.
    pub fn start(mode: Mode, db_path: PathBuf) -> Result<Arc<Https>, String> {
        let conn = store::open(&db_path).map_err(|e| e.to_string())?;
        let ca = match mode {
            Mode::Internal => {
                let kept = match store::tls::key(&conn, "ca").map_err(|e| e.to_string())? {
                    Some(kept) => kept,
                    None => {
                        let made = ca::Ca::generate(unix_now())?;
                        store::tls::key_or_insert(&conn, "ca", &made).map_err(|e| e.to_string())?
                    }
                };
                Some(ca::Ca::from_pem(&kept)?)
            }
            Mode::Acme(_) => None,
        };
        let env_secs = |var: &str| std::env::var(var).ok().and_then(|v| v.parse::<i64>().ok());
        let https = Arc::new(Https {
            mode,
            db_path,
            ca,
            served: RwLock::default(),
            serves: OnceLock::new(),
            challenges: Mutex::default(),
            orders: Mutex::default(),
            wake: Condvar::new(),
            clock_skew: env_secs("CC_CERT_CLOCK_SKEW_SECS").unwrap_or(0),
            check_every: Duration::from_secs(
                env_secs("CC_CERT_CHECK_SECS").unwrap_or(3600).max(1) as u64
            ),
            leaf_lifetime: env_secs("CC_CERT_LIFETIME_SECS").unwrap_or(ca::LEAF_LIFETIME_SECS),
        });
        for cert in store::tls::certificates(&conn).map_err(|e| e.to_string())? {
            if cert.issuer == https.issuer_name() {
                https.serve(&cert);
            }
        }
        let worker = https.clone();
        std::thread::Builder::new()
            .name("certificates".into())
            .spawn(move || worker.run())
            .map_err(|e| e.to_string())?;
        Ok(https)
    }

    /// Says which names the server answers for (set once, by the app).
    pub fn set_serves(&self, serves: Serves) {
        let _ = self.serves.set(serves);
    }

    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// Whether answers over HTTPS carry `Strict-Transport-Security` (publicly trusted
    /// certificates only: a private CA's clients may still need plain HTTP to fetch it).
    pub fn hsts(&self) -> bool {
        matches!(self.mode, Mode::Acme(_))
    }

    /// The private CA's certificate (PEM) and its SHA-256 fingerprint.
    pub fn ca(&self) -> Option<(&str, String)> {
        self.ca.as_ref().map(|ca| (ca.cert_pem(), ca.fingerprint()))
    }

    /// The key authorization for an HTTP-01 challenge token being validated.
    pub fn challenge(&self, token: &str) -> Option<String> {
        self.challenges.lock().ok()?.get(token).cloned()
    }

    /// What a new TLS connection gets, by the name its client asked for (none when it typed an
    /// IP address) and the local address it reached.
    pub fn choose(&self, server_name: Option<&str>, local: IpAddr) -> Choice {
        let name = match server_name {
            Some(n) => n.trim_end_matches('.').to_ascii_lowercase(),
            // A client that typed an IP address sends no name: the address it reached.
            None if self.ca.is_some() => local.to_string(),
            None => return Choice::Refuse,
        };
        let now = unix_now();
        if let Some(s) = self.served.read().ok().and_then(|m| {
            m.get(&name)
                .filter(|s| s.not_after > now)
                .map(|s| s.config.clone())
        }) {
            return Choice::Ready(s);
        }
        let Ok(kind) = self.may_certify(&name, local) else {
            return Choice::Refuse;
        };
        match &self.mode {
            Mode::Internal => match self.mint(&name) {
                Ok(config) => Choice::Ready(config),
                Err(e) => {
                    eprintln!("cc-server: no certificate for {name}: {e}");
                    Choice::Refuse
                }
            },
            Mode::Acme(_) => self.order(&name, kind),
        }
    }

    /// What kind of name `name` is, or why it gets no certificate.
    fn may_certify(&self, name: &str, local: IpAddr) -> Result<NameKind, &'static str> {
        let ip = name.parse::<IpAddr>().ok();
        match (&self.mode, ip) {
            // The private CA signs the addresses of this machine a client reached, never any
            // other: a certificate for someone else's address would let this CA's holder
            // impersonate it to every device that trusts the CA. Of loopback (all of 127/8
            // reaches a server bound to 0.0.0.0), only the usual two; and a bounded number.
            (Mode::Internal, Some(ip)) if ip.to_canonical() == local => {
                let usual_loopback = ip == IpAddr::from([127, 0, 0, 1])
                    || ip == IpAddr::from(std::net::Ipv6Addr::LOCALHOST);
                if ip.is_loopback() && !usual_loopback {
                    return Err("a loopback address other than 127.0.0.1 and ::1");
                }
                let ips = self.served.read().map_or(usize::MAX, |s| {
                    s.keys().filter(|n| n.parse::<IpAddr>().is_ok()).count()
                });
                if ips >= MAX_IP_CERTIFICATES {
                    return Err("more IP addresses than the cap");
                }
                return Ok(NameKind::Own);
            }
            (_, Some(_)) => return Err("an IP address other than the one reached"),
            (Mode::Acme(_), None) if !name.contains('.') || name.ends_with(".localhost") => {
                return Err("not a public name (an ACME CA signs public names only)");
            }
            _ => {}
        }
        match self.serves.get().and_then(|serves| serves(name)) {
            Some(NameKind::Own) => Ok(NameKind::Own),
            Some(NameKind::Custom) if matches!(self.mode, Mode::Acme(_)) => Ok(NameKind::Custom),
            // A site's custom domain may be anything (even someone else's): the private CA,
            // trusted by the devices of this network, signs only the server's own names.
            Some(NameKind::Custom) => Err("a custom domain (the private CA signs own names only)"),
            None => Err("a name this server does not serve"),
        }
    }

    /// Signs, keeps and serves a leaf for `name` with the private CA.
    fn mint(&self, name: &str) -> Result<Arc<ServerConfig>, String> {
        let ca = self.ca.as_ref().ok_or("no private CA")?;
        let minted = ca.leaf(name, unix_now(), self.leaf_lifetime)?;
        let cert = StoredCert {
            name: name.to_string(),
            issuer: INTERNAL.to_string(),
            chain_pem: minted.chain_pem,
            key_pem: minted.key_pem,
            not_before: minted.not_before,
            not_after: minted.not_after,
            renewed_at: unix_now(),
            last_error: None,
            last_error_at: None,
        };
        self.keep(&cert)?;
        self.serve(&cert)
            .ok_or_else(|| "the new certificate does not load".to_string())
    }

    /// Queues an ACME order for `name`: the client waits while it runs. It is let go at once
    /// while the name is backing off after a failure, or when the hour's orders of its kind
    /// are spent.
    fn order(&self, name: &str, kind: NameKind) -> Choice {
        let Ok(mut orders) = self.orders.lock() else {
            return Choice::Refuse;
        };
        if orders.queued.contains(name) {
            return Choice::Wait;
        }
        if let Some((_, next)) = orders.backing_off.get(name)
            && Instant::now() < *next
        {
            return Choice::Refuse;
        }
        let (recent, budget) = match kind {
            NameKind::Own => (&mut orders.recent, ORDERS_PER_HOUR),
            NameKind::Custom => (&mut orders.recent_custom, CUSTOM_ORDERS_PER_HOUR),
        };
        let now = Instant::now();
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(3600))
        {
            recent.pop_front();
        }
        if recent.len() >= budget {
            return Choice::Refuse;
        }
        recent.push_back(now);
        orders.queued.insert(name.to_string());
        orders.queue.push_back(name.to_string());
        self.wake.notify_all();
        Choice::Wait
    }

    fn issuer_name(&self) -> String {
        match &self.mode {
            Mode::Internal => INTERNAL.to_string(),
            Mode::Acme(a) => a.directory.clone(),
        }
    }

    fn keep(&self, cert: &StoredCert) -> Result<(), String> {
        let conn = store::open(&self.db_path).map_err(|e| e.to_string())?;
        store::tls::put_certificate(&conn, cert).map_err(|e| e.to_string())
    }

    /// Serves `cert` for its name from now on; `None` if it does not load.
    fn serve(&self, cert: &StoredCert) -> Option<Arc<ServerConfig>> {
        let config = match server_config(&cert.chain_pem, &cert.key_pem) {
            Ok(c) => c,
            Err(e) => {
                eprintln!(
                    "cc-server: the kept certificate for {} does not load: {e}",
                    cert.name
                );
                return None;
            }
        };
        if let Ok(mut served) = self.served.write() {
            served.insert(
                cert.name.clone(),
                Served {
                    config: config.clone(),
                    not_before: cert.not_before,
                    not_after: cert.not_after,
                },
            );
        }
        Some(config)
    }

    /// The certificates thread: runs ACME orders as they come, and renewals when due.
    fn run(self: Arc<Self>) {
        let mut next_check = Instant::now();
        loop {
            let name = {
                let Ok(mut orders) = self.orders.lock() else {
                    return;
                };
                loop {
                    // Budgets were checked when a name was queued.
                    if let Some(name) = orders.queue.pop_front() {
                        break Some(name);
                    }
                    let now = Instant::now();
                    if now >= next_check {
                        break None;
                    }
                    let wait = (next_check - now).min(Duration::from_secs(1));
                    orders = match self.wake.wait_timeout(orders, wait) {
                        Ok((o, _)) => o,
                        Err(_) => return,
                    };
                }
            };
            match name {
                Some(name) => self.obtain(&name),
                None => {
                    next_check = Instant::now() + self.check_every;
                    self.renew_due();
                }
            }
        }
    }

    /// Obtains a certificate for `name` from the ACME CA, keeps and serves it; a failure is
    /// noted and the name backs off. (The private CA mints at once: nothing is queued.)
    fn obtain(&self, name: &str) {
        let Mode::Acme(settings) = &self.mode else {
            return;
        };
        let result = self.obtain_acme(settings, name);
        let Ok(mut orders) = self.orders.lock() else {
            return;
        };
        orders.queued.remove(name);
        match result {
            Ok(()) => {
                orders.backing_off.remove(name);
                orders.first_errors.remove(name);
            }
            Err(e) => {
                let failures = orders.backing_off.get(name).map_or(0, |(n, _)| *n) + 1;
                let back_off =
                    (FIRST_BACK_OFF * 2u32.saturating_pow(failures - 1)).min(LONGEST_BACK_OFF);
                eprintln!(
                    "cc-server: no certificate for {name} yet: {e} (next try in {} s)",
                    back_off.as_secs()
                );
                orders
                    .backing_off
                    .insert(name.to_string(), (failures, Instant::now() + back_off));
                let had_one = self.served.read().is_ok_and(|s| s.contains_key(name));
                if had_one {
                    if let Ok(conn) = store::open(&self.db_path) {
                        let _ = store::tls::note_error(&conn, name, &e, unix_now());
                    }
                } else {
                    orders.first_errors.insert(name.to_string(), e);
                }
            }
        }
    }

    fn obtain_acme(&self, settings: &AcmeSettings, name: &str) -> Result<(), String> {
        let conn = store::open(&self.db_path).map_err(|e| e.to_string())?;
        let kind = format!("acme-account {}", settings.directory);
        let account_pem = match store::tls::key(&conn, &kind).map_err(|e| e.to_string())? {
            Some(pem) => pem,
            None => {
                let made = acme::AccountKey::generate();
                let made = rcgen::KeyPair::try_from(made.pkcs8())
                    .map_err(|e| e.to_string())?
                    .serialize_pem();
                store::tls::key_or_insert(&conn, &kind, &made).map_err(|e| e.to_string())?
            }
        };
        let account = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(account_pem.as_bytes())
            .ok()
            .and_then(|der| acme::AccountKey::from_pkcs8(der.secret_pkcs8_der()))
            .ok_or("the kept ACME account key does not load")?;
        let directory = acme::Directory {
            url: settings.directory.clone(),
            extra_root_pem: settings.ca_root.clone(),
        };
        let issued = acme::issue(
            &directory,
            &account,
            settings.email.as_deref(),
            &[name.to_string()],
            self,
        )
        .map_err(|e| e.to_string())?;
        let leaf = x509::pem_certs(&issued.chain_pem)
            .into_iter()
            .next()
            .ok_or("the CA sent no certificate")?;
        let (not_before, not_after) =
            x509::validity(&leaf).ok_or("the CA's certificate has no readable validity")?;
        let cert = StoredCert {
            name: name.to_string(),
            issuer: settings.directory.clone(),
            chain_pem: issued.chain_pem,
            key_pem: issued.key_pem,
            not_before,
            not_after,
            renewed_at: unix_now(),
            last_error: None,
            last_error_at: None,
        };
        self.serve(&cert)
            .ok_or("the CA's certificate does not load")?;
        self.keep(&cert)?;
        eprintln!(
            "cc-server: certificate for {name} obtained from {} (valid until {})",
            settings.directory,
            httpdate::fmt_http_date(
                std::time::UNIX_EPOCH + Duration::from_secs(not_after.max(0) as u64)
            )
        );
        Ok(())
    }

    /// Renews every served certificate past two thirds of its lifetime whose name is still
    /// served (by the test clock, when one is set).
    fn renew_due(&self) {
        let now = unix_now() + self.clock_skew;
        let due: Vec<String> = match self.served.read() {
            Ok(served) => served
                .iter()
                .filter(|(_, s)| now >= s.not_before + (s.not_after - s.not_before) * 2 / 3)
                .map(|(name, _)| name.clone())
                .collect(),
            Err(_) => return,
        };
        for name in due {
            let still_served = match name.parse::<IpAddr>() {
                Ok(_) => true,
                Err(_) => self.serves.get().is_some_and(|s| s(&name).is_some()),
            };
            if !still_served {
                continue;
            }
            match &self.mode {
                Mode::Internal => {
                    if let Err(e) = self.mint(&name) {
                        eprintln!("cc-server: renewing the certificate for {name}: {e}");
                    }
                }
                Mode::Acme(_) => {
                    if let Ok(mut orders) = self.orders.lock()
                        && orders.queued.insert(name.clone())
                    {
                        orders.queue.push_back(name);
                    }
                }
            }
        }
    }

    /// The last failure of each name that has no certificate yet.
    pub fn pending_errors(&self) -> Vec<(String, String)> {
        let mut errors: Vec<(String, String)> = self
            .orders
            .lock()
            .map(|o| o.first_errors.clone().into_iter().collect())
            .unwrap_or_default();
        errors.sort();
        errors
    }
}

impl acme::Challenges for Https {
    fn publish(&self, token: &str, key_authorization: &str) {
        if let Ok(mut c) = self.challenges.lock() {
            c.insert(token.to_string(), key_authorization.to_string());
        }
    }

    fn withdraw(&self, token: &str) {
        if let Ok(mut c) = self.challenges.lock() {
            c.remove(token);
        }
    }
}

/// A TLS configuration serving one certificate chain: TLS 1.2 and 1.3, HTTP/1.1 by ALPN.
pub fn server_config(chain_pem: &str, key_pem: &str) -> Result<Arc<ServerConfig>, String> {
    let chain: Vec<CertificateDer<'static>> = x509::pem_certs(chain_pem)
        .into_iter()
        .map(CertificateDer::from)
        .collect();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| e.to_string())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec(), b"http/1.0".to_vec()];
    Ok(Arc::new(config))
}

/// How a certificate's issuer is shown: "private CA", or the ACME directory's host.
pub fn issuer_label(issuer: &str) -> String {
    if issuer == INTERNAL {
        return "private CA".to_string();
    }
    match issuer {
        LETS_ENCRYPT => "Let's Encrypt".to_string(),
        LETS_ENCRYPT_STAGING => "Let's Encrypt (staging)".to_string(),
        url => url
            .trim_start_matches("https://")
            .split('/')
            .next()
            .unwrap_or(url)
            .to_string(),
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM` UTC.
pub fn utc(unix: i64) -> String {
    let day = crate::calendar::format_day(unix.div_euclid(86_400));
    let secs = unix.rem_euclid(86_400);
    format!("{day} {:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_private_ca_signs_only_the_address_reached_and_the_usual_loopbacks() {
        let dir = tempfile::tempdir().unwrap();
        let https = Https::start(Mode::Internal, dir.path().join("cc.db")).unwrap();
        https.set_serves(Box::new(|name| {
            (name == "blog.cc.lan").then_some(NameKind::Own)
        }));
        let ready = |c: Choice| matches!(c, Choice::Ready(_));
        let here: IpAddr = "192.168.1.50".parse().unwrap();
        assert!(ready(https.choose(None, here)));
        assert!(ready(https.choose(Some("blog.cc.lan"), here)));
        assert!(ready(https.choose(None, "127.0.0.1".parse().unwrap())));
        assert!(ready(https.choose(None, "::1".parse().unwrap())));
        // Another loopback address (all of 127/8 reaches a server on 0.0.0.0), an address
        // other than the one reached, a name not served: nothing.
        assert!(!ready(https.choose(None, "127.0.0.2".parse().unwrap())));
        assert!(!ready(https.choose(Some("10.0.0.1"), here)));
        assert!(!ready(https.choose(Some("other.cc.lan"), here)));
    }
}
