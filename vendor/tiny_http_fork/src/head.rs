//! cc-server patch: the request head, parsed strictly by RFC 9112 (PATCHES.md, 8).
//!
//! The request line and header fields are split by `httparse` (hyper's parser); what a
//! request means for framing is decided here, and anything ambiguous is refused rather than
//! guessed: a version other than HTTP/1.0 or 1.1 (505), more than one `Host`, a
//! `Content-Length` that is not one plain number, two of them, or one beside
//! `Transfer-Encoding` (400), a transfer coding other than `chunked` (501). Pure: bytes in,
//! a `Head` or an error status out.

use crate::config::ConnectionLimits;
use crate::{HTTPVersion, Header, Headers, Method};

/// How the request's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    None,
    Length(u64),
    Chunked,
}

#[derive(Debug)]
pub(crate) struct Head {
    /// Bytes of the head, blank line included.
    pub len: usize,
    pub method: Method,
    pub target: String,
    pub version: HTTPVersion,
    pub headers: Headers,
    pub framing: Framing,
    pub content_length: Option<usize>,
    pub keep_alive: bool,
    pub upgrade: bool,
    pub expect_continue: bool,
}

/// A head that must be refused, with the status to answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: u16,
    pub why: &'static str,
}

fn refuse(status: u16, why: &'static str) -> Refusal {
    Refusal { status, why }
}

/// `Ok(None)`: the head is not complete yet.
pub(crate) fn parse(buf: &[u8], limits: &ConnectionLimits) -> Result<Option<Head>, Refusal> {
    // Leading empty lines before a request line are allowed (RFC 9112 §2.2).
    let skip = buf
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(buf.len());
    let buf_after = &buf[skip..];
    // The usual limit fits on the stack: no allocation (and no zeroing of a large one) per
    // request.
    let wanted = limits.max_headers.max(1);
    let mut on_stack = [httparse::EMPTY_HEADER; 128];
    let mut on_heap = Vec::new();
    let fields: &mut [httparse::Header<'_>] = if wanted <= on_stack.len() {
        &mut on_stack[..wanted]
    } else {
        on_heap.resize(wanted, httparse::EMPTY_HEADER);
        &mut on_heap
    };
    let mut request = httparse::Request::new(fields);
    let len = match request.parse(buf_after) {
        Ok(httparse::Status::Complete(len)) => len + skip,
        Ok(httparse::Status::Partial) => {
            return match check_request_line(buf_after) {
                Some(refusal) => Err(refusal),
                None => Ok(None),
            };
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(refuse(431, "too many header fields"));
        }
        Err(httparse::Error::Version) => {
            return Err(refuse(505, "only HTTP/1.0 and HTTP/1.1 are served"));
        }
        Err(_) => return Err(refuse(400, "malformed request head")),
    };
    let version = match request.version {
        Some(0) => HTTPVersion(1, 0),
        Some(1) => HTTPVersion(1, 1),
        _ => return Err(refuse(505, "only HTTP/1.0 and HTTP/1.1 are served")),
    };
    let method: Method = request
        .method
        .unwrap_or_default()
        .parse()
        .map_err(|_| refuse(400, "malformed method"))?;
    let target = request.path.unwrap_or_default();
    if target.is_empty() || target.len() > limits.max_line_bytes {
        return Err(refuse(431, "the request target is too long"));
    }

    let mut headers = Vec::with_capacity(request.headers.len());
    let (mut hosts, mut lengths, mut codings) = (0, Vec::new(), Vec::new());
    let (mut close, mut keep_alive_token, mut upgrade, mut expect_continue) =
        (false, false, false, false);
    for field in request.headers.iter() {
        if field.name.len() + field.value.len() + 4 > limits.max_line_bytes {
            return Err(refuse(431, "a header field is too long"));
        }
        let value = std::str::from_utf8(field.value).unwrap_or("");
        let name = field.name;
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("content-length") {
            lengths.push(value);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            codings.push(value);
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                close |= token.eq_ignore_ascii_case("close");
                keep_alive_token |= token.eq_ignore_ascii_case("keep-alive");
                upgrade |= token.eq_ignore_ascii_case("upgrade");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            if value.trim().eq_ignore_ascii_case("100-continue") {
                expect_continue = true;
            } else {
                return Err(refuse(417, "only 'Expect: 100-continue' is understood"));
            }
        }
        let header = Header::from_bytes(name.as_bytes(), field.value)
            .map_err(|_| refuse(400, "a header field value is not allowed"))?;
        headers.push(header);
    }
    if hosts > 1 {
        return Err(refuse(400, "more than one Host header"));
    }
    if hosts == 0 && version == HTTPVersion(1, 1) {
        return Err(refuse(400, "an HTTP/1.1 request needs a Host header"));
    }

    let framing = match (lengths.as_slice(), codings.as_slice()) {
        ([], []) => Framing::None,
        ([length], []) => Framing::Length(parse_length(length)?),
        ([], _) if version == HTTPVersion(1, 0) => {
            return Err(refuse(400, "Transfer-Encoding is not allowed in HTTP/1.0"));
        }
        ([], [coding]) if coding.trim().eq_ignore_ascii_case("chunked") => Framing::Chunked,
        ([], _) => return Err(refuse(501, "only the chunked transfer coding is understood")),
        (_, []) => return Err(refuse(400, "more than one Content-Length header")),
        (_, _) => return Err(refuse(400, "both Content-Length and Transfer-Encoding")),
    };
    let content_length = match framing {
        Framing::Length(n) => usize::try_from(n).ok(),
        _ => None,
    };
    let keep_alive = match version {
        HTTPVersion(1, 0) => keep_alive_token && !close,
        _ => !close,
    };
    Ok(Some(Head {
        len,
        method,
        target: target.to_string(),
        version,
        headers: Headers::from(headers),
        framing,
        content_length,
        keep_alive,
        upgrade,
        expect_continue,
    }))
}

