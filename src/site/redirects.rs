//! A site's Netlify-style `_redirects` file: parsed once at deploy time into a lookup table,
//! matched against request paths at request time.
//!
//! This module owns the rule syntax (one rule a line, `from [key=value …] to [status][!]`,
//! as Netlify's netlify-redirect-parser reads it), the refusal of every rule this host cannot
//! honour (proxies, country/language/role/cookie conditions, host-name rules: applying them to
//! everyone would be wrong, so the deploy fails with the line number instead), and matching.
//! It never touches the disk and knows nothing of HTTP types: it is handed text, a raw path and
//! a raw query string, and gives back a status and a destination for the caller to act on.
//!
//! Matching follows Netlify's documentation and redirector tests: first matching rule in file
//! order wins; paths compare case-sensitively (Netlify: "Paths are case-sensitive") after
//! percent-decoding; `/a` and `/a/` match each other; `*` ends a path and matches the rest,
//! slashes included, or nothing (`/news/*` matches `/news`); `:name` matches one non-empty
//! segment. Captured text is substituted as received (still percent-encoded), so `%0d%0a`
//! in a request can never become a line break in a `Location` header.

use std::collections::HashMap;

/// Most rules one file may hold. Lookups do not slow down with the count (see [`Redirects`]),
/// but parsing, memory and a deploy's error report do; Netlify itself advises wildcards past
/// 10 000.
pub const MAX_RULES: usize = 50_000;
/// Longest line accepted, in bytes: longer is a generated file gone wrong, not a rule.
pub const MAX_LINE_BYTES: usize = 8 * 1024;
/// Largest file accepted, in bytes (4 MiB: 50 000 rules of ~80 bytes fit with room to spare).
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;
/// Most `key=value` query conditions one rule may have: each is checked for every request
/// the rule's path matches.
pub const MAX_QUERY_CONDITIONS: usize = 10;
/// Most rules whose path starts with a `:placeholder` or a splat (`/:lang/*`, `/*`, `/blog*`):
/// no index narrows them down, so every request tries each of them.
pub const MAX_UNINDEXED_RULES: usize = 1000;
/// Longer request paths match no rule: no page needs one, and each rule compares segments.
pub const MAX_REQUEST_PATH_BYTES: usize = 4 * 1024;
/// Only the request's first this many `key=value` pairs are looked at for query conditions.
pub const MAX_QUERY_PAIRS: usize = 100;

/// Statuses that send the client a `Location`.
const REDIRECT_STATUSES: [u16; 5] = [301, 302, 303, 307, 308];
/// Statuses that serve the destination (a file of this site) under the request's own URL.
/// Netlify's parser accepts any integer and treats a non-3xx code as a rewrite with that
/// status; 410 and 451 are the ones with a use for a static page besides 200 and 404.
const CONTENT_STATUSES: [u16; 4] = [200, 404, 410, 451];

/// Why a `_redirects` file was refused; `line` is 1-based, 0 for the file as a whole.
pub type ParseError = super::line_error::LineError;

/// What a matching rule says to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// 301, 302, 303, 307, 308 (send `Location: to`), or 200, 404, 410, 451 (serve the site
    /// file at `to`'s path with this status, the address bar unchanged).
    pub status: u16,
    /// The destination, `:splat` and `:placeholders` filled in with the raw captured text, the
    /// request's query string appended where Netlify passes it on, `#anchor` kept. Never starts
    /// with `//` or `/\`. For a rewrite the caller uses the part before `?`/`#` as the path.
    pub to: String,
    /// `to` is an absolute `http(s)://` URL (another site); only ever with a 3xx status.
    pub external: bool,
    /// The rule's line in the file, for logs.
    pub line: usize,
}

/// One `from` path segment.
enum Segment {
    /// Must equal the request's segment once both are percent-decoded.
    Literal(Vec<u8>),
    /// `:name`: any one non-empty segment, captured raw.
    Placeholder(String),
}

/// One `key=value` field between `from` and `to`.
/// Keys and values are numbers (see [`QueryTables`]): a condition is checked by comparing
/// numbers, and the conditions of a rule sit in a few bytes next to each other.
#[derive(Clone, Copy)]
struct QueryCondition {
    key: u32,
    value: QueryValue,
}

