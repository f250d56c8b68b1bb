//! A site's `_headers` file (Netlify / Cloudflare Pages syntax): parsed once at deploy time
//! into rules that answer, per request path, which extra response headers apply; and the
//! default Cache-Control of a served file. Owns only parsing and matching: never touches the
//! disk or HTTP types.
//!
//! ```text
//! # comment
//! /*
//!   X-Frame-Options: DENY
//! /blog/:slug
//!   X-Slug: :slug
//! /*.jpg
//!   ! X-Frame-Options
//! ```
//!
//! Semantics, where the two hosts differ, follow Cloudflare's documented ones (Netlify's parser
//! agrees on the syntax): every matching block applies in file order; a header set again is
//! joined to the earlier value with ", "; `! Name` removes what earlier blocks set; `:splat`
//! and `:name` in values take the matched text. Netlify's own rule is followed for slashes:
//! `/a` and `/a/` are the same path, and `/a/*` also matches `/a`.

use std::collections::HashMap;

/// Most path blocks a `_headers` file may hold (Cloudflare allows 100; sites built by tools
/// list one block per page, so the limit is generous but keeps a compiled table small).
pub const MAX_BLOCKS: usize = 10_000;
/// Most blocks whose path starts with `*` or `:name` (`/*`, `/:lang/*`, `/*.js`): no index
/// narrows them down, so each is tried for every request. Cloudflare allows 100 rules in all.
pub const MAX_UNINDEXED_BLOCKS: usize = 100;
/// Longer request paths get no header from the file (the site answers them 414 before that).
pub const MAX_REQUEST_PATH_BYTES: usize = 4 * 1024;
/// Most header and `! Name` lines under one path.
pub const MAX_HEADERS_PER_BLOCK: usize = 100;
/// Longest header value, in bytes: beyond this, clients and proxies start refusing responses.
pub const MAX_VALUE_BYTES: usize = 8 * 1024;
/// Largest `_headers` file, in bytes.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
/// Longest path on a path line (Cloudflare's line limit): keeps matching shallow and quick.
pub const MAX_PATH_BYTES: usize = 2000;

/// Browsers may keep the file but must ask (cheaply, with its ETag) before each use.
pub const REVALIDATE: &str = "public, max-age=0, must-revalidate";
/// Browsers may keep the file a year without asking: its name changes when its bytes do.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Headers the server itself decides, which a site's file must not set: the framing ones
/// (`http::FRAMING_HEADERS`: a wrong Content-Length or Transfer-Encoding would corrupt the
/// response) and these.
const SERVER_DECIDES: [&str; 3] = ["host", "content-encoding", "content-range"];

fn server_owned() -> impl Iterator<Item = &'static str> {
    crate::http::FRAMING_HEADERS
        .iter()
        .chain(SERVER_DECIDES.iter())
        .copied()
}

/// Why a `_headers` file was refused; `line` is 1-based (0: the file as a whole).
pub type ParseError = super::line_error::LineError;

/// What one request path gets from the file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ResolvedHeaders {
    /// Names as first written, in file order, repeats joined with ", " (except `Set-Cookie`,
    /// which cannot be joined and comes once per value).
    pub set: Vec<(String, String)>,
    /// Names a matching `! Name` removed and no later block set again: the server should drop
    /// its own header of that name too, as Cloudflare does.
    pub detached: Vec<String>,
}

/// A compiled `_headers` file.
#[derive(Debug, Default)]
pub struct HeaderRules {
    blocks: Vec<Block>,
    /// Blocks whose path has no `*` or `:name`, by normalized path.
    exact: HashMap<String, Vec<usize>>,
    /// Pattern blocks by their first path segment when it is plain text (`/assets/*`).
    by_first_segment: HashMap<String, Vec<usize>>,
    /// Pattern blocks that may match any first segment (`/*`, `/:lang/…`, `/*.js`).
    unindexed: Vec<usize>,
}

