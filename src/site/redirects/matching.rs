//! Request-time matching of compiled `_redirects` rules: a raw path and query against one
//! rule, the captured text substituted into its destination (kept percent-encoded, unsafe
//! bytes escaped).

use super::*;

impl Rule {
    /// Names this rule captures: its placeholders, `splat`, its `key=:name` query values.
    pub(super) fn capture_names(&self) -> Vec<&str> {
        let placeholders = self.segments.iter().filter_map(|s| match s {
            Segment::Placeholder(name) => Some(name.as_str()),
            Segment::Literal(_) => None,
        });
        let splat = self.splat_prefix.as_ref().map(|_| "splat");
        let query = self.query_names.iter().map(String::as_str);
        placeholders.chain(splat).chain(query).collect()
    }

    /// True when this rule matches the request; `captures` then holds (name, raw text).
    pub(super) fn matches<'r>(
        &'r self,
        request: &RequestPath<'r>,
        query: &QueryMap<'r>,
        captures: &mut Vec<(&'r str, &'r str)>,
    ) -> bool {
        captures.clear();
        let count = request.decoded.len();
        let n = self.segments.len();
        if count < n || (count > n && self.splat_prefix.is_none()) {
            return false;
        }
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Literal(text) if request.decoded[i] != *text => return false,
                Segment::Literal(_) => {}
                Segment::Placeholder(name) => {
                    let raw = request.raw_segment(i);
                    if raw.is_empty() {
                        return false;
                    }
                    captures.push((name.as_str(), raw));
                }
            }
        }
        if let Some(prefix) = &self.splat_prefix {
            let splat = if count == n {
                // `/news/*` matches `/news` and `/news/` with an empty splat, as Netlify does.
                if !prefix.is_empty() {
                    return false;
                }
                ""
            } else {
                // The rest of the raw path, trailing slash included: `/news/a/` → `a/`.
                let Some(rest_of_segment) = strip_decoded_prefix(request.raw_segment(n), prefix)
                else {
                    return false;
                };
                &request.raw[request.spans[n].1 - rest_of_segment.len()..]
            };
            captures.push(("splat", splat));
        }
        for condition in &self.query {
            let Some(pair) = query.get(condition.key) else {
                return false;
            };
            match condition.value {
                QueryValue::Equals(id) if pair.value_id != Some(id) => return false,
                QueryValue::Equals(_) => {}
                QueryValue::Capture(_) if pair.raw_value.is_empty() => return false,
                QueryValue::Capture(n) => {
                    captures.push((self.query_names[n as usize].as_str(), pair.raw_value))
                }
            }
        }
        true
    }

    pub(super) fn redirect(&self, captures: &[(&str, &str)], query: Option<&str>) -> Redirect {
        let mut to = fill_placeholders(&self.to, captures);
        if !self.external {
            // A splat that starts with `/` or `\` (`/go//evil.com` for `/go/* /:splat`) must
            // not turn a site path into `//evil.com`, which browsers read as another host.
            let trimmed = to.trim_start_matches(['/', '\\']);
            if trimmed.len() + 1 < to.len() {
                to = format!("/{trimmed}");
            }
        }
        // Netlify "automatically passes on all query string parameters to destination paths"
        // (docs: redirect options, Query parameters). As in Netlify's dev server, not when `to`
        // has a query of its own. Nor, unlike that dev server, when the rule matched on query
        // parameters: their values are the rule's to place (`/store id=:id /blog/:id` gives
        // `/blog/7`, not `/blog/7?id=7`).
        if let Some(query) =
            query.filter(|q| !q.is_empty() && self.query.is_empty() && !self.to.contains('?'))
        {
            let at = to.find('#').unwrap_or(to.len());
            let mut with_query = String::with_capacity(to.len() + query.len() + 1);
            with_query.push_str(&to[..at]);
            with_query.push('?');
            with_query.push_str(&encode_unsafe_bytes(query, false));
            with_query.push_str(&to[at..]);
            to = with_query;
        }
        Redirect {
            status: self.status,
            to,
            external: self.external,
            line: self.line,
        }
    }
}

/// Replaces each `:name` in `template` whose name was captured; other colons (`https:`,
/// `:8080`, an unknown name) stay as written.
pub(super) fn fill_placeholders(template: &str, captures: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(colon) = rest.find(':') {
        out.push_str(&rest[..colon]);
        let after = &rest[colon + 1..];
        let name = &after[..after
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count()];
        match captures
            .iter()
            .find(|(n, _)| *n == name && !name.is_empty())
        {
            Some((_, value)) => out.push_str(&encode_unsafe_bytes(value, false)),
            None => {
                out.push(':');
                out.push_str(name);
            }
        }
        rest = &after[name.len()..];
    }
    out.push_str(rest);
    out
}