#[derive(Clone, Copy)]
enum QueryValue {
    /// The request's (decoded) value must be exactly the text with this number.
    Equals(u32),
    /// `key=:name`: any non-empty value, captured raw; `name` is `Rule::query_names[n]`.
    Capture(u32),
}

/// The decoded keys and values query conditions name, numbered in order of appearance.
#[derive(Default)]
struct QueryTables {
    keys: HashMap<Vec<u8>, u32>,
    values: HashMap<Vec<u8>, u32>,
}

fn number(table: &mut HashMap<Vec<u8>, u32>, text: Vec<u8>) -> u32 {
    let next = table.len() as u32;
    *table.entry(text).or_insert(next)
}

struct Rule {
    line: usize,
    segments: Vec<Segment>,
    /// `Some(prefix)` when `from` ends in a splat: `/news/*` has prefix "" after the "news"
    /// segment; `/news*` has prefix "news" and no segments.
    splat_prefix: Option<Vec<u8>>,
    query: Vec<QueryCondition>,
    /// The names `key=:name` conditions capture, in order.
    query_names: Vec<String>,
    to: String,
    status: u16,
    forced: bool,
    external: bool,
}

/// Rule indexes (into `Redirects::rules`, ascending = file order) that can match a path, so
/// a lookup tries only the rules sharing the request's first segment plus those starting with
/// a placeholder or splat, never the whole table.
#[derive(Default)]
struct RuleIndex {
    /// Placeholder- and splat-free paths, by their decoded segments.
    exact: HashMap<Vec<Vec<u8>>, Vec<usize>>,
    /// Patterns whose first segment is literal, by that segment.
    by_first_segment: HashMap<Vec<u8>, Vec<usize>>,
    /// Patterns starting with a placeholder or splat (`/:lang/*`, `/*`): tried for every path.
    wildcard: Vec<usize>,
}

/// A compiled `_redirects` file.
pub struct Redirects {
    rules: Vec<Rule>,
    unforced: RuleIndex,
    forced: RuleIndex,
    /// A request's query is parsed once into these numbers, so that a condition costs a
    /// lookup in a short sorted list.
    query: QueryTables,
    /// Rules in the `wildcard` lists of both indexes.
    unindexed: usize,
}

