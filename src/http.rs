//! Owned HTTP request and response values. Handlers take a `Request` and return a `Response`;
//! only `server` converts them to and from tiny_http, so everything else is testable without
//! a socket (`Request::fake`).

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// An incoming request: method, raw target, lower-cased header names, peer address and a
/// lazily read body.
pub struct Request<'a> {
    pub method: String,
    /// The request target as sent: still percent-encoded, with the query string.
    pub url: String,
    /// `(lower-case name, value)` in the order received.
    pub headers: Vec<(String, String)>,
    pub remote_ip: IpAddr,
    /// It came over HTTPS served by cc-server itself (not through a proxy).
    pub secure: bool,
    pub body: Box<dyn Read + Send + 'a>,
}

impl<'a> Request<'a> {
    /// A request with no body from 127.0.0.1, for unit tests.
    pub fn fake(method: &str, url: &str, headers: &[(&str, &str)]) -> Request<'static> {
        Request {
            method: method.to_string(),
            url: url.to_string(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
                .collect(),
            remote_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            secure: false,
            body: Box::new(io::empty()),
        }
    }

    /// The first value of a header, by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The target without its query string (still percent-encoded).
    pub fn raw_path(&self) -> &str {
        self.url.split_once('?').map_or(&self.url, |(p, _)| p)
    }

    /// The query string without `?`, if any.
    pub fn query(&self) -> Option<&str> {
        self.url.split_once('?').map(|(_, q)| q)
    }

    pub fn is_head(&self) -> bool {
        self.method == "HEAD"
    }
}

/// Headers that frame an HTTP message or describe its connection: the server sets them, and
/// neither a site's `_headers` nor a main.js may (a wrong Content-Length or Transfer-Encoding
/// would split one answer into two).
pub const FRAMING_HEADERS: [&str; 8] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
];

/// What a response carries after its headers.
pub enum Body {
    Empty,
    Bytes(Vec<u8>),
    /// Bytes shared with a cache (a small site file), sent without a copy.
    Shared(std::sync::Arc<[u8]>),
    /// `len` bytes of `file` from `offset` (streamed, never loaded whole). The file may be
    /// shared with the open-file cache: it is read by position, never through its cursor.
    File {
        file: Arc<File>,
        offset: u64,
        len: u64,
    },
}

/// Reads `len` bytes of a shared file from `offset` by position (`pread`), so readers of the
/// same open file never move each other's place.
pub struct FileRegion {
    pub file: Arc<File>,
    pub offset: u64,
    pub len: u64,
}

impl Read for FileRegion {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let want = buf
            .len()
            .min(usize::try_from(self.len).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.offset)?;
        self.offset += n as u64;
        self.len -= n as u64;
        Ok(n)
    }
}

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::Shared(b) => b.len() as u64,
            Body::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An outgoing response, built by chaining: `Response::text(404, "…").with_header(…)`.
pub struct Response {
    pub status: u16,
    /// Names are usually literals; a script's own header names are owned.
    pub headers: Vec<(Cow<'static, str>, String)>,
    pub body: Body,
    /// Set on a `101 Switching Protocols`: the server hands the connection over after it.
    pub upgrade: Option<Upgrade>,
    /// Set when the answer comes later from someone else (a main.js run): the server hands
    /// the connection to it and its worker goes back to other requests. The other fields
    /// are then unused.
    pub deferred: Option<Deferred>,
}

/// Writes a response once it is ready; called exactly once, on any thread.
pub type Reply = Box<dyn FnOnce(Response) + Send>;

/// An answer to come: `start` is given the function that writes it to the client.
pub struct Deferred(Box<dyn FnOnce(Reply) + Send>);

impl Deferred {
    pub fn new(start: impl FnOnce(Reply) + Send + 'static) -> Deferred {
        Deferred(Box::new(start))
    }

    /// The same answer, passed through `f` before it is written.
    pub fn map(self, f: impl FnOnce(Response) -> Response + Send + 'static) -> Deferred {
        Deferred::new(move |reply: Reply| (self.0)(Box::new(move |r| reply(f(r)))))
    }