#[derive(Debug)]
struct Block {
    pattern: Vec<PatternPart>,
    /// `/dir/*`: also matches `/dir` itself (Netlify).
    splat_covers_parent: bool,
    actions: Vec<Action>,
}

#[derive(Debug, PartialEq, Eq)]
enum PatternPart {
    Literal(String),
    /// `:name`: one or more characters other than `/`.
    Placeholder,
    /// `*`: any characters, `/` included, possibly none.
    Splat,
}

#[derive(Debug)]
enum Action {
    Set { name: String, value: Vec<ValuePart> },
    Detach { name: String },
}

#[derive(Debug)]
enum ValuePart {
    Text(String),
    /// The text matched by the pattern's n-th variable.
    Capture(usize),
}

impl HeaderRules {
    /// Compiles a `_headers` file; the error names the first bad line and what to do about it.
    pub fn parse(text: &str) -> Result<HeaderRules, ParseError> {
        if text.len() > MAX_FILE_BYTES {
            return Err(error(
                0,
                format!(
                    "the file is over {} KiB; split or trim it",
                    MAX_FILE_BYTES / 1024
                ),
            ));
        }
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rules = HeaderRules::default();
        // The block being filled: its path line and the variable names `:name` values may use.
        let mut current: Option<(usize, Vec<String>)> = None;
        let mut unindexed = 0;
        for (index, raw_line) in text.lines().enumerate() {
            let line_number = index + 1;
            let fail = |message: String| error(line_number, message);
            if let Some(c) = raw_line.chars().find(|&c| c != '\t' && c.is_control()) {
                return Err(fail(format!(
                    "control character U+{:04X}; remove it (values are one line of text)",
                    c as u32
                )));
            }
            let line = raw_line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with('/') {
                rules.finish_block(current.take())?;
                if rules.blocks.len() == MAX_BLOCKS {
                    return Err(fail(format!(
                        "more than {MAX_BLOCKS} paths; merge blocks with `*` or `:name` patterns"
                    )));
                }
                let (block, names) = parse_path_line(line).map_err(fail)?;
                if block.index() == BlockIndex::None {
                    if unindexed == MAX_UNINDEXED_BLOCKS {
                        return Err(fail(format!(
                            "more than {MAX_UNINDEXED_BLOCKS} paths start with `*` or `:name`, \
                             and each of those is tried for every request (Cloudflare allows \
                             {MAX_UNINDEXED_BLOCKS} rules in all); start paths with a fixed \
                             segment (`/assets/*`) or merge blocks"
                        )));
                    }
                    unindexed += 1;
                }
                current = Some((line_number, names));
                rules.blocks.push(block);
                continue;
            }
            if is_url(line) {
                return Err(fail(
                    "rules for a host name are not supported; write the path alone, like /path"
                        .into(),
                ));
            }
            let Some((_, names)) = &current else {
                return Err(fail(
                    "a header line before any path; put a path line like `/*` above it".into(),
                ));
            };
            let action = parse_header_line(line, raw_line, names).map_err(fail)?;
            let block = rules.blocks.last_mut().expect("a block is open");
            if block.actions.len() == MAX_HEADERS_PER_BLOCK {
                return Err(fail(format!(
                    "more than {MAX_HEADERS_PER_BLOCK} headers under one path; split the block"
                )));
            }
            block.actions.push(action);
        }
        rules.finish_block(current)?;
        rules.index_blocks();
        Ok(rules)
    }

    /// True when no path has any rule: the file is absent, empty or only comments.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// The headers for a request path (raw, percent-encoded, no query), names as written, in
    /// file order, duplicates combined; detached names removed. A path over
    /// [`MAX_REQUEST_PATH_BYTES`] gets none.
    pub fn for_path(&self, path: &str) -> Vec<(String, String)> {
        self.resolve(path).set
    }