impl Redirects {
    /// Parses a whole file; the first line that cannot be honoured refuses the file.
    /// Limits: [`MAX_FILE_BYTES`], [`MAX_LINE_BYTES`], [`MAX_RULES`].
    pub fn parse(text: &str) -> Result<Redirects, ParseError> {
        if text.len() > MAX_FILE_BYTES {
            let message = format!("the file is {} bytes, over the 4 MiB limit", text.len());
            return Err(ParseError {
                file: "_redirects",
                line: 0,
                message,
            });
        }
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let lines: Vec<&str> = text.lines().collect();
        let mut table = Redirects {
            rules: Vec::new(),
            unforced: RuleIndex::default(),
            forced: RuleIndex::default(),
            query: QueryTables::default(),
            unindexed: 0,
        };
        for (index, line) in lines.iter().enumerate() {
            let fail = |message: String| ParseError {
                file: "_redirects",
                line: index + 1,
                message,
            };
            if line.len() > MAX_LINE_BYTES {
                return Err(fail(format!("line longer than {MAX_LINE_BYTES} bytes")));
            }
            let fields = rule_fields(line);
            if fields.is_empty() {
                continue;
            }
            if looks_like_header(&fields) {
                return Err(fail(HEADERS_MESSAGE.to_string()));
            }
            if fields.len() == 1
                && next_rule_line(&lines[index + 1..]).is_some_and(|f| looks_like_header(&f))
            {
                return Err(fail(format!(
                    "`{}` followed by {HEADERS_MESSAGE}",
                    fields[0]
                )));
            }
            if table.rules.len() == MAX_RULES {
                return Err(fail(format!(
                    "more than {MAX_RULES} rules; use splats or placeholders"
                )));
            }
            let rule = parse_rule(&fields, index + 1, &mut table.query).map_err(fail)?;
            if rule.index_key().is_none() {
                if table.unindexed == MAX_UNINDEXED_RULES {
                    return Err(fail(format!(
                        "more than {MAX_UNINDEXED_RULES} rules start with a `:placeholder` or \
                         `*`, and each of those is tried for every request; start rules with a \
                         fixed segment (`/blog/:slug`) or merge them into fewer patterns"
                    )));
                }
                table.unindexed += 1;
            }
            table.insert(rule);
        }
        Ok(table)
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first rule, in file order, among forced (`forced == true`) or among unforced rules,
    /// that matches. `path` is the raw request path (percent-encoded as received, no query);
    /// `query` the raw query string without '?'.
    /// A path over [`MAX_REQUEST_PATH_BYTES`] matches nothing; only the first
    /// [`MAX_QUERY_PAIRS`] pairs of the query are seen by query conditions.
    pub fn find(&self, path: &str, query: Option<&str>, forced: bool) -> Option<Redirect> {
        let index = if forced { &self.forced } else { &self.unforced };
        if index.is_empty() || path.len() > MAX_REQUEST_PATH_BYTES {
            return None; // the common case (no forced rules, or no file): no decoding at all
        }
        let request = RequestPath::parse(path)?;
        let exact = index.exact.get(&request.decoded[..]);
        let by_first = request
            .decoded
            .first()
            .and_then(|s| index.by_first_segment.get(s));
        let lists = [
            exact.map_or(&[][..], Vec::as_slice),
            by_first.map_or(&[][..], Vec::as_slice),
            &index.wildcard,
        ];
        let pairs = match self.query.keys.is_empty() {
            true => QueryMap::default(),
            false => QueryMap::parse(query.unwrap_or(""), &self.query),
        };
        let mut captures = Vec::new();
        // The three lists are disjoint and each ascending: merging them walks candidates in
        // file order, so the first match is the file's first matching rule.
        let mut heads = [0usize; 3];
        while let Some(list) = (0..3)
            .filter(|&l| heads[l] < lists[l].len())
            .min_by_key(|&l| lists[l][heads[l]])
        {
            let rule = &self.rules[lists[list][heads[list]]];
            heads[list] += 1;
            if rule.matches(&request, &pairs, &mut captures) {
                return Some(rule.redirect(&captures, query));
            }
        }
        None
    }

    fn insert(&mut self, rule: Rule) {
        let at = self.rules.len();
        let index = match rule.forced {
            true => &mut self.forced,
            false => &mut self.unforced,
        };
        match rule.index_key() {
            Some(IndexKey::Exact(path)) => index.exact.entry(path).or_default().push(at),
            Some(IndexKey::FirstSegment(first)) => {
                index.by_first_segment.entry(first).or_default().push(at)
            }
            None => index.wildcard.push(at),
        }
        self.rules.push(rule);
    }
}

/// Where a rule is filed in a [`RuleIndex`]; `None`: in `wildcard`.
enum IndexKey {
    Exact(Vec<Vec<u8>>),
    FirstSegment(Vec<u8>),
}

impl Rule {
    fn index_key(&self) -> Option<IndexKey> {
        let literals: Option<Vec<Vec<u8>>> = match self.splat_prefix {
            Some(_) => None,
            None => self
                .segments
                .iter()
                .map(|s| s.literal().map(<[u8]>::to_vec))
                .collect(),
        };
        match (literals, self.segments.first().and_then(Segment::literal)) {
            (Some(path), _) => Some(IndexKey::Exact(path)),
            (None, Some(first)) => Some(IndexKey::FirstSegment(first.to_vec())),
            (None, None) => None,
        }
    }
}

impl RuleIndex {
    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.by_first_segment.is_empty() && self.wildcard.is_empty()
    }
}

impl Segment {
    fn literal(&self) -> Option<&[u8]> {
        match self {
            Segment::Literal(text) => Some(text),
            Segment::Placeholder(_) => None,
        }
    }
}

const HEADERS_MESSAGE: &str =
    "`Name: value` lines: that is _headers syntax; put header rules in a file named _headers";

/// A line's fields up to an inline comment. As in Netlify's parser a comment starts at the
/// first whitespace-separated field beginning with `#`, so `/to#anchor` stays a destination.
fn rule_fields(line: &str) -> Vec<&str> {
    line.split_whitespace()
        .take_while(|f| !f.starts_with('#'))
        .collect()
}

fn next_rule_line<'a>(lines: &[&'a str]) -> Option<Vec<&'a str>> {
    lines.iter().map(|l| rule_fields(l)).find(|f| !f.is_empty())
}