/// Percent-encodes what must never reach a `Location` header raw: control bytes (CR, LF),
/// space, non-ASCII, `"<>\`, and `#` unless `keep_hash` (a rule's own `#anchor`).
/// Already-encoded text (`%0d%0a`) passes through unchanged.
pub(super) fn encode_unsafe_bytes(text: &str, keep_hash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b <= b' '
            || b >= 0x7f
            || matches!(b, b'"' | b'<' | b'>' | b'\\')
            || (b == b'#' && !keep_hash)
        {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// A request path split into segments, each kept raw (by its span) and decoded.
pub(super) struct RequestPath<'a> {
    raw: &'a str,
    spans: Vec<(usize, usize)>,
    pub(super) decoded: Vec<Vec<u8>>,
}

impl<'a> RequestPath<'a> {
    pub(super) fn parse(raw: &'a str) -> Option<RequestPath<'a>> {
        let body = raw.strip_prefix('/')?;
        let body = body.strip_suffix('/').unwrap_or(body); // `/a/` matches as `/a`
        let mut spans = Vec::new();
        let mut decoded = Vec::new();
        if !body.is_empty() {
            let mut start = 1;
            for segment in body.split('/') {
                spans.push((start, start + segment.len()));
                decoded.push(percent_decode(segment, false));
                start += segment.len() + 1;
            }
        }
        Some(RequestPath {
            raw,
            spans,
            decoded,
        })
    }

    pub(super) fn raw_segment(&self, i: usize) -> &'a str {
        &self.raw[self.spans[i].0..self.spans[i].1]
    }
}

pub(super) struct QueryPair<'a> {
    /// The decoded value's number among the values conditions want; `None` for a value no
    /// condition wants, and for a bare `?key` (Netlify's `key=` matches `?key=`, not `?key`).
    value_id: Option<u32>,
    raw_value: &'a str,
}

/// A request's query as the rules see it: the pairs whose key some condition names, by that
/// key's number (see [`QueryTables`]), sorted; a repeated key: the first wins. Only the
/// first [`MAX_QUERY_PAIRS`] pairs count, so a long query costs no more than a short one.
#[derive(Default)]
pub(super) struct QueryMap<'a> {
    pairs: Vec<(u32, QueryPair<'a>)>,
}

impl<'a> QueryMap<'a> {
    /// `a=1&b=x+y` → pairs, decoded as forms are (`+` is a space).
    pub(super) fn parse(query: &'a str, tables: &QueryTables) -> QueryMap<'a> {
        let mut pairs = Vec::new();
        for pair in query
            .split('&')
            .filter(|p| !p.is_empty())
            .take(MAX_QUERY_PAIRS)
        {
            let (key, value) = match pair.split_once('=') {
                Some((key, value)) => (key, Some(value)),
                None => (pair, None),
            };
            let Some(&id) = tables.keys.get(&percent_decode(key, true)) else {
                continue;
            };
            let pair = QueryPair {
                value_id: value.and_then(|v| tables.values.get(&percent_decode(v, true)).copied()),
                raw_value: value.unwrap_or(""),
            };
            pairs.push((id, pair));
        }
        // Stable: among pairs of one key, the first in the query stays first.
        pairs.sort_by_key(|(id, _)| *id);
        pairs.dedup_by_key(|(id, _)| *id);
        QueryMap { pairs }
    }

    fn get(&self, key_id: u32) -> Option<&QueryPair<'a>> {
        let at = self
            .pairs
            .binary_search_by_key(&key_id, |(id, _)| *id)
            .ok()?;
        Some(&self.pairs[at].1)
    }
}

/// Bytes of `text` with `%XX` decoded (a `%` not followed by two hex digits stays as is).
pub(super) fn percent_decode(text: &str, plus_is_space: bool) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some((byte, used)) = decode_one(&bytes[at..], plus_is_space) {
        out.push(byte);
        at += used;
    }
    out
}

/// The first decoded byte of `bytes` and how many raw bytes it took; `None` at the end.
pub(super) fn decode_one(bytes: &[u8], plus_is_space: bool) -> Option<(u8, usize)> {
    let hex = |b: &u8| (*b as char).to_digit(16);
    Some(match bytes {
        [b'%', high, low, ..] if hex(high).is_some() && hex(low).is_some() => {
            ((hex(high)? * 16 + hex(low)?) as u8, 3)
        }
        [b'+', ..] if plus_is_space => (b' ', 1),
        [byte, ..] => (*byte, 1),
        [] => return None,
    })
}

/// The rest of raw `segment` once its decoded start equals `prefix` (`/blog*` on `blog-2`).
pub(super) fn strip_decoded_prefix<'a>(segment: &'a str, prefix: &[u8]) -> Option<&'a str> {
    let mut at = 0;
    for &expected in prefix {
        let (byte, used) = decode_one(&segment.as_bytes()[at..], false)?;
        if byte != expected {
            return None;
        }
        at += used;
    }
    segment.get(at..)
}
