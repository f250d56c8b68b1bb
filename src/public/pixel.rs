//! The tracking pixel: public `GET /pixel.gif?domain=…&path=…&tags=…` on the dashboard host,
//! for e-mails and pages that run no script. It always answers a 1×1 transparent GIF, and
//! records a `source_type='pixel'` event only for a valid domain within the rate limit.

use serde_json::{Map, Value};

use crate::analytics::{Event, Visit};
use crate::http::{Request, Response};
use crate::names::normalise_domain;
use crate::services::Services;

/// A 1×1 GIF89a whose only pixel is transparent (43 bytes): a two-colour global table, a
/// graphic control extension marking colour 0 transparent, and one LZW-coded pixel.
pub const GIF: [u8; 43] = [
    b'G', b'I', b'F', b'8', b'9', b'a', // signature and version
    0x01, 0x00, 0x01, 0x00, // width 1, height 1 (little-endian)
    0x80, 0x00, 0x00, // a global colour table of 2 entries; background 0; no aspect ratio
    0x00, 0x00, 0x00, 0xff, 0xff, 0xff, // colour 0 black, colour 1 white
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00,
    0x00, // graphic control: colour 0 is transparent
    0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, // image at 0,0, 1×1
    0x02, 0x02, 0x44, 0x01, 0x00, // LZW minimum code size 2, one 2-byte block, end
    0x3b, // trailer
];

/// Longest path recorded; a longer one is refused rather than cut (it is not what was meant).
pub const MAX_PATH: usize = 512;
/// Most tags kept per event, and the longest key or value (longer ones are cut).
pub const MAX_TAGS: usize = 20;
pub const MAX_TAG_LEN: usize = 64;

/// `GET /pixel.gif`: the GIF, whatever the query says — a broken image in an e-mail helps
/// no one — plus one event when the query is usable and the client within its rate.
pub fn pixel(svc: &Services, req: &Request) -> Response {
    // A HEAD only checks the image is there; nobody opened anything.
    if !req.is_head()
        && let Some(hit) = parse(&req.query_pairs())
        && svc.check_public_rate(req).is_ok()
    {
        let ip = svc.client_ip(req);
        svc.recorder.record(Visit {
            event: Event {
                name: None,
                tags: hit.tags,
                payload: None,
            },
            ..Visit::now(req, ip, "pixel", hit.domain, hit.path, 200)
        });
    }
    gif()
}

pub fn gif() -> Response {
    Response::new(200)
        .with_header("Content-Type", "image/gif")
        // Every open must reach us to be counted: no browser, mail client or proxy may keep it.
        .with_header(
            "Cache-Control",
            "no-store, no-cache, must-revalidate, max-age=0",
        )
        .with_header("Pragma", "no-cache")
        .with_header("Expires", "0")
        .with_body(GIF.to_vec())
}

/// What a pixel request records.
#[derive(Debug, PartialEq, Eq)]
struct Hit {
    domain: String,
    path: String,
    /// A JSON object of strings, or `None` when no usable tags were given.
    tags: Option<String>,
}

/// The query → what to record, or `None` when the domain or path is not usable.
fn parse(query: &[(String, String)]) -> Option<Hit> {
    let get = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim());
    let domain = normalise_domain(get("domain")?).ok()?;
    let path = match get("path").unwrap_or("") {
        "" => "/".to_string(),
        p if p.starts_with('/') => p.to_string(),
        p => format!("/{p}"),
    };
    if path.len() > MAX_PATH || path.chars().any(char::is_control) {
        return None;
    }
    // Tags are extra detail: tags that do not parse leave the event untagged, not unrecorded.
    let tags = get("tags").and_then(parse_tags);
    Some(Hit { domain, path, tags })
}