/// `X-Frame-Options: DENY`: a header name ending in `:` where a path should be.
fn looks_like_header(fields: &[&str]) -> bool {
    fields[0].strip_suffix(':').is_some_and(|name| {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

fn parse_rule(fields: &[&str], line: usize, tables: &mut QueryTables) -> Result<Rule, String> {
    let from = fields[0];
    let (segments, splat_prefix) = parse_from(from)?;
    let rest = &fields[1..];
    let (query_fields, to, after_to) = match rest.first().and_then(|f| status_field(f)) {
        // Netlify's "forward" shorthand: `/app/* 200` means `/app/* /app/:splat 200`.
        Some(Err(bad_status)) => return Err(bad_status),
        Some(Ok((status, _))) if (200..300).contains(&status) && from.ends_with("/*") => {
            (&[][..], format!("{}/:splat", &from[..from.len() - 2]), rest)
        }
        Some(Ok(_)) => {
            return Err(
                "no destination: only a `/path/*` rule with status 200 may leave it out".into(),
            );
        }
        None => match rest
            .iter()
            .position(|f| f.starts_with('/') || is_absolute_url(f))
        {
            Some(at) => (&rest[..at], rest[at].to_string(), &rest[at + 1..]),
            None if rest.is_empty() => return Err("no destination after the path".into()),
            None => {
                return Err(format!(
                    "no destination: `{}` must start with `/`, `http://` or `https://`",
                    rest[0]
                ));
            }
        },
    };
    let status = after_to.first().and_then(|f| status_field(f)).transpose()?;
    let (status, forced, conditions) = match status {
        Some((status, forced)) => (status, forced, &after_to[1..]),
        None => (301, false, after_to),
    };
    if let Some(field) = conditions.first() {
        return Err(refuse_condition(field));
    }
    let external = check_destination(&to)?;
    if external && !REDIRECT_STATUSES.contains(&status) {
        return Err(format!(
            "status {status} with a full URL would proxy another site, which is not supported; \
             use 301 or 302 to redirect to it"
        ));
    }
    if query_fields.len() > MAX_QUERY_CONDITIONS {
        return Err(format!(
            "{} query conditions; a rule may have at most {MAX_QUERY_CONDITIONS}",
            query_fields.len()
        ));
    }
    let mut query = Vec::with_capacity(query_fields.len());
    let mut query_names = Vec::new();
    for field in query_fields {
        let (key, value) = parse_query_condition(field)?;
        let value = match value {
            ConditionValue::Equals(text) => QueryValue::Equals(number(&mut tables.values, text)),
            ConditionValue::Capture(name) => {
                query_names.push(name);
                QueryValue::Capture(query_names.len() as u32 - 1)
            }
        };
        let key = number(&mut tables.keys, key);
        query.push(QueryCondition { key, value });
    }
    let to = encode_unsafe_bytes(&to, true);
    let rule = Rule {
        line,
        segments,
        splat_prefix,
        query,
        query_names,
        to,
        status,
        forced,
        external,
    };
    let names = rule.capture_names();
    if let Some(twice) = names
        .iter()
        .enumerate()
        .find(|(i, n)| names[..*i].contains(n))
    {
        return Err(format!("`:{}` is captured twice", twice.1));
    }
    if rule.external {
        // `https://example.com:splat` with a splat of `@evil.com` would leave the site's hands.
        let after_scheme = rule.to.split_once("//").map_or("", |(_, rest)| rest);
        let host = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
        if names.iter().any(|name| host.contains(&format!(":{name}"))) {
            return Err("a placeholder cannot fill in the host name of an outside URL".into());
        }
    }
    Ok(rule)
}

/// `301`, `200!`: `None` when the field does not start with a digit (so it is something else).
fn status_field(field: &str) -> Option<Result<(u16, bool), String>> {
    if !field.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let (digits, forced) = match field.strip_suffix('!') {
        Some(digits) => (digits, true),
        None => (field, false),
    };
    let supported = "301, 302, 303, 307, 308, 200, 404, 410 or 451, optionally followed by `!`";
    Some(match digits.parse::<u16>() {
        Ok(s) if REDIRECT_STATUSES.contains(&s) || CONTENT_STATUSES.contains(&s) => Ok((s, forced)),
        Ok(s) if digits.len() == 3 => Err(format!("status {s} is not supported; use {supported}")),
        _ => Err(format!("bad status `{field}`; use {supported}")),
    })
}

/// Everything after the status is a Netlify condition; none can be honoured here.
fn refuse_condition(field: &str) -> String {
    let Some((key, _)) = field.split_once('=') else {
        return format!(
            "unexpected `{field}` after the destination (expected a status such as 301 or 200!)"
        );
    };
    match key.to_ascii_lowercase().as_str() {
        "country" | "language" | "role" | "cookie" => format!(
            "`{key}=` conditions are not supported: this server cannot tell, and applying \
             the rule to every visitor would be wrong"
        ),
        "sign" => "signed proxy rules (`Sign=`) are not supported".to_string(),
        _ => format!("unknown condition `{key}=`"),
    }
}

fn parse_from(from: &str) -> Result<(Vec<Segment>, Option<Vec<u8>>), String> {
    if is_absolute_url(from) {
        return Err("rules for a host name are not supported; use a path".into());
    }
    if !from.starts_with('/') || from.starts_with("//") {
        return Err(format!("the path `{from}` must start with a single `/`"));
    }
    if from.contains(['?', '#']) {
        return Err(
            "a path cannot hold `?` or `#`; write query conditions as `key=value` fields after it"
                .into(),
        );
    }
    if from.bytes().any(|b| b.is_ascii_control()) {
        return Err("the path has a control character".into());
    }
    let mut parts: Vec<&str> = from[1..].split('/').collect();
    if parts.last() == Some(&"") {
        parts.pop(); // `/a/` is `/a`; `/` has no segments
    }
    let mut segments = Vec::with_capacity(parts.len());
    let mut splat_prefix = None;
    for (i, part) in parts.iter().enumerate() {
        if let Some(star) = part.find('*') {
            if i + 1 != parts.len() || star + 1 != part.len() || part.starts_with(':') {
                return Err("a `*` splat may only end the path, as in /blog/*".into());
            }
            splat_prefix = Some(percent_decode(&part[..star], false));
        } else if let Some(name) = part.strip_prefix(':') {
            if !is_name(name) {
                return Err(format!(
                    "`{part}`: a placeholder is a whole segment, `:` then letters, digits or `_`"
                ));
            }
            segments.push(Segment::Placeholder(name.to_string()));
        } else {
            segments.push(Segment::Literal(percent_decode(part, false)));
        }
    }
    Ok((segments, splat_prefix))
}

/// A condition's value as written: text to equal (decoded), or `:name` to capture.
enum ConditionValue {
    Equals(Vec<u8>),
    Capture(String),
}

/// `key=value` → the decoded key and the value.
fn parse_query_condition(field: &str) -> Result<(Vec<u8>, ConditionValue), String> {
    let Some((key, value)) = field.split_once('=').filter(|(k, _)| !k.is_empty()) else {
        return Err(format!(
            "`{field}` before the destination must be a query condition `key=value`"
        ));
    };
    let value = match value.strip_prefix(':').filter(|n| is_name(n)) {
        Some(name) => ConditionValue::Capture(name.to_string()),
        None => ConditionValue::Equals(percent_decode(value, true)),
    };
    Ok((percent_decode(key, true), value))
}

/// Returns whether `to` is another site's URL.
fn check_destination(to: &str) -> Result<bool, String> {
    if to.bytes().any(|b| b.is_ascii_control()) {
        return Err("the destination has a control character".into());
    }
    if is_absolute_url(to) {
        let host = to.split_once("//").map_or("", |(_, rest)| {
            rest.split(['/', '?', '#']).next().unwrap_or("")
        });
        if host.is_empty() || host.contains('\\') {
            return Err(format!("malformed URL `{to}`: no host name"));
        }
        return Ok(true);
    }
    if to.starts_with("//") || to.starts_with("/\\") {
        return Err(format!(
            "`{to}` would send visitors to another host; write it as https://host/…"
        ));
    }
    match to.starts_with('/') {
        true => Ok(false),
        false => Err(format!(
            "the destination `{to}` must start with `/`, `http://` or `https://`"
        )),
    }
}

/// Netlify's `isUrl`: only these two schemes, lower case.
fn is_absolute_url(field: &str) -> bool {
    field.starts_with("http://") || field.starts_with("https://")
}

fn is_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

mod matching;

use matching::{QueryMap, RequestPath, encode_unsafe_bytes, percent_decode};

#[cfg(test)]
mod tests;
