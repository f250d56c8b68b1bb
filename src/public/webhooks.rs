//! Incoming webhooks (Command Center v0.2 parity): `POST /webhook/<endpoint>` on the dashboard
//! host stores the raw body as one `source_type='webhook'` event for an endpoint the admin
//! created on the Webhooks page. An endpoint with a secret takes only requests signed like
//! GitHub's (`X-Signature-256: sha256=<hex HMAC-SHA256 of the body>`). SQL lives in
//! `store::webhooks`; creating and deleting endpoints in `actions`.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::analytics::{Event, Visit, is_valid_event_name};
use crate::auth;
use crate::error::ApiError;
use crate::http::{BodyError, Request, Response};
use crate::secret;
use crate::services::Services;
use crate::store;

/// Largest body stored: GitHub's push payloads are mostly well under this; a bigger body is
/// refused whole rather than stored cut (a cut JSON document is useless).
pub const MAX_BODY: usize = 64 * 1024;

/// An endpoint name: 1–64 of `a-z A-Z 0-9 - _`, safe in a URL path and in HTML ids.
pub fn is_valid_endpoint(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The URL senders post to, on the host the request came in on (as the Tracking page does).
pub fn endpoint_url(svc: &Services, req: &Request, endpoint: &str) -> String {
    svc.public_url(req, &format!("/webhook/{endpoint}"))
}

/// `POST /webhook/<endpoint>`: 202 `{"ok":true}` and one event, or 4xx and nothing stored.
pub fn receive(svc: &Services, req: &mut Request, endpoint: &str) -> Response {
    checked_receive(svc, req, endpoint).unwrap_or_else(|e| e.to_json_response())
}

fn checked_receive(
    svc: &Services,
    req: &mut Request,
    endpoint: &str,
) -> Result<Response, ApiError> {
    // The limit comes first, so guessing endpoint names or signatures costs the same budget
    // as sending events.
    svc.check_public_rate(req)?;
    let hook = if is_valid_endpoint(endpoint) {
        let found = svc
            .conn()
            .and_then(|conn| Ok(store::webhooks::get(&conn, endpoint)?));
        match found {
            Ok(hook) => hook,
            Err(e) => {
                eprintln!("webhook: {e}");
                return Err(ApiError::Store(
                    "the database is not available right now".into(),
                ));
            }
        }
    } else {
        None
    };
    let Some(hook) = hook else {
        return Err(ApiError::NotFound(format!(
            "there is no webhook endpoint '{endpoint}': create it on the dashboard's Webhooks page"
        )));
    };
    let body = match req.read_small_body(MAX_BODY) {
        Ok(b) => b,
        Err(BodyError::TooLarge(_)) => {
            return Err(ApiError::TooLarge(format!(
                "a webhook body may be at most {MAX_BODY} bytes"
            )));
        }
        Err(BodyError::Unreadable) => {
            return Err(ApiError::BadRequest(
                "the request body could not be read".into(),
            ));
        }
    };
    if let Some(secret) = &hook.secret {
        let header = req
            .header("x-signature-256")
            .or_else(|| req.header("x-hub-signature-256"));
        if !signature_ok(secret, &body, header) {
            return Err(ApiError::Unauthorized(
                "missing or wrong signature: this endpoint takes only requests with \
                 'X-Signature-256: sha256=<hex HMAC-SHA256 of the body with its secret>'"
                    .into(),
            ));
        }
    }
    let Ok(payload) = String::from_utf8(body) else {
        return Err(ApiError::BadRequest(
            "the body must be UTF-8 text (JSON, a form, …)".into(),
        ));
    };
    let event_type = match req
        .header("x-event-type")
        .or_else(|| req.header("x-github-event"))
        .map(str::trim)
    {
        None => "webhook".to_string(),
        Some(t) if is_valid_event_name(t) => t.to_string(),
        Some(_) => {
            return Err(ApiError::BadRequest(
                "X-Event-Type must be 1-64 characters of a-z, A-Z, 0-9, '_', '-' and '.'".into(),
            ));
        }
    };
    let ip = svc.client_ip(req);
    let path = format!("/webhook/{}", hook.endpoint);
    svc.recorder.record(Visit {
        // A sender's Referer (if any) says nothing about a visitor.
        referrer: None,
        event: Event {
            name: Some(event_type),
            tags: None,
            payload: Some(payload),
        },
        ..Visit::now(req, ip, "webhook", hook.endpoint, path, 202)
    });
    Ok(Response::json(202, &json!({ "ok": true })))
}

/// A new endpoint secret: 32 random bytes as hex, used as the HMAC key as typed (the way
/// GitHub and `openssl dgst -hmac` use a secret string).
pub fn new_secret() -> String {
    secret::hex(&secret::random_bytes::<32>())
}

/// Whether `header` is `sha256=<hex>` of `body` under `secret`, compared in constant time so
/// the answer's timing tells nothing about how much of a guess was right.
pub fn signature_ok(secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(given) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let expected = secret::hex(&hmac_sha256(secret.as_bytes(), body));
    auth::constant_time_eq(given.to_ascii_lowercase().as_bytes(), expected.as_bytes())
}

pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length (long ones are hashed first), so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231's HMAC-SHA-256 test cases (case 5, a truncated output, does not apply).
    #[test]
    fn hmac_matches_rfc_4231() {
        let long_key = [0xaa; 131];
        let cases: &[(&[u8], &[u8], &str)] = &[
            (
                &[0x0b; 20],
                b"Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[0xaa; 20],
                &[0xdd; 50],
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            ),
            (
                &[
                    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                    23, 24, 25,
                ],
                &[0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            (
                &long_key,
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                &long_key,
                b"This is a test using a larger than block-size key and a larger than block-size \
                  data. The key needs to be hashed before being used by the HMAC algorithm.",
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (key, data, want) in cases {
            assert_eq!(secret::hex(&hmac_sha256(key, data)), *want);
        }
    }

    #[test]
    fn signatures() {
        // The same as `printf hello | openssl dgst -sha256 -hmac key`.
        let good = "sha256=9307b3b915efb5171ff14d8cb55fbcc798c6c0ef1456d66ded1a6aa723a58b7b";
        assert!(signature_ok("key", b"hello", Some(good)));
        assert!(signature_ok(
            "key",
            b"hello",
            Some(&good.to_ascii_uppercase().replace("SHA256=", "sha256="))
        ));
        assert!(!signature_ok("key", b"hello!", Some(good)));
        assert!(!signature_ok("other", b"hello", Some(good)));
        assert!(
            !signature_ok("key", b"hello", Some(&good[7..])),
            "no sha256= prefix"
        );
        assert!(!signature_ok("key", b"hello", Some("sha256=")));
        assert!(!signature_ok("key", b"hello", None));
        let s = new_secret();
        assert!(s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(s, new_secret());
    }

    #[test]
    fn endpoint_names() {
        for ok in ["github", "Stripe_live-1", &"a".repeat(64)] {
            assert!(is_valid_endpoint(ok), "{ok}");
        }
        for bad in ["", "a.b", "a/b", "a b", "%2e", "é", &"a".repeat(65)] {
            assert!(!is_valid_endpoint(bad), "{bad}");
        }
    }
}
