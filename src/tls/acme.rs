//! ACME (RFC 8555) client: obtains a certificate for some host names from a CA such as Let's
//! Encrypt, proving control of each name with the http-01 challenge. Owns the protocol (JWS
//! signing, nonces, account, order, authorizations, finalize, download), synchronously over
//! ureq. It never touches the database, the file system or any socket but its HTTP client:
//! the caller persists the account key and the certificate, and serves the challenge
//! responses through [`Challenges`].

use std::fmt;
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::digest::{SHA256, digest};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING as ES256, EcdsaKeyPair, KeyPair as _};
use serde_json::{Value, json};

/// How long `issue` waits for the CA to validate the challenges and to issue the certificate.
pub const DEADLINE: Duration = Duration::from_secs(90);
/// Each HTTP exchange, connection included, ends within this.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Polling: every second unless the CA asks for more, but never sleeping longer than this.
const POLL: Duration = Duration::from_secs(1);
const POLL_MAX: Duration = Duration::from_secs(5);
/// A `badNonce` answer is retried with the fresh nonce it carries (RFC 8555 §6.5). Cheap, and
/// generous enough that a test CA refusing 30 % of good nonces (Pebble) never fails a request.
const NONCE_ATTEMPTS: usize = 10;

/// The CA: its directory URL, e.g. `https://acme-v02.api.letsencrypt.org/directory`.
pub struct Directory {
    pub url: String,
    /// PEM root certificate(s) trusted *instead of* the built-in web PKI roots for the
    /// connection to the CA (a test CA such as Pebble's). `None`: the web PKI roots.
    pub extra_root_pem: Option<Vec<u8>>,
}

/// Serves http-01 answers: `key_authorization` at
/// `http://<name>/.well-known/acme-challenge/<token>` until withdrawn.
pub trait Challenges: Send + Sync {
    fn publish(&self, token: &str, key_authorization: &str);
    fn withdraw(&self, token: &str);
}

/// The ACME account's ECDSA P-256 key, as PKCS#8 DER (what the caller stores). The account
/// itself is found again from the key: newAccount is idempotent.
#[derive(Clone)]
pub struct AccountKey(Vec<u8>);

impl AccountKey {
    pub fn generate() -> AccountKey {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ES256, &SystemRandom::new())
            .expect("the system's random generator works");
        AccountKey(pkcs8.as_ref().to_vec())
    }

    /// `None` if the bytes are not a P-256 PKCS#8 key.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Option<AccountKey> {
        let valid = EcdsaKeyPair::from_pkcs8(&ES256, pkcs8, &SystemRandom::new()).is_ok();
        valid.then(|| AccountKey(pkcs8.to_vec()))
    }

    pub fn pkcs8(&self) -> &[u8] {
        &self.0
    }
}

/// A certificate just issued.
pub struct Issued {
    /// Leaf first, then the intermediates, as the CA sent them.
    pub chain_pem: String,
    /// The certificate's fresh P-256 key, PKCS#8 PEM.
    pub key_pem: String,
}

/// What went wrong, and at which step ("new order", "authorization for a.example", ...).
#[derive(Debug)]
pub struct AcmeError {
    pub step: String,
    pub cause: Cause,
}

#[derive(Debug)]
pub enum Cause {
    /// No answer: connection, TLS, timeout.
    Transport(String),
    /// The CA's problem document (RFC 7807), with its HTTP status (0 when embedded in an
    /// authorization or order object).
    Problem { status: u16, problem: Box<Problem> },
    /// An answer we cannot use, or the deadline passed.
    Protocol(String),
}

#[derive(Debug)]
pub struct Problem {
    /// e.g. `urn:ietf:params:acme:error:unauthorized`.
    pub kind: String,
    pub detail: String,
    /// The name a subproblem is about.
    pub identifier: Option<String>,
    pub subproblems: Vec<Problem>,
}

