//! The ACME client (src/tls/acme.rs) against a real ACME server: Pebble (see pebble.rs). The
//! server's own use of it, end to end, is in https.rs.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::pebble::{ChallengeServer, Options, Pebble};
use cc_server::tls::acme::{self, AccountKey, Cause, Challenges, Directory};
use cc_server::tls::x509;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

impl Challenges for ChallengeServer {
    fn publish(&self, token: &str, key_authorization: &str) {
        self.answers
            .lock()
            .unwrap()
            .insert(token.to_string(), key_authorization.to_string());
    }
    fn withdraw(&self, token: &str) {
        self.answers.lock().unwrap().remove(token);
    }
}

/// Publishes nothing: every validation gets a 404.
struct Deaf;

impl Challenges for Deaf {
    fn publish(&self, _: &str, _: &str) {}
    fn withdraw(&self, _: &str) {}
}

fn directory(pebble: &Pebble) -> Directory {
    Directory {
        url: pebble.directory_url.clone(),
        extra_root_pem: Some(pebble.https_root_pem.clone().into_bytes()),
    }
}

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The chain verifies up to Pebble's issuing root, for every name, and is valid now.
fn assert_valid_chain(pebble: &Pebble, chain_pem: &str, names: &[String]) {
    let certs = x509::pem_certs(chain_pem);
    assert!(
        certs.len() >= 2,
        "leaf and intermediate expected:\n{chain_pem}"
    );
    let (not_before, not_after) = x509::validity(&certs[0]).expect("leaf validity");
    assert!(
        not_before <= now() + 60 && not_after > now(),
        "{not_before}..{not_after}"
    );
    let issuer = x509::issuer_common_name(&certs[0]).expect("issuer CN");
    assert!(issuer.starts_with("Pebble Intermediate CA"), "{issuer}");

    let root_der = x509::first_cert_der(&pebble.issuing_root_pem()).unwrap();
    let root = CertificateDer::from(root_der.as_slice());
    let anchors = [webpki::anchor_from_trusted_cert(&root).unwrap()];
    let leaf = CertificateDer::from(certs[0].as_slice());
    let leaf = webpki::EndEntityCert::try_from(&leaf).unwrap();
    let intermediates: Vec<CertificateDer> = certs[1..]
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    leaf.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &intermediates,
        UnixTime::now(),
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )
    .expect("chain verifies to Pebble's root");
    for name in names {
        leaf.verify_is_valid_for_subject_name(&ServerName::try_from(name.as_str()).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
}

#[test]
fn issues_for_two_names_then_again_with_the_same_account() {
    let served = ChallengeServer::start(Duration::ZERO);
    // Pebble's default nonce rejection (5 %) stays on: badNonce retries happen now and then.
    // Valid authorizations are always reused, so the renewal below takes that path.
    let pebble = Pebble::start(&Options {
        authz_reuse: Some(100),
        ..Options::new(served.port)
    });
    let dir = directory(&pebble);
    let account = AccountKey::generate();
    let two = names(&["a.test.example", "b.test.example"]);

    let issued = acme::issue(&dir, &account, Some("admin@example.com"), &two, &served)
        .unwrap_or_else(|e| panic!("{e}\n{}", pebble.logs()));
    assert_valid_chain(&pebble, &issued.chain_pem, &two);
    let (not_before, not_after) = x509::validity(&x509::pem_certs(&issued.chain_pem)[0]).unwrap();
    eprintln!(
        "default validity: {} s, notBefore {} s ago",
        not_after - not_before,
        now() - not_before
    );
    assert!(
        issued.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"),
        "{}",
        issued.key_pem
    );
    assert!(
        served.answers.lock().unwrap().is_empty(),
        "challenges withdrawn"
    );
    let paths = served.requests.lock().unwrap().clone();
    assert!(
        paths
            .iter()
            .all(|p| p.starts_with("/.well-known/acme-challenge/")),
        "{paths:?}"
    );

    assert!(AccountKey::from_pkcs8(b"not a key").is_none());
    assert!(AccountKey::from_pkcs8(&account.pkcs8()[..40]).is_none());
    assert!(AccountKey::from_pkcs8(b"not a key").is_none());
    assert!(AccountKey::from_pkcs8(&account.pkcs8()[..40]).is_none());
    // The same key finds the same account (stored as PKCS#8 in between); no email this time.
    let again = AccountKey::from_pkcs8(account.pkcs8()).unwrap();
    let one = names(&["c.test.example"]);
    let second = acme::issue(&dir, &again, None, &one, &served).unwrap_or_else(|e| panic!("{e}"));
    assert_valid_chain(&pebble, &second.chain_pem, &one);
    assert_ne!(
        second.key_pem, issued.key_pem,
        "a fresh certificate key each time"
    );
    // A renewal of the same names: their authorizations are still valid, nothing to serve.
    let validations = served.requests.lock().unwrap().len();
    let renewed = acme::issue(&dir, &again, None, &two, &served).unwrap_or_else(|e| panic!("{e}"));
    assert_valid_chain(&pebble, &renewed.chain_pem, &two);
    assert_eq!(
        served.requests.lock().unwrap().len(),
        validations,
        "no new validation"
    );
}

#[test]
fn retries_bad_nonces() {
    let served = ChallengeServer::start(Duration::ZERO);
    let pebble = Pebble::start(&Options {
        nonce_reject: Some(30),
        ..Options::new(served.port)
    });
    let issued = acme::issue(
        &directory(&pebble),
        &AccountKey::generate(),
        None,
        &names(&["n.test.example"]),
        &served,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        x509::first_cert_der(&issued.chain_pem)
            .and_then(|c| x509::validity(&c))
            .is_some()
    );
}

#[test]
fn short_validity_for_renewal_tests() {
    let served = ChallengeServer::start(Duration::ZERO);
    let pebble = Pebble::start(&Options {
        validity_secs: Some(120),
        ..Options::new(served.port)
    });
    let issued = acme::issue(
        &directory(&pebble),
        &AccountKey::generate(),
        None,
        &names(&["s.test.example"]),
        &served,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (not_before, not_after) =
        x509::validity(&x509::first_cert_der(&issued.chain_pem).unwrap()).unwrap();
    assert!(
        (119..=121).contains(&(not_after - not_before)),
        "{not_before}..{not_after}"
    );
}

#[test]
fn unanswered_challenge_fails_with_the_problem() {
    let served = ChallengeServer::start(Duration::ZERO); // answers 404: nothing is published
    let pebble = Pebble::start(&Options::new(served.port));
    let start = Instant::now();
    let names = names(&["ok.test.example", "deaf.test.example"]);
    let err = acme::issue_within(
        &directory(&pebble),
        &AccountKey::generate(),
        None,
        &names,
        &Deaf,
        Duration::from_secs(30),
    )
    .err()
    .expect("no certificate without validation");
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    let message = err.to_string();
    assert!(err.step.starts_with("authorization for "), "{message}");
    assert!(matches!(err.cause, Cause::Problem { .. }), "{message}");
    assert!(message.contains("urn:ietf:params:acme:error:"), "{message}");
    assert!(message.contains("404"), "{message}");
    assert!(
        !served.requests.lock().unwrap().is_empty(),
        "Pebble did try"
    );
    eprintln!("{message}");
}

#[test]
fn gives_up_at_the_deadline() {
    // The answer takes longer than the deadline: the authorization stays "pending".
    let served = ChallengeServer::start(Duration::from_secs(8));
    let pebble = Pebble::start(&Options::new(served.port));
    let start = Instant::now();
    let err = acme::issue_within(
        &directory(&pebble),
        &AccountKey::generate(),
        None,
        &names(&["slow.test.example"]),
        &served,
        Duration::from_secs(2),
    )
    .err()
    .expect("deadline");
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "{:?}",
        start.elapsed()
    );
    let message = err.to_string();
    assert!(
        message.contains("authorization for slow.test.example") && message.contains("deadline"),
        "{message}"
    );
    assert!(
        served.answers.lock().unwrap().is_empty(),
        "withdrawn on failure too"
    );
    eprintln!("{message}");
}

#[test]
fn wrong_root_is_a_tls_error() {
    let pebble = Pebble::start(&Options::new(crate::pebble::free_port()));
    let account = AccountKey::generate();
    let names = names(&["x.test.example"]);
    for root in [Some(crate::pebble::unrelated_root_pem().into_bytes()), None] {
        let dir = Directory {
            url: pebble.directory_url.clone(),
            extra_root_pem: root,
        };
        let err = acme::issue(&dir, &account, None, &names, &Deaf)
            .err()
            .expect("untrusted");
        let message = err.to_string();
        assert!(matches!(err.cause, Cause::Transport(_)), "{message}");
        assert!(
            message.starts_with("ACME directory failed: https://127.0.0.1:"),
            "{message}"
        );
        assert!(message.to_lowercase().contains("certificate"), "{message}");
        eprintln!("{message}");
    }
    let dir = Directory {
        url: pebble.directory_url.clone(),
        extra_root_pem: Some(b"not pem".to_vec()),
    };
    let err = acme::issue(&dir, &account, None, &names, &Deaf)
        .err()
        .unwrap();
    assert!(err.to_string().contains("no PEM certificate"), "{err}");
}