    /// [`HeaderRules::for_path`], plus the names detached for this path (see
    /// [`ResolvedHeaders::detached`]).
    pub fn resolve(&self, path: &str) -> ResolvedHeaders {
        let mut resolved = ResolvedHeaders::default();
        if self.blocks.is_empty() || path.len() > MAX_REQUEST_PATH_BYTES {
            return resolved;
        }
        let path = normalize_path(path);
        let with_slash = format!("{path}/");
        let path_slashes = matching::slashes(path);
        let mut with_slash_slashes = path_slashes.clone();
        with_slash_slashes.push(path.len());
        let first_segment = path.trim_start_matches('/').split('/').next().unwrap_or("");
        let mut candidates: Vec<usize> = (self.exact.get(path).into_iter())
            .chain(self.by_first_segment.get(first_segment))
            .flatten()
            .chain(&self.unindexed)
            .copied()
            .collect();
        // Matches apply in file order, whichever table found them.
        candidates.sort_unstable();
        for index in candidates {
            let block = &self.blocks[index];
            let captures = block.captures(path, &path_slashes).or_else(|| {
                block
                    .splat_covers_parent
                    .then(|| block.captures(&with_slash, &with_slash_slashes))
                    .flatten()
            });
            if let Some(captures) = captures {
                block.apply(&captures, &mut resolved);
            }
        }
        resolved
    }

    fn finish_block(&self, block: Option<(usize, Vec<String>)>) -> Result<(), ParseError> {
        match (block, self.blocks.last()) {
            (Some((line, _)), Some(last)) if last.actions.is_empty() => Err(error(
                line,
                "this path has no header lines under it; indent `Name: value` lines below it (each path needs its own)".into(),
            )),
            _ => Ok(()),
        }
    }

    fn index_blocks(&mut self) {
        for (index, block) in self.blocks.iter().enumerate() {
            match block.index() {
                BlockIndex::Exact(path) => {
                    self.exact.entry(path.to_string()).or_default().push(index)
                }
                BlockIndex::FirstSegment(segment) => self
                    .by_first_segment
                    .entry(segment.to_string())
                    .or_default()
                    .push(index),
                BlockIndex::None => self.unindexed.push(index),
            }
        }
    }
}

/// Where a block is filed in [`HeaderRules`].
#[derive(Debug, PartialEq, Eq)]
enum BlockIndex<'a> {
    Exact(&'a str),
    FirstSegment(&'a str),
    /// Tried for every path.
    None,
}

impl Block {
    fn index(&self) -> BlockIndex<'_> {
        match self.pattern.as_slice() {
            [PatternPart::Literal(path)] => BlockIndex::Exact(path),
            [PatternPart::Literal(prefix), ..] => match prefix[1..].split_once('/') {
                Some((segment, _)) => BlockIndex::FirstSegment(segment),
                None => BlockIndex::None,
            },
            _ => BlockIndex::None,
        }
    }

    fn apply(&self, captures: &[&str], resolved: &mut ResolvedHeaders) {
        for action in &self.actions {
            match action {
                Action::Detach { name } => {
                    resolved
                        .set
                        .retain(|(set, _)| !set.eq_ignore_ascii_case(name));
                    if !resolved
                        .detached
                        .iter()
                        .any(|d| d.eq_ignore_ascii_case(name))
                    {
                        resolved.detached.push(name.clone());
                    }
                }
                Action::Set { name, value } => {
                    let value = render_value(value, captures);
                    resolved.detached.retain(|d| !d.eq_ignore_ascii_case(name));
                    let earlier = (!name.eq_ignore_ascii_case("set-cookie"))
                        .then(|| {
                            resolved
                                .set
                                .iter_mut()
                                .find(|(set, _)| set.eq_ignore_ascii_case(name))
                        })
                        .flatten();
                    match earlier {
                        Some((_, joined)) => {
                            joined.push_str(", ");
                            joined.push_str(&value);
                        }
                        None => resolved.set.push((name.clone(), value)),
                    }
                }
            }
        }
    }
}