impl Problem {
    fn from_json(v: &Value) -> Problem {
        Problem {
            kind: v["type"].as_str().unwrap_or("about:blank").to_string(),
            detail: v["detail"].as_str().unwrap_or("").to_string(),
            identifier: v["identifier"]["value"].as_str().map(str::to_string),
            subproblems: v["subproblems"]
                .as_array()
                .map_or(vec![], |s| s.iter().map(Problem::from_json).collect()),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if let Some(name) = &self.identifier {
            write!(f, "{name}: ")?;
        }
        write!(f, "{}", self.kind)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        for sub in &self.subproblems {
            write!(f, "; {sub}")?;
        }
        Ok(())
    }
}

impl fmt::Display for AcmeError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ACME {} failed: ", self.step)?;
        match &self.cause {
            Cause::Transport(e) => write!(f, "{e}"),
            Cause::Problem { status: 0, problem } => write!(f, "{problem}"),
            Cause::Problem { status, problem } => write!(f, "{problem} (HTTP {status})"),
            Cause::Protocol(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for AcmeError {}

fn error(step: &str, cause: Cause) -> AcmeError {
    AcmeError {
        step: step.to_string(),
        cause,
    }
}

fn protocol(step: &str, what: impl Into<String>) -> AcmeError {
    error(step, Cause::Protocol(what.into()))
}

fn transport(step: &str, url: &str, e: ureq::Error) -> AcmeError {
    error(step, Cause::Transport(format!("{url}: {e}")))
}

fn problem(step: &str, status: u16, json: &Value) -> AcmeError {
    let problem = Box::new(Problem::from_json(json));
    error(step, Cause::Problem { status, problem })
}

fn header(r: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    r.headers().get(name)?.to_str().ok().map(str::to_string)
}

/// The certificates of PEM text, as roots for ureq (the CA given for a test directory, or a
/// server's private CA for the deploy client).
pub fn pem_roots(pem: &[u8]) -> Vec<ureq::tls::Certificate<'static>> {
    ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect()
}

/// Obtains a certificate for `names` (DNS names, at least one), validating each by http-01.
pub fn issue(
    dir: &Directory,
    account: &AccountKey,
    email: Option<&str>,
    names: &[String],
    challenges: &dyn Challenges,
) -> Result<Issued, AcmeError> {
    issue_within(dir, account, email, names, challenges, DEADLINE)
}

/// [`issue`] with another deadline for validation and issuance (tests use a short one).
pub fn issue_within(
    dir: &Directory,
    account: &AccountKey,
    email: Option<&str>,
    names: &[String],
    challenges: &dyn Challenges,
    deadline: Duration,
) -> Result<Issued, AcmeError> {
    if names.is_empty() {
        return Err(protocol("new order", "no names to certify"));
    }
    let mut client = Client::connect(dir, account)?;
    let step = "new account";
    let mut payload = json!({"termsOfServiceAgreed": true});
    if let Some(email) = email {
        payload["contact"] = json!([format!("mailto:{email}")]);
    }
    let url = client.endpoint("newAccount", step)?;
    let r = client.post(&url, Some(&payload), step)?;
    // The account URL, also for a key already registered (RFC 8555 §7.3.1).
    let account_url = r.location.ok_or_else(|| protocol(step, "no account URL"))?;
    client.kid = Some(account_url);

    let step = "new order";
    let identifiers: Vec<Value> = names
        .iter()
        .map(|n| json!({"type": "dns", "value": n}))
        .collect();
    let url = client.endpoint("newOrder", step)?;
    let r = client.post(&url, Some(&json!({ "identifiers": identifiers })), step)?;
    let order = r.json(step)?;
    let order_url = r.location.ok_or_else(|| protocol(step, "no order URL"))?;
    let until = Instant::now() + deadline;

    // Withdrawn on every way out, errors and panics included.
    let mut published = Published {
        challenges,
        tokens: Vec::new(),
    };
    for url in order["authorizations"].as_array().into_iter().flatten() {
        client.authorize(url.as_str().unwrap_or_default(), &mut published, until)?;
    }

    let step = "finalize";
    let (key, csr) = csr(names).map_err(|e| protocol(step, format!("CSR: {e}")))?;
    let finalize_url = order["finalize"].as_str().unwrap_or_default();
    client.post(finalize_url, Some(&json!({"csr": B64.encode(csr)})), step)?;
    let order = client.poll(&order_url, "order", until, step)?;
    let Some(cert_url) = order["certificate"].as_str() else {
        return Err(protocol(step, "valid order without a certificate URL"));
    };

    let step = "certificate download";
    let pem = Some("application/pem-certificate-chain");
    let chain_pem = String::from_utf8(client.send(cert_url, None, pem, step)?.body);
    let chain_pem = chain_pem.unwrap_or_default();
    if !chain_pem
        .trim_start()
        .starts_with("-----BEGIN CERTIFICATE-----")
    {
        return Err(protocol(step, "the answer is not a PEM certificate chain"));
    }
    let key_pem = key.serialize_pem();
    Ok(Issued { chain_pem, key_pem })
}

/// A fresh P-256 certificate key and the CSR (DER) for `names`.
fn csr(names: &[String]) -> Result<(rcgen::KeyPair, Vec<u8>), rcgen::Error> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    // rcgen's default subject is "CN=rcgen self signed cert"; CAs take the names from the SANs.
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params.serialize_request(&key)?.der().to_vec();
    Ok((key, csr))
}

/// Challenge tokens published so far; all withdrawn when dropped.
struct Published<'a> {
    challenges: &'a dyn Challenges,
    tokens: Vec<String>,
}

