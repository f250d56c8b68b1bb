//! Matching one `_headers` path pattern against a request path, in time linear in the
//! pattern: no backtracking. The parser allows one variable (`*` or `:name`) per path segment
//! and one `*` per path, and `:name` never spans a `/`; so where each variable ends is forced,
//! and there is only ever one way to match:
//!
//! - `:name` runs to its segment's end, less the literal text the pattern has after it in that
//!   segment (`/p/:x.html` on `/p/a.b.html`: `a.b`);
//! - `*` followed by text with `d` slashes (`/*/:id/edit`: 2) ends `d` slashes before the end
//!   of the path, less the text up to the first of them; with no text after it, at the end.
//!
//! That single match is the one the greedy regular expressions of Cloudflare's engine find.

use super::{Block, PatternPart};

impl Block {
    /// The texts the pattern's variables matched in `path`, or `None` when it does not match.
    /// `slashes`: where `path` has a `/` (see [`slashes`]).
    pub(super) fn captures<'p>(&self, path: &'p str, slashes: &[usize]) -> Option<Vec<&'p str>> {
        if let [PatternPart::Literal(exact)] = self.pattern.as_slice() {
            return (exact == path).then(Vec::new);
        }
        let spans = match_pattern(&self.pattern, path.as_bytes(), slashes)?;
        Some(
            spans
                .iter()
                .map(|&(start, end)| &path[start..end])
                .collect(),
        )
    }
}

/// The byte offsets of every `/` in `path`, ascending.
pub(super) fn slashes(path: &str) -> Vec<usize> {
    path.bytes()
        .enumerate()
        .filter(|&(_, b)| b == b'/')
        .map(|(at, _)| at)
        .collect()
}

/// Matches `pattern` against the whole of `path`: each variable's byte span.
fn match_pattern(
    pattern: &[PatternPart],
    path: &[u8],
    slashes: &[usize],
) -> Option<Vec<(usize, usize)>> {
    let mut spans = Vec::new();
    let mut at = 0;
    for (i, part) in pattern.iter().enumerate() {
        if let PatternPart::Literal(text) = part {
            if !path[at..].starts_with(text.as_bytes()) {
                return None;
            }
            at += text.len();
            continue;
        }
        let after = match pattern.get(i + 1) {
            None => None,
            Some(PatternPart::Literal(text)) => Some(text.as_bytes()),
            // Two variables in a row: the parser never makes this.
            Some(_) => return None,
        };
        let end = if *part == PatternPart::Placeholder {
            let segment_end = slashes
                .get(slashes.partition_point(|&s| s < at))
                .copied()
                .unwrap_or(path.len());
            let rest_of_segment = after.map_or(0, |text| head(text).len());
            let end = segment_end.checked_sub(rest_of_segment)?;
            if end <= at {
                return None; // `:name` takes one character or more
            }
            end
        } else {
            // The rest of the pattern holds `d` slashes, all in literal text: so does the rest
            // of the path, which starts with the text before the first of them.
            let end = match (after, slashes_in(&pattern[i + 1..])) {
                (None, _) => path.len(),
                (Some(text), 0) => path.len().checked_sub(text.len())?,
                (Some(text), d) => slashes
                    .len()
                    .checked_sub(d)
                    .and_then(|first| slashes[first].checked_sub(head(text).len()))?,
            };
            if end < at {
                return None;
            }
            end
        };
        spans.push((at, end));
        at = end;
    }
    (at == path.len()).then_some(spans)
}

/// `text` up to its first `/` (all of it when it has none).
fn head(text: &[u8]) -> &[u8] {
    let cut = text.iter().position(|&b| b == b'/').unwrap_or(text.len());
    &text[..cut]
}