/// `campaign:jan,variant:b` or `{"campaign":"jan","n":2}` → `{"campaign":"jan",…}`: a JSON
/// object of strings, at most `MAX_TAGS` tags of at most `MAX_TAG_LEN` characters each.
fn parse_tags(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let pairs: Vec<(String, String)> = if raw.starts_with('{') {
        let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(raw) else {
            return None;
        };
        obj.into_iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k, s)),
                Value::Number(n) => Some((k, n.to_string())),
                Value::Bool(b) => Some((k, b.to_string())),
                // Nested values and null have no place in a flat tag list.
                _ => None,
            })
            .collect()
    } else {
        raw.split(',')
            .filter_map(|item| item.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let mut tags = Map::new();
    for (k, v) in pairs {
        if tags.len() == MAX_TAGS {
            break;
        }
        let (k, v) = (clean(&k), clean(&v));
        if !k.is_empty() {
            tags.insert(k, Value::String(v));
        }
    }
    (!tags.is_empty()).then(|| Value::Object(tags).to_string())
}

/// Trimmed, without control characters, cut to `MAX_TAG_LEN` characters.
fn clean(s: &str) -> String {
    s.trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_TAG_LEN)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_form;

    #[test]
    fn the_gif_is_a_transparent_1x1_gif89a() {
        assert_eq!(GIF.len(), 43);
        assert!(GIF.starts_with(b"GIF89a"));
        assert_eq!(u16::from_le_bytes([GIF[6], GIF[7]]), 1, "width");
        assert_eq!(u16::from_le_bytes([GIF[8], GIF[9]]), 1, "height");
        assert_eq!(GIF[10] & 0x80, 0x80, "a global colour table");
        // The graphic control extension sets the transparency flag for colour 0.
        assert_eq!(&GIF[19..22], &[0x21, 0xf9, 0x04]);
        assert_eq!((GIF[22] & 1, GIF[25]), (1, 0));
        assert_eq!(GIF[42], 0x3b, "trailer");
        let r = gif();
        assert_eq!(r.header("content-type"), Some("image/gif"));
        assert_eq!(r.body.len(), 43);
        assert_eq!(r.header("pragma"), Some("no-cache"));
        assert_eq!(r.header("expires"), Some("0"));
        assert!(r.header("cache-control").unwrap().contains("no-store"));
    }

    fn hit(query: &str) -> Option<Hit> {
        parse(&parse_form(query))
    }

    #[test]
    fn queries() {
        assert_eq!(
            hit("domain=News.Example.com&path=/2026/jan&tags=campaign:jan,variant:b"),
            Some(Hit {
                domain: "news.example.com".into(),
                path: "/2026/jan".into(),
                tags: Some(r#"{"campaign":"jan","variant":"b"}"#.into()),
            })
        );
        assert_eq!(
            hit("domain=newsletter"),
            Some(Hit {
                domain: "newsletter".into(),
                path: "/".into(),
                tags: None
            })
        );
        assert_eq!(hit("domain=a.example&path=jan").unwrap().path, "/jan");
        let long = format!("domain=a.example&path=/{}", "x".repeat(MAX_PATH));
        assert_eq!(hit(&long), None, "a path over {MAX_PATH} characters");
        assert_eq!(
            hit("domain=a.example&path=/a%0Ab"),
            None,
            "control characters"
        );
        for bad in [
            "",
            "path=/x",
            "domain=",
            "domain=javascript:alert(1)",
            "domain=%3Cscript%3E",
            "domain=a..b",
        ] {
            assert_eq!(hit(bad), None, "{bad}");
        }
    }

    #[test]
    fn tags_as_pairs_or_json() {
        assert_eq!(
            parse_tags(" a : 1 , b:x:y, nocolon, :empty-key, c: ").as_deref(),
            Some(r#"{"a":"1","b":"x:y","c":""}"#)
        );
        assert_eq!(
            parse_tags(r#"{"n": 2, "ok": true, "s": "v", "nested": {"x": 1}, "no": null}"#)
                .as_deref(),
            Some(r#"{"n":"2","ok":"true","s":"v"}"#)
        );
        assert_eq!(parse_tags("{not json"), None);
        assert_eq!(parse_tags("[1,2]"), None);
        assert_eq!(parse_tags(""), None);
        assert_eq!(parse_tags("just,words"), None);
        let many: Vec<String> = (0..30).map(|i| format!("k{i:02}:v")).collect();
        let tags: Map<String, Value> =
            serde_json::from_str(&parse_tags(&many.join(",")).unwrap()).unwrap();
        assert_eq!(tags.len(), MAX_TAGS, "the first {MAX_TAGS} are kept");
        let long = format!("{}:{}", "k".repeat(100), "v".repeat(100));
        let tags: Map<String, Value> = serde_json::from_str(&parse_tags(&long).unwrap()).unwrap();
        let (k, v) = tags.iter().next().unwrap();
        assert_eq!(
            (k.len(), v.as_str().unwrap().len()),
            (MAX_TAG_LEN, MAX_TAG_LEN)
        );
        assert_eq!(
            parse_tags("a:x\u{7}y").as_deref(),
            Some(r#"{"a":"xy"}"#),
            "control characters dropped"
        );
    }
}