/// `Content-Length` is one or more digits and nothing else: no sign, no list, no spaces
/// inside.
fn parse_length(value: &str) -> Result<u64, Refusal> {
    let value = value.trim_matches([' ', '\t']);
    if value.is_empty() || value.len() > 18 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refuse(400, "Content-Length is not a plain number"));
    }
    value
        .parse()
        .map_err(|_| refuse(400, "Content-Length is not a plain number"))
}

/// A request line that is already complete can be judged before the headers arrive: an
/// unsupported version is answered at once, not after the head deadline.
fn check_request_line(buf: &[u8]) -> Option<Refusal> {
    let end = buf.iter().position(|b| *b == b'\n')?;
    let line = buf[..end].strip_suffix(b"\r").unwrap_or(&buf[..end]);
    let version = line.rsplit(|b| *b == b' ').next()?;
    match version {
        b"HTTP/1.0" | b"HTTP/1.1" => None,
        v if v.starts_with(b"HTTP/") => {
            Some(refuse(505, "only HTTP/1.0 and HTTP/1.1 are served"))
        }
        _ => Some(refuse(400, "malformed request line")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits::default()
    }

    fn head(s: &str) -> Result<Option<Head>, Refusal> {
        parse(s.as_bytes(), &limits())
    }

    fn status(s: &str) -> u16 {
        match head(s) {
            Err(r) => r.status,
            Ok(Some(_)) => 200,
            Ok(None) => 0,
        }
    }

    #[test]
    fn a_plain_request() {
        let h = head("GET /a?b HTTP/1.1\r\nHost: x\r\n\r\nrest").unwrap().unwrap();
        assert_eq!(h.len, "GET /a?b HTTP/1.1\r\nHost: x\r\n\r\n".len());
        assert_eq!(h.target, "/a?b");
        assert_eq!(h.framing, Framing::None);
        assert!(h.keep_alive);
    }

    #[test]
    fn framing_cases() {
        let cases = [
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 38\r\n\r\n", 200),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 38\r\nContent-Length: 38\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 38, 38\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +38\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 200),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
            ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\n\r\n", 400),
            ("GET / HTTP/1.0\r\n\r\n", 200),
            ("GET / HTTP/2.0\r\n", 505),
            ("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
            ("GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505),
            ("GET / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n", 417),
            ("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHo st: x\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: x", 0),
        ];
        for (raw, expected) in cases {
            assert_eq!(status(raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn keep_alive_by_version_and_connection() {
        let ka = |s: &str| head(s).unwrap().unwrap().keep_alive;
        assert!(ka("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(!ka("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
        assert!(!ka("GET / HTTP/1.0\r\n\r\n"));
        assert!(ka("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    }

    #[test]
    fn limits_hold() {
        let many: String = (0..200).map(|i| format!("X-{i}: y\r\n")).collect();
        assert_eq!(status(&format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n")), 431);
        let long = "a".repeat(20_000);
        assert_eq!(status(&format!("GET / HTTP/1.1\r\nHost: x\r\nX: {long}\r\n\r\n")), 431);
    }

    proptest::proptest! {
        /// Any bytes: an answer (a head, "not yet", or a refusal), never a panic, and a head
        /// never claims more bytes than it was given.
        #[test]
        fn any_bytes_get_an_answer(buf in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            if let Ok(Some(h)) = parse(&buf, &limits()) {
                proptest::prop_assert!(h.len <= buf.len());
            }
        }

        /// Heads that look almost right: random methods, targets, versions and fields.
        #[test]
        fn near_misses_get_an_answer(
            method in "[A-Z]{0,8}",
            target in "[ -~]{0,40}",
            version in "HTTP/[0-9]\\.[0-9]|[ -~]{0,10}",
            fields in proptest::collection::vec("[!-~]{0,12}:[ -~]{0,20}", 0..6),
        ) {
            let text = format!("{method} {target} {version}\r\n{}\r\n\r\n", fields.join("\r\n"));
            let _ = parse(text.as_bytes(), &limits());
        }

        /// A well-formed request with a length is framed by exactly that length.
        #[test]
        fn a_content_length_frames_the_body(n in 0u64..1_000_000_000, path in "/[a-z0-9/]{0,30}") {
            let text = format!("POST {path} HTTP/1.1\r\nHost: h\r\nContent-Length: {n}\r\n\r\n");
            let h = parse(text.as_bytes(), &limits()).unwrap().unwrap();
            proptest::prop_assert_eq!(h.framing, Framing::Length(n));
            proptest::prop_assert_eq!(h.len, text.len());
        }
    }
}