impl Drop for Published<'_> {
    fn drop(&mut self) {
        for token in &self.tokens {
            self.challenges.withdraw(token);
        }
    }
}

struct Answer {
    location: Option<String>,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self, step: &str) -> Result<Value, AcmeError> {
        serde_json::from_slice(&self.body).map_err(|e| protocol(step, format!("bad JSON: {e}")))
    }
}

struct Client {
    agent: ureq::Agent,
    directory: Value,
    key: EcdsaKeyPair,
    rng: SystemRandom,
    /// The public key as a JWK (RFC 7517), sent until the account URL is known.
    jwk: Value,
    thumbprint: String,
    kid: Option<String>,
    nonce: Option<String>,
}

impl Client {
    fn connect(dir: &Directory, account: &AccountKey) -> Result<Client, AcmeError> {
        let step = "directory";
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ES256, account.pkcs8(), &rng)
            .map_err(|_| protocol("account key", "not a P-256 PKCS#8 key"))?;
        // An uncompressed P-256 point: 0x04, then x and y, 32 bytes each.
        let point = key.public_key().as_ref();
        let (x, y) = (B64.encode(&point[1..33]), B64.encode(&point[33..65]));
        // RFC 7638: SHA-256 of the required members, sorted, without whitespace.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let thumbprint = B64.encode(digest(&SHA256, canonical.as_bytes()));
        let jwk = json!({"crv": "P-256", "kty": "EC", "x": x, "y": y});

        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(pem) = &dir.extra_root_pem {
            let roots = pem_roots(pem);
            if roots.is_empty() {
                return Err(protocol(step, "extra_root_pem holds no PEM certificate"));
            }
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&roots));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(HTTP_TIMEOUT))
            .tls_config(tls.build())
            .build()
            .into();
        let url = &dir.url;
        let mut r = agent.get(url).call().map_err(|e| transport(step, url, e))?;
        let status = r.status().as_u16();
        if status != 200 {
            return Err(protocol(step, format!("{url} answered HTTP {status}")));
        }
        let directory = serde_json::from_reader(r.body_mut().as_reader())
            .map_err(|e| protocol(step, format!("{url}: {e}")))?;
        Ok(Client {
            agent,
            directory,
            key,
            rng,
            jwk,
            thumbprint,
            kid: None,
            nonce: None,
        })
    }

    fn endpoint(&self, name: &str, step: &str) -> Result<String, AcmeError> {
        let url = self.directory[name].as_str();
        url.map(str::to_string)
            .ok_or_else(|| protocol(step, format!("no {name} in the directory")))
    }

    fn fresh_nonce(&mut self, step: &str) -> Result<String, AcmeError> {
        let url = self.endpoint("newNonce", step)?;
        let r = self.agent.head(&url).call();
        let r = r.map_err(|e| transport(step, &url, e))?;
        header(&r, "replay-nonce").ok_or_else(|| protocol(step, "no Replay-Nonce"))
    }

    /// `payload` signed and posted (`None`: POST-as-GET); see `send`.
    fn post(&mut self, url: &str, body: Option<&Value>, step: &str) -> Result<Answer, AcmeError> {
        self.send(url, body, None, step)
    }

    /// Signs `payload` (`None`: the empty payload of a POST-as-GET) into a JWS (RFC 7515,
    /// flattened JSON) and posts it; a `badNonce` problem is retried, others are errors.
    fn send(
        &mut self,
        url: &str,
        payload: Option<&Value>,
        accept: Option<&str>,
        step: &str,
    ) -> Result<Answer, AcmeError> {
        let payload = payload.map_or(String::new(), |p| B64.encode(p.to_string()));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let nonce = match self.nonce.take() {
                Some(nonce) => nonce,
                None => self.fresh_nonce(step)?,
            };
            let mut protected = json!({"alg": "ES256", "nonce": nonce, "url": url});
            match &self.kid {
                Some(kid) => protected["kid"] = json!(kid),
                None => protected["jwk"] = self.jwk.clone(),
            }
            let protected = B64.encode(protected.to_string());
            // ES256 is the fixed-size r‖s signature (RFC 7518 §3.4), not ASN.1 DER.
            let signature = self
                .key
                .sign(&self.rng, format!("{protected}.{payload}").as_bytes());
            let signature = B64.encode(signature.map_err(|_| protocol(step, "signing failed"))?);
            let jws = json!({"protected": protected, "payload": payload, "signature": signature});
            let mut request = self
                .agent
                .post(url)
                .header("Content-Type", "application/jose+json");
            if let Some(accept) = accept {
                request = request.header("Accept", accept);
            }
            let r = request.send(jws.to_string());
            let mut r = r.map_err(|e| transport(step, url, e))?;
            self.nonce = header(&r, "replay-nonce");
            let location = header(&r, "location");
            // Retry-After in seconds; the HTTP-date form is ignored (then we poll every second).
            let retry_after = header(&r, "retry-after").and_then(|s| s.trim().parse().ok());
            let retry_after = retry_after.map(Duration::from_secs);
            let status = r.status().as_u16();
            let body = r.body_mut().read_to_vec();
            let body = body.map_err(|e| transport(step, url, e))?;
            if status < 400 {
                return Ok(Answer {
                    location,
                    retry_after,
                    body,
                });
            }
            let json = serde_json::from_slice::<Value>(&body).ok();
            let json = json.filter(|v| v["type"].is_string()).unwrap_or_else(|| {
                let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
                json!({"type": "about:blank", "detail": text})
            });
            if json["type"] != "urn:ietf:params:acme:error:badNonce" || attempt == NONCE_ATTEMPTS {
                return Err(problem(step, status, &json));
            }
        }
    }

    /// Brings one authorization to `valid`: publishes the http-01 answer, tells the CA to
    /// check it, then waits for the verdict.
    fn authorize(
        &mut self,
        url: &str,
        out: &mut Published,
        until: Instant,
    ) -> Result<(), AcmeError> {
        let authz = self
            .post(url, None, "authorization")?
            .json("authorization")?;
        let name = authz["identifier"]["value"].as_str().unwrap_or("?");
        let step = format!("authorization for {name}");
        match authz["status"].as_str().unwrap_or("?") {
            "valid" => return Ok(()), // validated for an earlier order, still good
            "pending" => {}
            status => return Err(protocol(&step, format!("the authorization is {status}"))),
        }
        let mut challenges = authz["challenges"].as_array().into_iter().flatten();
        let http01 = challenges.find(|c| c["type"] == "http-01");
        let Some((token, challenge_url)) =
            http01.and_then(|c| Some((c["token"].as_str()?, c["url"].as_str()?)))
        else {
            return Err(protocol(&step, "the CA offers no http-01 challenge"));
        };
        // The token ends up in a URL path: only base64url characters are acceptable.
        let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        if token.is_empty() || !token.bytes().all(base64url) {
            return Err(protocol(&step, "malformed challenge token"));
        }
        // The key authorization (RFC 8555 §8.1).
        let key_authorization = format!("{token}.{}", self.thumbprint);
        out.challenges.publish(token, &key_authorization);
        out.tokens.push(token.to_string());
        if http01.is_some_and(|c| c["status"] == "pending") {
            self.post(challenge_url, Some(&json!({})), &step)?;
        }
        self.poll(url, "authorization", until, &step).map(drop)
    }

    /// POST-as-GETs an authorization or order until it is `valid`; `invalid` (or another
    /// final status), or still pending at `until`, is an error with the CA's problem if any.
    fn poll(
        &mut self,
        url: &str,
        what: &str,
        until: Instant,
        step: &str,
    ) -> Result<Value, AcmeError> {
        loop {
            let r = self.post(url, None, step)?;
            let object = r.json(step)?;
            let status = object["status"].as_str().unwrap_or("?");
            match status {
                "valid" => return Ok(object),
                "pending" | "processing" | "ready" => {}
                _ => {
                    // An order has its `error`; an authorization's is in its failed challenge.
                    let challenges = object["challenges"].as_array().into_iter().flatten();
                    let mut errors =
                        std::iter::once(&object["error"]).chain(challenges.map(|c| &c["error"]));
                    return Err(match errors.find(|e| e.is_object()) {
                        Some(e) => problem(step, 0, e),
                        None => protocol(step, format!("the {what} is {status}")),
                    });
                }
            }
            let now = Instant::now();
            if now >= until {
                let late = format!("the {what} is still {status} at the deadline");
                return Err(protocol(step, late));
            }
            thread::sleep(r.retry_after.unwrap_or(POLL).min(POLL_MAX).min(until - now));
        }
    }
}
