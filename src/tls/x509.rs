//! The few facts read from X.509 certificates (RFC 5280): validity period and issuer name,
//! by walking the DER by hand, and the certificates of a PEM chain. Anything malformed gives
//! `None`; it never panics, whatever the bytes. It verifies nothing: that is TLS's business.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The DER certificates of a PEM chain, in order; blocks that do not decode are skipped.
pub fn pem_certs(chain_pem: &str) -> Vec<Vec<u8>> {
    let mut certs = Vec::new();
    let mut rest = chain_pem;
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    while let Some(start) = rest.find(BEGIN) {
        rest = &rest[start + BEGIN.len()..];
        let Some(end) = rest.find("-----END CERTIFICATE-----") else {
            break;
        };
        let b64: String = rest[..end].split_ascii_whitespace().collect();
        if let Ok(der) = STANDARD.decode(b64) {
            certs.push(der);
        }
        rest = &rest[end..];
    }
    certs
}

/// The leaf: the first certificate of a PEM chain.
pub fn first_cert_der(chain_pem: &str) -> Option<Vec<u8>> {
    pem_certs(chain_pem).into_iter().next()
}

/// (notBefore, notAfter) in Unix seconds.
pub fn validity(cert_der: &[u8]) -> Option<(i64, i64)> {
    let (_issuer, validity) = issuer_and_validity(cert_der)?;
    let (t1, not_before, rest) = tlv(validity)?;
    let (t2, not_after, _) = tlv(rest)?;
    Some((time(t1, not_before)?, time(t2, not_after)?))
}

/// The issuer's common name (OID 2.5.4.3), e.g. "Pebble Intermediate CA 1a2b3c" or "R11".
pub fn issuer_common_name(cert_der: &[u8]) -> Option<String> {
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    let (mut rdns, _) = issuer_and_validity(cert_der)?;
    while !rdns.is_empty() {
        let (mut set, rest) = expect(SET, rdns)?;
        rdns = rest;
        while !set.is_empty() {
            let (attribute, rest) = expect(SEQUENCE, set)?;
            set = rest;
            let (oid, value) = expect(OID, attribute)?;
            let (tag, value, _) = tlv(value)?;
            // UTF8String, PrintableString, IA5String
            if oid == CN && matches!(tag, 0x0c | 0x13 | 0x16) {
                return String::from_utf8(value.to_vec()).ok();
            }
        }
    }
    None
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;

/// The contents of the issuer Name and of the Validity of a certificate.
fn issuer_and_validity(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (cert, _) = expect(SEQUENCE, der)?;
    let (tbs, _) = expect(SEQUENCE, cert)?;
    let (tag, _, mut rest) = tlv(tbs)?;
    if tag == 0xa0 {
        // [0] EXPLICIT version; the serial number follows
        (_, _, rest) = tlv(rest)?;
    }
    let (_signature_algorithm, _, rest) = tlv(rest)?;
    let (issuer, rest) = expect(SEQUENCE, rest)?;
    let (validity, _) = expect(SEQUENCE, rest)?;
    Some((issuer, validity))
}

/// One DER element of the given tag: (contents, what follows).
fn expect(tag: u8, input: &[u8]) -> Option<(&[u8], &[u8])> {
    let (actual, contents, rest) = tlv(input)?;
    (actual == tag).then_some((contents, rest))
}

/// One DER element: (tag, contents, what follows). Single-byte tags, definite lengths only.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let count = (first & 0x7f) as usize;
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, after) = rest.split_at(count);
        rest = after;
        bytes.iter().fold(0, |n, &b| (n << 8) | usize::from(b))
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ), as RFC 5280 §4.1.2.5
/// requires them (UTC, seconds, no fractions), to Unix seconds.
fn time(tag: u8, s: &[u8]) -> Option<i64> {
    let (year, rest) = match (tag, s.len()) {
        (0x17, 13) => {
            let yy = digits(&s[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &s[2..])
        }
        (0x18, 15) => (digits(&s[..4])?, &s[4..]),
        _ => return None,
    };
    if rest[10] != b'Z' {
        return None;
    }
    let [month, day, hour, minute, second] = [0, 2, 4, 6, 8].map(|i| digits(&rest[i..i + 2]));
    let (month, day) = (month?, day?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let (hour, minute, second) = (hour?, minute?, second?);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

fn digits(s: &[u8]) -> Option<i64> {
    let digit = |n: i64, &b: &u8| b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'));
    s.iter().try_fold(0, digit)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["a.example".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Test Org");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Test CA 42");
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn reads_utc_and_generalized_times() {
        // rcgen writes UTCTime up to 2049 and GeneralizedTime from 2050 (RFC 5280).
        let der = self_signed((2024, 2, 29), (2051, 1, 1));
        assert_eq!(validity(&der), Some((1_709_164_800, 2_556_144_000)));
        let der = self_signed((1975, 6, 1), (2049, 12, 31));
        assert_eq!(validity(&der), Some((170_812_800, 2_524_521_600)));
        assert_eq!(issuer_common_name(&der).as_deref(), Some("Test CA 42"));
    }

    #[test]
    fn pem_chain() {
        let (a, b) = (
            self_signed((2024, 1, 1), (2025, 1, 1)),
            self_signed((2024, 1, 1), (2026, 1, 1)),
        );
        let pem = |der: &[u8]| {
            let b64 = STANDARD.encode(der);
            let lines: Vec<&str> = b64
                .as_bytes()
                .chunks(64)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            format!(
                "-----BEGIN CERTIFICATE-----\r\n{}\r\n-----END CERTIFICATE-----\n",
                lines.join("\r\n")
            )
        };
        let chain = format!("{}\n{}", pem(&a), pem(&b));
        assert_eq!(pem_certs(&chain), vec![a.clone(), b]);
        assert_eq!(first_cert_der(&chain), Some(a));
        assert_eq!(first_cert_der("no pem here"), None);
        assert_eq!(first_cert_der("-----BEGIN CERTIFICATE-----\nAAAA"), None);
    }

    #[test]
    fn malformed_bytes_never_panic() {
        let der = self_signed((2024, 1, 1), (2025, 1, 1));
        for end in 0..der.len() {
            assert_eq!(validity(&der[..end]), None, "truncated at {end}");
            issuer_common_name(&der[..end]);
        }
        // Every single-byte corruption, then pseudo-random bytes (xorshift, no rand crate).
        for i in 0..der.len() {
            for x in [0x01, 0x80, 0xff] {
                let mut bad = der.clone();
                bad[i] ^= x;
                validity(&bad);
                issuer_common_name(&bad);
            }
        }
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 200) as usize;
            let mut bytes: Vec<u8> = (0..len)
                .map(|i| (state >> (i % 56)) as u8 ^ i as u8)
                .collect();
            if let Some(b) = bytes.first_mut() {
                *b = SEQUENCE; // get past the first check more often
            }
            validity(&bytes);
            issuer_common_name(&bytes);
        }
        assert_eq!(time(0x17, b"2401011200Z"), None);
        assert_eq!(time(0x17, b"241301120000Z"), None);
        assert_eq!(time(0x18, b"2024+1011200000Z"), None);
    }
}
