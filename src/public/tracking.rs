//! Pageviews and named events from sites hosted elsewhere (the earlier Command Center's
//! analytics): the `/t.js` snippet, its `POST /api/event`, and v0.2's `POST /track`. Both
//! endpoints record `source_type='web'` events only for the domains the admin allowed on the
//! Tracking page, through one shared path (`accept_event`). No cookies are read or set.

use serde_json::Value;

use crate::analytics::{self, Event, Visit};
use crate::error::ApiError;
use crate::http::{Request, Response};
use crate::names::normalise_domain;
use crate::services::Services;
use crate::store;

/// The snippet a page includes with `<script defer src="http://<dashboard>/t.js"></script>`.
/// It posts to the origin it was loaded from, as `text/plain` so no CORS preflight is needed.
pub const SNIPPET_JS: &str = include_str!("../dashboard/assets/t.js");

/// Largest event body: a URL and a referrer.
const MAX_EVENT_BODY: usize = 4 * 1024;

pub fn snippet() -> Response {
    Response::new(200)
        .with_header("Content-Type", "application/javascript; charset=utf-8")
        .with_header("Cache-Control", "public, max-age=3600")
        .with_body(SNIPPET_JS.as_bytes().to_vec())
}

/// `POST /api/event` (and its `OPTIONS` preflight): `{"url": "...", "referrer": "..."}` from
/// a page of a tracked domain → 202 and one `web` pageview; anything else → 4xx, nothing stored.
pub fn api_event(svc: &Services, req: &mut Request) -> Response {
    accept_event(
        svc,
        req,
        "the body must be JSON: {\"url\": \"https://…\", \"referrer\": \"…\"}",
        |event| {
            let url = event
                .get("url")
                .and_then(Value::as_str)
                .ok_or("the event has no \"url\"")?;
            let (domain, path) = split_url(url)
                .ok_or("\"url\" must be an http(s) URL such as https://blog.example.com/post")?;
            Ok(Incoming {
                domain,
                path,
                referrer: referrer(event),
                event: Event::default(),
            })
        },
    )
}

/// `POST /track` (and its `OPTIONS` preflight), Command Center v0.2's endpoint:
/// `{"domain", "path", "referrer", "event", "tags"}` → 202 and one `web` event with its name
/// and tags, under the same rules as `/api/event`.
pub fn track(svc: &Services, req: &mut Request) -> Response {
    accept_event(
        svc,
        req,
        "the body must be JSON: {\"domain\": \"blog.example.com\", \"path\": \"/\", \"event\": \"signup\", \"tags\": {…}}",
        read_track,
    )
}

/// Where an event happened and what it was, read from an endpoint's JSON body.
struct Incoming {
    domain: String,
    path: String,
    referrer: Option<String>,
    event: Event,
}

/// The steps every public event endpoint takes, in this order: CORS only for an Origin on
/// the allow-list, the preflight, the per-address rate limit, the body size, JSON, the
/// endpoint's own reading of it (`read`: `Err` is a 400), the allow-list for the event's
/// domain, the Origin matching that domain; then one `web` event and 202.
fn accept_event(
    svc: &Services,
    req: &mut Request,
    bad_json: &str,
    read: impl FnOnce(&Value) -> Result<Incoming, String>,
) -> Response {
    let origin = req.header("origin").map(str::to_string);
    let conn = match svc.conn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tracking: {e}");
            return ApiError::Store("the database is not available right now".into())
                .to_json_response();
        }
    };
    let allowed = |domain: &str| store::tracking::is_tracked(&conn, domain).unwrap_or(false);
    let origin_domain = origin.as_deref().and_then(|o| normalise_domain(o).ok());
    // Browsers always name the page's origin on a cross-origin POST; a request whose Origin
    // is not tracked gets no CORS grant.
    let cors = |r: Response| match (&origin, &origin_domain) {
        (Some(o), Some(d)) if allowed(d) => r
            .with_header("Access-Control-Allow-Origin", o.clone())
            .with_header("Access-Control-Allow-Methods", "POST")
            .with_header("Access-Control-Allow-Headers", "Content-Type")
            .with_header("Vary", "Origin"),
        _ => r,
    };
    if req.method == "OPTIONS" {
        return cors(Response::new(204));
    }
    cors(
        record_event(svc, req, bad_json, read, &allowed, origin_domain.as_deref())
            .unwrap_or_else(|e| e.to_json_response()),
    )
}

/// The checks and the record behind `accept_event`: 202, or the error to answer.
fn record_event(
    svc: &Services,
    req: &mut Request,
    bad_json: &str,
    read: impl FnOnce(&Value) -> Result<Incoming, String>,
    allowed: &dyn Fn(&str) -> bool,
    origin_domain: Option<&str>,
) -> Result<Response, ApiError> {
    svc.check_public_rate(req)?;
    let body = req.read_small_body(MAX_EVENT_BODY).map_err(|_| {
        ApiError::TooLarge(format!("an event may be at most {MAX_EVENT_BODY} bytes"))
    })?;
    let json = serde_json::from_slice::<Value>(&body)
        .map_err(|_| ApiError::BadRequest(bad_json.to_string()))?;
    let incoming = read(&json).map_err(ApiError::BadRequest)?;
    let domain = incoming.domain;
    if !allowed(&domain) {
        return Err(ApiError::Forbidden(format!(
            "'{domain}' is not a tracked domain: add it on the dashboard's Tracking page"
        )));
    }
    if origin_domain.is_some_and(|o| o != domain) {
        return Err(ApiError::Forbidden(
            "the page's Origin does not match the event's domain".into(),
        ));
    }
    let ip = svc.client_ip(req);
    svc.recorder.record(Visit {
        event: incoming.event,
        // The page's own referrer, as /t.js read it (the request's Referer is the page).
        referrer: incoming.referrer,
        ..Visit::now(req, ip, "web", domain, incoming.path, 200)
    });
    Ok(Response::new(202))
}