/// Parses a path line (already trimmed) into a block without headers and its variable names
/// (`splat` for `*`), in pattern order.
fn parse_path_line(line: &str) -> Result<(Block, Vec<String>), String> {
    let mut fields = line.split_whitespace();
    let path = fields.next().unwrap_or_default();
    match fields.next() {
        Some(comment) if comment.starts_with('#') => {
            return Err("a comment must be on its own line; move it above the path".into());
        }
        Some(_) => {
            return Err(format!(
                "`{line}` looks like _redirects syntax; redirects go in the _redirects file, and a _headers path line holds only the path"
            ));
        }
        None => {}
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(format!(
            "the path is over {MAX_PATH_BYTES} bytes; shorten it with `*` or `:name`"
        ));
    }
    if path.contains(['?', '#']) {
        return Err("query strings and fragments are not matched; write the path alone".into());
    }
    let path = normalize_path(path);
    let mut pattern = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut literal = String::new();
    let mut segment_has_variable = false;
    let mut rest = path;
    while let Some(c) = rest.chars().next() {
        let after = &rest[c.len_utf8()..];
        let (name, part, tail) = match c {
            '*' => ("splat", PatternPart::Splat, after),
            ':' if after.starts_with(|next: char| next.is_ascii_alphabetic()) => {
                let (name, tail) = after.split_at(word_length(after));
                (name, PatternPart::Placeholder, tail)
            }
            _ => {
                segment_has_variable &= c != '/';
                literal.push_str(&percent_encode_unsafe(&rest[..c.len_utf8()]));
                rest = after;
                continue;
            }
        };
        rest = tail;
        if part == PatternPart::Placeholder && name == "splat" {
            return Err(
                "`:splat` names what `*` matched; give the placeholder another name".into(),
            );
        }
        if std::mem::replace(&mut segment_has_variable, true) {
            return Err(
                "one `*` or `:name` per path segment; put literal text or `/` between them".into(),
            );
        }
        if names.iter().any(|n| n == name) {
            return Err(match name {
                "splat" => {
                    "only one `*` per path (Cloudflare's rule); split it into two blocks".into()
                }
                _ => format!("`:{name}` appears twice in the path; name each placeholder once"),
            });
        }
        if !literal.is_empty() {
            pattern.push(PatternPart::Literal(std::mem::take(&mut literal)));
        }
        pattern.push(part);
        names.push(name.to_string());
    }
    if !literal.is_empty() {
        pattern.push(PatternPart::Literal(literal));
    }
    let splat_covers_parent = matches!(pattern.as_slice(),
        [.., PatternPart::Literal(before), PatternPart::Splat] if before.ends_with('/'));
    let block = Block {
        pattern,
        splat_covers_parent,
        actions: Vec::new(),
    };
    Ok((block, names))
}

/// Parses `Name: value` or `! Name` (trimmed `line`; `raw_line` only to say whether it was
/// indented). `names` are the block's variables, which the value may use as `:name`.
fn parse_header_line(line: &str, raw_line: &str, names: &[String]) -> Result<Action, String> {
    if let Some(detached) = line.strip_prefix('!') {
        let name = detached.trim();
        if name.contains(':') {
            return Err("a detach line is `! Name`, without a value".into());
        }
        check_name(name)?;
        return Ok(Action::Detach {
            name: name.to_string(),
        });
    }
    let Some((name, value)) = line.split_once(':') else {
        return Err(match raw_line.starts_with([' ', '\t']) {
            true => "expected `Name: value` (or `! Name` to remove a header)".into(),
            false => format!(
                "a path must start with `/`: write /{}",
                line.trim_start_matches('.')
            ),
        });
    };
    let (name, value) = (name.trim(), value.trim());
    check_name(name)?;
    if value.is_empty() {
        return Err(format!(
            "`{name}` has no value; write one, or `! {name}` to remove the header"
        ));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(format!(
            "the value is over {} KiB; shorten it",
            MAX_VALUE_BYTES / 1024
        ));
    }
    if name.eq_ignore_ascii_case("set-cookie") {
        let attributes = value.split(';').skip(1);
        if attributes
            .filter_map(|attribute| attribute.split('=').next())
            .any(|attribute| attribute.trim().eq_ignore_ascii_case("domain"))
        {
            return Err(
                "a Set-Cookie with `Domain=` would reach other hosts; remove the Domain attribute"
                    .into(),
            );
        }
    }
    Ok(Action::Set {
        name: name.to_string(),
        value: parse_value(value, names),
    })
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the header name is empty; write `Name: value`".into());
    }
    if let Some(bad) = name.chars().find(|&c| !is_tchar(c)) {
        return Err(format!(
            "`{name}` is not a header name (`{bad}` is not allowed); use letters, digits and `-`"
        ));
    }
    if server_owned().any(|owned| name.eq_ignore_ascii_case(owned)) {
        return Err(format!(
            "`{name}` is set by the server and cannot be set here; remove this line"
        ));
    }
    Ok(())
}