/// The number of `/` in the literal parts of `parts`.
fn slashes_in(parts: &[PatternPart]) -> usize {
    parts
        .iter()
        .map(|p| match p {
            PatternPart::Literal(text) => text.bytes().filter(|&b| b == b'/').count(),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;
    use std::time::{Duration, Instant};

    /// The backtracking matcher this module replaced (greedy, longest first), kept as the
    /// reference the linear one must agree with.
    fn reference(
        pattern: &[PatternPart],
        path: &[u8],
        part: usize,
        position: usize,
        spans: &mut Vec<(usize, usize)>,
    ) -> bool {
        let rest = &path[position..];
        let (shortest, longest) = match pattern.get(part) {
            None => return rest.is_empty(),
            Some(PatternPart::Literal(text)) => {
                return rest.starts_with(text.as_bytes())
                    && reference(pattern, path, part + 1, position + text.len(), spans);
            }
            Some(PatternPart::Placeholder) => (
                1,
                rest.iter().position(|&b| b == b'/').unwrap_or(rest.len()),
            ),
            Some(PatternPart::Splat) => (0, rest.len()),
        };
        for length in (shortest..=longest).rev() {
            spans.push((position, position + length));
            if reference(pattern, path, part + 1, position + length, spans) {
                return true;
            }
            spans.pop();
        }
        false
    }

    #[test]
    fn the_linear_matcher_finds_what_backtracking_found() {
        let mut state: u64 = 0x51_7CC1_B727_220A;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let pattern_pieces = ["/", "*", ":a", ":b", ":c", "a", "b", ".", "/a", "-", "ab"];
        let path_pieces = ["/", "a", "b", ".", "ab", "/a", "-", "ba", "//"];
        let mut compared = 0;
        for _ in 0..20_000 {
            let mut line = String::from("/");
            for _ in 0..next() % 7 {
                line.push_str(pattern_pieces[(next() % pattern_pieces.len() as u64) as usize]);
            }
            let Ok((block, _)) = parse_path_line(&line) else {
                continue;
            };
            for _ in 0..8 {
                let mut path = String::from("/");
                for _ in 0..next() % 9 {
                    path.push_str(path_pieces[(next() % path_pieces.len() as u64) as usize]);
                }
                let mut expected = Vec::new();
                let found = reference(&block.pattern, path.as_bytes(), 0, 0, &mut expected);
                let got = match_pattern(&block.pattern, path.as_bytes(), &slashes(&path));
                assert_eq!(got, found.then_some(expected), "{line} on {path}");
                compared += usize::from(found);
            }
        }
        assert!(compared > 1000, "only {compared} matches compared");
    }

    #[test]
    fn blocks_tried_for_every_path_are_capped() {
        let mut text = String::new();
        for n in 0..MAX_UNINDEXED_BLOCKS / 2 {
            text.push_str(&format!("/*.x{n}\n  X: 1\n/:lang/p{n}\n  X: 1\n"));
        }
        text.push_str("/fixed/*\n  X: 1\n/img*\n  X: 1\n");
        let error = HeaderRules::parse(&text).unwrap_err();
        assert_eq!(error.line, 2 * MAX_UNINDEXED_BLOCKS + 3, "{error}");
        assert!(error.message.contains("more than 100 paths"), "{error}");
    }

    #[test]
    fn a_long_path_gets_nothing_and_a_full_table_answers_quickly() {
        // The most blocks a file may hold, none matching, each doing as much work as it can:
        // all of them share the request's first segment or match any first segment.
        let mut text = String::new();
        for n in 0..MAX_UNINDEXED_BLOCKS {
            text.push_str(&format!("/*/:x/y{n}\n  X: :x\n"));
        }
        for n in 0..MAX_BLOCKS - MAX_UNINDEXED_BLOCKS {
            text.push_str(&format!("/a/*/:x/y{n}.html\n  X: :x\n"));
        }
        let rules = HeaderRules::parse(&text).unwrap();
        let path = format!("/a/{}c", "b/".repeat(MAX_REQUEST_PATH_BYTES / 2 - 3));
        assert!(path.len() <= MAX_REQUEST_PATH_BYTES);
        let started = Instant::now();
        for _ in 0..20 {
            assert!(rules.for_path(&path).is_empty());
        }
        // Backtracking took about a second a request here; now a few ms unoptimised.
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?} for 20 requests",
            started.elapsed()
        );
        assert_eq!(
            rules.for_path("/a/b/c/y7.html"),
            [("X".to_string(), "c".to_string())]
        );
        let long = format!("/a/{}/c/y7.html", "b".repeat(MAX_REQUEST_PATH_BYTES));
        assert!(rules.for_path(&long).is_empty());
    }
}