fn referrer(event: &Value) -> Option<String> {
    event
        .get("referrer")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
}

/// The body of `/track`. Names and tags over the limits are refused, not cut, so a page
/// learns of it from the 400; only the path is cut to 512 characters, as for every event.
fn read_track(body: &Value) -> Result<Incoming, String> {
    let domain = body
        .get("domain")
        .and_then(Value::as_str)
        .ok_or("the event has no \"domain\" (such as \"blog.example.com\")")?;
    let domain = normalise_domain(domain)?;
    let path = match body.get("path") {
        None | Some(Value::Null) => "/",
        Some(Value::String(p)) if p.is_empty() => "/",
        Some(Value::String(p)) if p.starts_with('/') => p,
        Some(_) => return Err("\"path\" must be a string starting with '/'".into()),
    };
    // The query string often carries personal data: it is dropped, as for `/api/event`.
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let name = match body.get("event") {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) if analytics::is_valid_event_name(n) => Some(n.clone()),
        Some(_) => {
            return Err(
                "\"event\" must be 1-64 characters of a-z, A-Z, 0-9, '_', '-' and '.'".into(),
            );
        }
    };
    let tags = match body.get("tags") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => check_tags(map)?,
        Some(_) => return Err("\"tags\" must be an object of strings".into()),
    };
    Ok(Incoming {
        domain,
        path: path.chars().take(512).collect(),
        referrer: referrer(body),
        event: Event {
            name,
            tags,
            payload: None,
        },
    })
}

/// Most tags per event, and the longest tag name or value (in characters).
const MAX_TAGS: usize = 20;
const MAX_TAG_LEN: usize = 64;

/// Tags as stored: a JSON object of strings, `None` when empty.
fn check_tags(map: &serde_json::Map<String, Value>) -> Result<Option<String>, String> {
    if map.len() > MAX_TAGS {
        return Err(format!("an event may have at most {MAX_TAGS} tags"));
    }
    for (name, value) in map {
        let Some(value) = value.as_str() else {
            return Err(format!("tag '{name}' must be a string"));
        };
        let len = |s: &str| s.chars().count();
        if name.is_empty() || len(name) > MAX_TAG_LEN || len(value) > MAX_TAG_LEN {
            return Err(format!(
                "tag names and values are 1-{MAX_TAG_LEN} characters (values may be empty)"
            ));
        }
    }
    Ok((!map.is_empty()).then(|| Value::Object(map.clone()).to_string()))
}

/// `https://Blog.example.com:443/a/b?x#y` → (`blog.example.com`, `/a/b`). The query string is
/// dropped: it often carries personal data.
fn split_url(url: &str) -> Option<(String, String)> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let domain = normalise_domain(authority).ok()?;
    let path = path.split(['?', '#']).next().unwrap_or("");
    let path = if path.is_empty() { "/" } else { path };
    Some((domain, path.chars().take(512).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            split_url("https://Blog.Example.com:443/a/b?email=x#top"),
            Some(("blog.example.com".into(), "/a/b".into()))
        );
        assert_eq!(
            split_url("http://example.com"),
            Some(("example.com".into(), "/".into()))
        );
        assert_eq!(split_url("javascript:alert(1)"), None);
        assert_eq!(split_url("https://"), None);
    }

    #[test]
    fn track_bodies() {
        let read = |v: Value| read_track(&v);
        let ok = read(serde_json::json!({
            "domain": "Blog.Example.com", "path": "/post?email=x", "referrer": "https://a.example/",
            "event": "signup", "tags": {"plan": "pro"}
        }))
        .unwrap();
        assert_eq!(
            (ok.domain.as_str(), ok.path.as_str()),
            ("blog.example.com", "/post")
        );
        assert_eq!(ok.referrer.as_deref(), Some("https://a.example/"));
        assert_eq!(ok.event.name.as_deref(), Some("signup"));
        assert_eq!(ok.event.tags.as_deref(), Some(r#"{"plan":"pro"}"#));
        let plain = read(serde_json::json!({"domain": "blog.example.com", "tags": {}})).unwrap();
        assert_eq!(plain.path, "/");
        assert!(plain.event.name.is_none() && plain.event.tags.is_none());

        let many: serde_json::Map<String, Value> = (0..21)
            .map(|i| (format!("t{i}"), Value::from("x")))
            .collect();
        for bad in [
            serde_json::json!({}),
            serde_json::json!({"domain": "<b>"}),
            serde_json::json!({"domain": "a.example", "path": "post"}),
            serde_json::json!({"domain": "a.example", "event": "sign up"}),
            serde_json::json!({"domain": "a.example", "event": 1}),
            serde_json::json!({"domain": "a.example", "tags": ["x"]}),
            serde_json::json!({"domain": "a.example", "tags": {"n": 1}}),
            serde_json::json!({"domain": "a.example", "tags": {"n": "x".repeat(65)}}),
            serde_json::json!({"domain": "a.example", "tags": {"": "x"}}),
            serde_json::json!({"domain": "a.example", "tags": many}),
        ] {
            assert!(read(bad.clone()).is_err(), "{bad}");
        }
    }
}