/// RFC 9110 §5.6.2 `tchar`: the characters of a header name.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Splits a value into text and `:name` references to the block's variables; a `:word` that
/// is not one of them (or longer, `:slugs` for `:slug`) stays text.
fn parse_value(value: &str, names: &[String]) -> Vec<ValuePart> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut rest = value;
    while let Some(colon) = rest.find(':') {
        let after = &rest[colon + 1..];
        let word = &after[..word_length(after)];
        text.push_str(&rest[..colon]);
        match names.iter().position(|name| name == word) {
            Some(variable) => {
                if !text.is_empty() {
                    parts.push(ValuePart::Text(std::mem::take(&mut text)));
                }
                parts.push(ValuePart::Capture(variable));
                rest = &after[word.len()..];
            }
            None => {
                text.push(':');
                rest = after;
            }
        }
    }
    text.push_str(rest);
    if !text.is_empty() || parts.is_empty() {
        parts.push(ValuePart::Text(text));
    }
    parts
}

/// Length of the `[A-Za-z0-9_]*` run `text` starts with (a `:name` after its colon).
fn word_length(text: &str) -> usize {
    text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len())
}

fn render_value(parts: &[ValuePart], captures: &[&str]) -> String {
    let mut value = String::new();
    for part in parts {
        match part {
            ValuePart::Text(text) => value.push_str(text),
            // The path is untrusted: anything that could end the header line, smuggle markup,
            // add a cookie attribute (`;`) or another list item (`,`) stays percent-encoded.
            ValuePart::Capture(n) => {
                let captured = percent_encode_unsafe(captures.get(*n).copied().unwrap_or(""));
                value.push_str(&captured.replace(';', "%3B").replace(',', "%2C"));
            }
        }
    }
    value
}

/// `/a/` and `/a` are one path (Netlify); `/` stays `/`.
fn normalize_path(path: &str) -> &str {
    match path.strip_suffix('/') {
        Some(stripped) if !stripped.is_empty() => stripped,
        _ => path,
    }
}

/// Percent-encodes what a browser would never send raw in a path — controls, space, non-ASCII,
/// `"<>`{}` — so a rule written `/café` matches the `/caf%C3%A9` a browser requests, and a
/// captured path segment cannot break a header value.
fn percent_encode_unsafe(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte <= b' ' || byte >= 0x7f || b"\"<>`{}".contains(&byte) {
            encoded.push_str(&format!("%{byte:02X}"));
        } else {
            encoded.push(byte as char);
        }
    }
    encoded
}

/// `https://host/path` (or any `scheme://`), which Cloudflare accepts as a per-host rule.
fn is_url(line: &str) -> bool {
    line.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    })
}

fn error(line: usize, message: String) -> ParseError {
    ParseError {
        file: "_headers",
        line,
        message,
    }
}

