//! Translation between HTTP and the frames a script worker reads and writes: a request
//! becomes a JSON frame (method, decoded path and query, headers, body, address), and a
//! worker's successful reply becomes a `Response` with only the headers a script may set.
//! Pure functions: no processes, no sockets.

use std::path::Path;

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::http::{FRAMING_HEADERS, Request, Response, percent_decode};

/// Besides the framing headers (`http::FRAMING_HEADERS`), which a script never sets: the
/// server's own date and name.
const SERVER_SET: [&str; 2] = ["date", "server"];

/// A header name a script may send: letters, digits and '-', none the server sets.
fn header_name(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let name = name.to_ascii_lowercase();
    let reserved = FRAMING_HEADERS.contains(&name.as_str()) || SERVER_SET.contains(&name.as_str());
    (ok && !reserved).then_some(name)
}

pub fn request_frame(site: &str, root: &Path, req: &Request, body: &[u8]) -> Value {
    let mut headers = Map::new();
    for (name, value) in &req.headers {
        match headers.get_mut(name) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(value);
            }
            _ => {
                headers.insert(name.clone(), Value::String(value.clone()));
            }
        }
    }
    let mut query = Map::new();
    for pair in req
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        query.insert(form_decode(k), Value::String(form_decode(v)));
    }
    let path = percent_decode(req.raw_path())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|| req.raw_path().to_string());
    // The full URL a Workers-style `Request` carries: this site's host, the target as sent.
    let host = req.header("host").unwrap_or("localhost");
    let url = format!("http://{host}{}", req.url);
    json!({
        "site": site,
        "root": root,
        "method": req.method,
        "url": url,
        "path": path,
        "query": query,
        "headers": headers,
        "body": String::from_utf8_lossy(body),
        "ip": req.remote_ip.to_string(),
        "clients": 0,
    })
}

fn form_decode(s: &str) -> String {
    let s = s.replace('+', " ");
    percent_decode(&s)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or(s)
}

/// The response for a run that ended well: the script's status (never 1xx), its allowed
/// headers, its body; `text/plain` unless it chose a type.
pub fn reply_response(reply: &Value) -> Response {
    // JavaScript numbers may arrive as floats (301.0).
    let status = reply["status"]
        .as_u64()
        .or_else(|| reply["status"].as_f64().map(|f| f as u64))
        // No 1xx: an interim status would leave the client without an answer.
        .filter(|s| (200..=599).contains(s))
        .unwrap_or(200) as u16;
    let text = reply["body"].as_str().unwrap_or_default();
    // A binary body (a Workers-style Response of bytes) comes as base64.
    let body = match reply["base64"].as_bool() {
        Some(true) => base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap_or_default(),
        _ => text.as_bytes().to_vec(),
    };
    let mut response = Response::new(status).with_body(body);
    let mut has_type = false;
    for (name, value) in reply["headers"].as_object().into_iter().flatten() {
        let Some(name) = header_name(name) else {
            continue;
        };
        // Several Set-Cookie headers come as an array (they cannot be joined).
        let values: Vec<&str> = match value {
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            other => other.as_str().into_iter().collect(),
        };
        for value in values {
            has_type |= name == "content-type";
            response
                .headers
                .push((name.clone().into(), value.replace(['\r', '\n'], " ")));
        }
    }
    if !has_type {
        response = response.with_header("Content-Type", "text/plain; charset=utf-8");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_becomes_a_frame() {
        let req = Request::fake(
            "POST",
            "/a%20b?x=1&y=hello+world&z=%E2%9C%93",
            &[("Host", "s.localhost"), ("X-A", "1"), ("x-a", "2")],
        );
        let frame = request_frame("s", Path::new("/data/sites/s"), &req, b"body");
        assert_eq!(frame["path"], "/a b");
        assert_eq!(frame["query"]["y"], "hello world");
        assert_eq!(frame["query"]["z"], "\u{2713}");
        assert_eq!(frame["headers"]["x-a"], "1, 2");
        assert_eq!(frame["body"], "body");
        assert_eq!(frame["root"], "/data/sites/s");
    }

    #[test]
    fn a_reply_keeps_only_headers_a_script_may_set() {
        let reply = json!({
            "status": 204,
            "headers": {
                "content-length": "5", "Transfer-Encoding": "chunked", "connection": "close",
                "x-ok": "a\r\nb", "bad name": "x", "set-cookie": "a=1",
            },
            "body": "",
        });
        let r = reply_response(&reply);
        assert_eq!(r.status, 204);
        let names: Vec<&str> = r.headers.iter().map(|(n, _)| n.as_ref()).collect();
        assert_eq!(names, ["set-cookie", "x-ok", "Content-Type"]);
        assert_eq!(r.header("x-ok"), Some("a  b"));
        assert_eq!(reply_response(&json!({"status": 101})).status, 200);
    }
}
