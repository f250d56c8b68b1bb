//! The private CA of `--https internal`: made once (the caller keeps it in `cc.db`), and the
//! leaf certificates it signs for host names and IP addresses. Pure: no I/O, no clock of its
//! own (times are given).

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use sha2::{Digest, Sha256};

/// Leaves live 90 days (as Let's Encrypt's do; well under Apple's 825-day rule for private
/// CAs) and are renewed at two thirds of that.
pub const LEAF_LIFETIME_SECS: i64 = 90 * 86_400;
const CA_LIFETIME_SECS: i64 = 20 * 365 * 86_400;
const KEY_HEADER: &str = "-----BEGIN PRIVATE KEY-----";

/// A certificate and its key, as PEM text, and its validity in Unix seconds.
pub struct Minted {
    pub chain_pem: String,
    pub key_pem: String,
    pub not_before: i64,
    pub not_after: i64,
}

pub struct Ca {
    cert_pem: String,
    cert_der: Vec<u8>,
    key: KeyPair,
}

impl Ca {
    /// A new CA, as the PEM text to keep: its certificate, then its PKCS#8 key.
    pub fn generate(now: i64) -> Result<String, String> {
        let key = KeyPair::generate().map_err(|e| format!("cannot make a CA key: {e}"))?;
        let mut params = ca_params(&key);
        params.not_before = time_of(now - 86_400);
        params.not_after = time_of(now + CA_LIFETIME_SECS);
        params.serial_number = Some(random_serial());
        let cert = params
            .self_signed(&key)
            .map_err(|e| format!("cannot make the CA certificate: {e}"))?;
        Ok(format!("{}{}", cert.pem(), key.serialize_pem()))
    }

    /// The CA kept by `generate`.
    pub fn from_pem(kept: &str) -> Result<Ca, String> {
        let at = kept.find(KEY_HEADER).ok_or("the kept CA has no key")?;
        let (cert_pem, key_pem) = kept.split_at(at);
        let key = KeyPair::from_pem(key_pem).map_err(|e| format!("the kept CA key: {e}"))?;
        let cert_der = super::x509::pem_certs(cert_pem)
            .into_iter()
            .next()
            .ok_or("the kept CA has no certificate")?;
        Ok(Ca {
            cert_pem: cert_pem.to_string(),
            cert_der,
            key,
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The SHA-256 fingerprint of the CA certificate, as browsers and `openssl x509
    /// -fingerprint -sha256` show it (`AB:CD:…`).
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(&self.cert_der);
        let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
        hex.join(":")
    }

    /// A leaf certificate for `name` (a host name or an IP address), valid from `now`.
    pub fn leaf(&self, name: &str, now: i64, lifetime_secs: i64) -> Result<Minted, String> {
        let key = KeyPair::generate().map_err(|e| format!("cannot make a key: {e}"))?;
        let mut params = CertificateParams::default();
        params.subject_alt_names = vec![match name.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                name.to_string()
                    .try_into()
                    .map_err(|e| format!("'{name}' cannot be in a certificate: {e}"))?,
            ),
        }];
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = time_of(now - 3600);
        params.not_after = time_of(now + lifetime_secs);
        params.serial_number = Some(random_serial());
        params.use_authority_key_identifier_extension = true;
        let issuer = Issuer::new(ca_params(&self.key), &self.key);
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(|e| format!("cannot sign a certificate for '{name}': {e}"))?;
        Ok(Minted {
            chain_pem: format!("{}{}", cert.pem(), self.cert_pem),
            key_pem: key.serialize_pem(),
            not_before: now - 3600,
            not_after: now + lifetime_secs,
        })
    }
}

/// What the CA certificate says of itself; rebuilt from its key alone, so the issuer name
/// and key identifier of every leaf match the kept certificate byte for byte.
fn ca_params(key: &KeyPair) -> CertificateParams {
    let id = Sha256::digest(rcgen::PublicKeyData::der_bytes(key));
    let tag: String = id[..4].iter().map(|b| format!("{b:02x}")).collect();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, format!("cc-server private CA {tag}"));
    params
        .distinguished_name
        .push(DnType::OrganizationName, "cc-server");
    // It signs leaves only, never another CA.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    let _ = getrandom::fill(&mut bytes);
    bytes[0] &= 0x7f; // positive
    SerialNumber::from_slice(&bytes)
}

fn time_of(unix: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_ca_signs_leaves_that_chain_to_it() {
        let now = 1_800_000_000;
        let kept = Ca::generate(now).unwrap();
        let ca = Ca::from_pem(&kept).unwrap();
        assert_eq!(Ca::from_pem(&kept).unwrap().fingerprint(), ca.fingerprint());
        assert_eq!(ca.fingerprint().len(), 32 * 3 - 1);
        for name in ["blog.cc.lan", "192.168.1.20", "::1"] {
            let leaf = ca.leaf(name, now, LEAF_LIFETIME_SECS).unwrap();
            let certs = super::super::x509::pem_certs(&leaf.chain_pem);
            assert_eq!(certs.len(), 2, "leaf then CA");
            let (from, to) = super::super::x509::validity(&certs[0]).unwrap();
            assert_eq!((from, to), (leaf.not_before, leaf.not_after));
            // rustls' own verifier, trusting only this CA, accepts the leaf for the name.
            let mut roots = rustls::RootCertStore::empty();
            roots.add(certs[1].clone().into()).unwrap();
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                std::sync::Arc::new(roots),
                std::sync::Arc::new(rustls::crypto::ring::default_provider()),
            )
            .build()
            .unwrap();
            let server_name = rustls_pki_types::ServerName::try_from(name.to_string()).unwrap();
            use rustls::client::danger::ServerCertVerifier;
            verifier
                .verify_server_cert(
                    &certs[0].clone().into(),
                    &[],
                    &server_name,
                    &[],
                    rustls_pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                        now as u64 + 60,
                    )),
                )
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn a_name_that_cannot_be_in_a_certificate_is_refused() {
        let ca = Ca::from_pem(&Ca::generate(1_800_000_000).unwrap()).unwrap();
        assert!(ca.leaf("bücher.example", 1_800_000_000, 60).is_err());
    }
}
