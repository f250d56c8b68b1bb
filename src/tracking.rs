//! Pageviews from sites hosted elsewhere (the earlier Command Center's analytics): the `/t.js`
//! snippet and `POST /api/event`, which records `source_type='web'` visits for the domains the
//! admin allowed on the Tracking page. No cookies are read or set.

use serde_json::Value;

use crate::actions::{Services, normalise_domain};
use crate::analytics::{self, Visit};
use crate::http::{Request, Response};
use crate::store;

/// The snippet a page includes with `<script defer src="http://<dashboard>/t.js"></script>`.
/// It posts to the origin it was loaded from, as `text/plain` so no CORS preflight is needed.
pub const SNIPPET_JS: &str = include_str!("dashboard/assets/t.js");

/// Largest event body: a URL and a referrer.
const MAX_EVENT_BODY: usize = 4 * 1024;

pub fn snippet() -> Response {
    Response::new(200)
        .with_header("Content-Type", "application/javascript; charset=utf-8")
        .with_header("Cache-Control", "public, max-age=3600")
        .with_body(SNIPPET_JS.as_bytes().to_vec())
}

/// `POST /api/event` (and its `OPTIONS` preflight): `{"url": "...", "referrer": "..."}` from
/// a page of a tracked domain → 202 and one `web` event; anything else → 4xx, nothing stored.
pub fn api_event(svc: &Services, req: &mut Request) -> Response {
    let origin = req.header("origin").map(str::to_string);
    let conn = match svc.conn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tracking: {e}");
            return Response::json_error(500, "the database is not available right now");
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
    if let Err(too_many) = svc.check_public_rate(req) {
        return cors(too_many);
    }
    let body = match req.read_small_body(MAX_EVENT_BODY) {
        Ok(b) => b,
        Err(_) => {
            return cors(Response::json_error(
                413,
                &format!("an event may be at most {MAX_EVENT_BODY} bytes"),
            ));
        }
    };
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return cors(Response::json_error(
            400,
            "the body must be JSON: {\"url\": \"https://…\", \"referrer\": \"…\"}",
        ));
    };
    let Some(url) = event.get("url").and_then(Value::as_str) else {
        return cors(Response::json_error(400, "the event has no \"url\""));
    };
    let Some((domain, path)) = split_url(url) else {
        return cors(Response::json_error(
            400,
            "\"url\" must be an http(s) URL such as https://blog.example.com/post",
        ));
    };
    if !allowed(&domain) {
        return cors(Response::json_error(
            403,
            &format!("'{domain}' is not a tracked domain: add it on the dashboard's Tracking page"),
        ));
    }
    if origin_domain.as_deref().is_some_and(|o| o != domain) {
        return cors(Response::json_error(
            403,
            "the page's Origin does not match the event's url",
        ));
    }
    svc.recorder.record(Visit {
        event: Default::default(),
        unix_time: analytics::now_unix(),
        source_type: "web",
        site: domain,
        path,
        status: 200,
        referrer: event
            .get("referrer")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
            .map(str::to_string),
        user_agent: req.header("user-agent").map(str::to_string),
        ip: svc.client_ip(req),
    });
    cors(Response::new(202))
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
}