    /// Starts the work; `reply` is called with its answer.
    pub fn start(self, reply: impl FnOnce(Response) + Send + 'static) {
        (self.0)(Box::new(reply))
    }
}

/// What an upgraded connection becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upgrade {
    /// Joins the site's WebSocket channel; `ip` is the client's address (behind the trusted
    /// proxy, the visitor's own).
    WebSocket { site: String, ip: IpAddr },
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Empty,
            upgrade: None,
            deferred: None,
        }
    }

    /// A response that `deferred` will produce later.
    pub fn later(deferred: Deferred) -> Response {
        Response {
            deferred: Some(deferred),
            ..Response::new(0)
        }
    }

    pub fn text(status: u16, text: impl Into<String>) -> Response {
        Response::new(status)
            .with_header("Content-Type", "text/plain; charset=utf-8")
            .with_body(text.into().into_bytes())
    }

    pub fn html(status: u16, html: impl Into<String>) -> Response {
        Response::new(status)
            .with_header("Content-Type", "text/html; charset=utf-8")
            .with_body(html.into().into_bytes())
    }

    /// JSON body; errors use `{"error": "…"}` (see `Response::json_error`).
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response::new(status)
            .with_header("Content-Type", "application/json")
            .with_body(value.to_string().into_bytes())
    }

    pub fn json_error(status: u16, message: &str) -> Response {
        Response::json(status, &serde_json::json!({ "error": message }))
    }

    pub fn with_header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
    ) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets a header, replacing any values it had (names compare case-insensitively).
    pub fn set_header(&mut self, name: impl Into<Cow<'static, str>>, value: impl Into<String>) {
        let name = name.into();
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        self.headers.push((name, value.into()));
    }

    pub fn with_body(mut self, bytes: Vec<u8>) -> Response {
        self.body = Body::Bytes(bytes);
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes `%XX` escapes. `None` for a malformed escape; the result may be any bytes.
pub fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hi = (hex[0] as char).to_digit(16)?;
            let lo = (hex[1] as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// `application/x-www-form-urlencoded` pairs (a query string or a form body). Pairs that do
/// not decode to UTF-8 are dropped.
pub fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |x: &str| {
                percent_decode(&x.replace('+', " ")).and_then(|b| String::from_utf8(b).ok())
            };
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

/// The first value of `name` in form pairs.
pub fn form_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Why a small request body (a form, a JSON document) could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    TooLarge(usize),
    Unreadable,
}

impl<'a> Request<'a> {
    /// Reads the whole body when it is at most `limit` bytes (forms and JSON, never uploads).
    pub fn read_small_body(&mut self, limit: usize) -> Result<Vec<u8>, BodyError> {
        let declared = self
            .header("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(BodyError::TooLarge(limit));
        }
        let mut buf = Vec::new();
        (&mut self.body)
            .take(limit as u64 + 1)
            .read_to_end(&mut buf)
            .map_err(|_| BodyError::Unreadable)?;
        if buf.len() > limit {
            return Err(BodyError::TooLarge(limit));
        }
        Ok(buf)
    }

    /// The query string's pairs.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query().map(parse_form).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let f = parse_form("a=1&b=x+y%21&c&=z&bad=%ff&a=2");
        assert_eq!(form_value(&f, "a"), Some("1"));
        assert_eq!(form_value(&f, "b"), Some("x y!"));
        assert_eq!(form_value(&f, "c"), Some(""));
        assert_eq!(form_value(&f, "bad"), None);
        let mut rq = Request::fake("POST", "/?q=1", &[("content-length", "5")]);
        rq.body = Box::new(io::Cursor::new(b"hello".to_vec()));
        assert_eq!(rq.read_small_body(5).unwrap(), b"hello");
        let mut rq = Request::fake("POST", "/", &[]);
        rq.body = Box::new(io::Cursor::new(vec![0u8; 10]));
        assert_eq!(rq.read_small_body(5), Err(BodyError::TooLarge(5)));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b").unwrap(), b"a b");
        assert_eq!(percent_decode("%2e%2E").unwrap(), b"..");
        assert_eq!(percent_decode("%c0%ae").unwrap(), vec![0xc0, 0xae]);
        assert_eq!(percent_decode("%252e").unwrap(), b"%2e");
        assert!(percent_decode("%").is_none());
        assert!(percent_decode("%2").is_none());
        assert!(percent_decode("%zz").is_none());
    }

    #[test]
    fn request_accessors() {
        let rq = Request::fake("GET", "/a/b?x=1", &[("Host", "blog.localhost")]);
        assert_eq!(rq.raw_path(), "/a/b");
        assert_eq!(rq.query(), Some("x=1"));
        assert_eq!(rq.header("host"), Some("blog.localhost"));
    }
}