/// True when a file name carries a bundler's content hash, so the file can be cached for a year.
///
/// The hash is a component between the stem and the extension, after `.` or `-`:
/// - lowercase hex of 8+ characters with a digit and a letter: webpack `[contenthash]` (20, or
///   `:8`), Parcel (8), Angular and Next.js (16), Rails, Hugo, Phoenix (32–64). As the whole stem
///   (`3f9a….css`, webpack asset modules, Next.js CSS) only from 16 characters on, since short
///   hex-looking stems are often names;
/// - exactly 8 characters of `[A-Za-z0-9_-]` that do not read as a word: Rollup/Vite (base64url,
///   `index-BXk2ac9f.js`) and esbuild (base32, `app-ZJXO2PXU.js`).
///
/// Wrongly caching a changed file for a year is far worse than one more revalidation (a cheap
/// 304), so the rule leans to "no": all-digit pieces (dates, versions), lowercase words,
/// ALL-CAPS words, CamelCase words (`Inter-SemiBold.woff2`, `icon-LinkedIn.svg`) and a word
/// with digits at one end (`photo123`) never count. The price: hashes that happen to look like
/// such words (`DiwrgTda`, letters-only esbuild hashes, about one in five) are revalidated.
pub fn has_content_hash(file_name: &str) -> bool {
    let name = file_name.rsplit('/').next().unwrap_or(file_name);
    let Some((stem, extension)) = name.rsplit_once('.') else {
        return false;
    };
    if stem.is_empty() || extension.is_empty() {
        return false;
    }
    stem.split('.').enumerate().any(|(index, component)| {
        let bytes = component.as_bytes();
        let whole = match index {
            0 => bytes.len() >= 16 && is_hex_hash(bytes),
            _ => is_hex_hash(bytes) || is_short_hash(bytes),
        };
        // Hex holds no `-`, so after the last one; Rollup's 8 characters may hold `-` themselves.
        let after_dash = component
            .rsplit_once('-')
            .is_some_and(|(_, last)| is_hex_hash(last.as_bytes()));
        let last_eight = bytes.len() > 9
            && bytes[bytes.len() - 9] == b'-'
            && is_short_hash(&bytes[bytes.len() - 8..]);
        whole || after_dash || last_eight
    })
}

fn is_hex_hash(piece: &[u8]) -> bool {
    piece.len() >= 8
        && piece
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        && piece.iter().any(u8::is_ascii_digit)
        && piece.iter().any(u8::is_ascii_alphabetic)
}

fn is_short_hash(piece: &[u8]) -> bool {
    piece.len() == 8
        && piece
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && !reads_as_word(piece)
}

/// A word, possibly CamelCase or ALL-CAPS, with at most a run of digits at one end; or digits.
fn reads_as_word(piece: &[u8]) -> bool {
    let trailing = piece
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let letters = &piece[..piece.len() - trailing];
    let leading = letters.iter().take_while(|b| b.is_ascii_digit()).count();
    let letters = &letters[leading..];
    if !letters.iter().all(u8::is_ascii_alphabetic) {
        return false;
    }
    let all_upper = letters.iter().all(u8::is_ascii_uppercase);
    // CamelCase (and all-lowercase): every capital starts a hump, followed by a lowercase letter.
    let humps = (0..letters.len()).all(|i| {
        !letters[i].is_ascii_uppercase() || letters.get(i + 1).is_some_and(u8::is_ascii_lowercase)
    });
    all_upper || humps
}

/// The default Cache-Control for a served file (before _headers overrides).
pub fn default_cache_control(file_name: &str) -> &'static str {
    let name = file_name.rsplit('/').next().unwrap_or(file_name);
    // `page.html`, and `page.html.gz` too: a page keeps its URL, so it is never immutable.
    let is_html = name
        .split('.')
        .skip(1)
        .any(|part| part.eq_ignore_ascii_case("html") || part.eq_ignore_ascii_case("htm"));
    match !is_html && has_content_hash(name) {
        true => IMMUTABLE,
        false => REVALIDATE,
    }
}

mod matching;

#[cfg(test)]
mod tests;
