//! Turning a request path into a file inside one site folder — the only way a site request
//! reaches the disk. A path is decoded once and rebuilt from plain segments; `..`, backslashes,
//! NUL, control characters and invalid UTF-8 are refused, dot-files and the site's own
//! configuration files at its top (`main.js`, `_redirects`, `_headers`, `AUTH`, `CNAME`,
//! `200.html`) are hidden, and the final file's real path must still lie inside the site's real folder (so a
//! symlink cannot lead out).

use std::fs::Metadata;
use std::path::{Path, PathBuf};

use crate::http::percent_decode;

/// The file a path names, if it may be served.
#[derive(Debug)]
pub enum Lookup {
    /// A regular file inside the site, with its metadata.
    File(PathBuf, Metadata),
    /// A folder asked for without its trailing slash: redirect so relative links work.
    AddSlash,
    /// Nothing servable there (missing, hidden, or outside the site).
    NotFound,
}

/// Why a path was refused outright (answered 400).
#[derive(Debug, PartialEq, Eq)]
pub struct BadPath(pub &'static str);

/// The decoded, checked segments of a request path (`/a/b%20c/` → `["a", "b c"]`).
/// `Ok(None)` when a segment is hidden (a dot-file): such paths are simply not found.
pub fn segments(raw_path: &str) -> Result<Option<Vec<String>>, BadPath> {
    if !raw_path.starts_with('/') {
        return Err(BadPath("the path must start with /"));
    }
    let bytes = percent_decode(raw_path).ok_or(BadPath("malformed percent-escape"))?;
    let decoded = String::from_utf8(bytes).map_err(|_| BadPath("the path is not UTF-8"))?;
    let mut out = Vec::new();
    let mut hidden = false;
    for seg in decoded.split('/') {
        match seg {
            "" | "." => continue,
            ".." => return Err(BadPath("'..' is not allowed in paths")),
            _ if seg.contains('\\') => return Err(BadPath("backslashes are not allowed in paths")),
            _ if seg.chars().any(char::is_control) => {
                return Err(BadPath("control characters are not allowed in paths"));
            }
            _ if seg.starts_with('.') => hidden = true,
            _ => out.push(seg.to_string()),
        }
    }
    Ok(if hidden { None } else { Some(out) })
}

/// Files at the top of a site that configure it and are never served as its content: its
/// server code, its rules, its password and domain files, and its single-page-app fallback
/// (served only as the answer for paths that are nothing else).
pub const CONFIG_FILES: [&str; 6] = [
    "main.js",
    "_redirects",
    "_headers",
    "AUTH",
    "CNAME",
    "200.html",
];

/// Finds what `segments` names under `site_root`, serving `index.html` for folders.
pub fn lookup(site_root: &Path, segments: &[String], ends_with_slash: bool) -> Lookup {
    if segments.len() == 1 && CONFIG_FILES.contains(&segments[0].as_str()) {
        return Lookup::NotFound;
    }
    let mut candidate = site_root.to_path_buf();
    // One lstat per segment (usually one or two): without a symlink below the site root,
    // plain segments cannot leave it, and the costly realpath check is skipped.
    let mut via_symlink = false;
    let mut last = None;
    for seg in segments {
        candidate.push(seg);
        match std::fs::symlink_metadata(&candidate) {
            Ok(m) => {
                via_symlink |= m.file_type().is_symlink();
                last = Some(m);
            }
            Err(_) => return Lookup::NotFound,
        }
    }
    let meta = match last {
        Some(m) if !m.file_type().is_symlink() => m,
        _ => match std::fs::metadata(&candidate) {
            Ok(m) => m,
            Err(_) => return Lookup::NotFound,
        },
    };
    let (file, meta) = if meta.is_dir() {
        if !ends_with_slash && !segments.is_empty() {
            return Lookup::AddSlash;
        }
        let index = candidate.join("index.html");
        match std::fs::symlink_metadata(&index) {
            Ok(m) if m.file_type().is_symlink() => {
                via_symlink = true;
                match std::fs::metadata(&index) {
                    Ok(m) => (index, m),
                    Err(_) => return Lookup::NotFound,
                }
            }
            Ok(m) => (index, m),
            Err(_) => return Lookup::NotFound,
        }
    } else {
        (candidate, meta)
    };
    if !meta.is_file() || (via_symlink && !stays_inside(site_root, &file)) {
        return Lookup::NotFound;
    }
    Lookup::File(file, meta)
}

/// One of the site's `CONFIG_FILES` (or any file at its top), when it is a regular file: a
/// symlink there is ignored, so that it cannot make the server read a file outside the site.
pub fn config_file(site_root: &Path, name: &str) -> Option<(PathBuf, Metadata)> {
    let path = site_root.join(name);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    meta.is_file().then_some((path, meta))
}

/// For a path that went through a symlink: true when the real path of `file` is inside the
/// real `root` and names nothing hidden (no dot-file component, not a root `CONFIG_FILES`).
fn stays_inside(root: &Path, file: &Path) -> bool {
    let (Ok(root), Ok(real)) = (root.canonicalize(), file.canonicalize()) else {
        return false;
    };
    let Ok(relative) = real.strip_prefix(&root) else {
        return false;
    };
    let hidden = relative
        .components()
        .any(|c| c.as_os_str().to_str().is_none_or(|s| s.starts_with('.')));
    !hidden && !CONFIG_FILES.iter().any(|f| relative == Path::new(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &str) -> Result<Option<Vec<String>>, BadPath> {
        segments(p)
    }

    #[test]
    fn plain_paths_become_segments() {
        assert_eq!(segs("/").unwrap(), Some(vec![]));
        assert_eq!(
            segs("/a/b.html").unwrap(),
            Some(vec!["a".into(), "b.html".into()])
        );
        assert_eq!(
            segs("//a/./b/").unwrap(),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            segs("/hello%20world.txt").unwrap(),
            Some(vec!["hello world.txt".into()])
        );
        assert_eq!(segs("/caf%C3%A9").unwrap(), Some(vec!["café".into()]));
        // Double encoding decodes once: a literal file named "%2e%2e", which is harmless.
        assert_eq!(
            segs("/%252e%252e/x").unwrap(),
            Some(vec!["%2e%2e".into(), "x".into()])
        );
    }

    #[test]
    fn hostile_paths_are_refused_or_hidden() {
        for bad in [
            "/../etc/passwd",
            "/a/../../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/%2E%2E%2Fetc%2Fpasswd",
            "/..%2fetc/passwd",
            "/..%5cetc%5cpasswd",
            "/a\\..\\b",
            "/%00",
            "/index.html%00.png",
            "/%c0%ae%c0%ae/etc/passwd",
            "/%e0%80%ae",
            "/%",
            "/%zz",
            "etc/passwd",
            "/a%0d%0aX-Injected: 1",
        ] {
            assert!(segs(bad).is_err(), "{bad} should be refused");
        }
        for hidden in ["/.env", "/.git/config", "/a/.htpasswd", "/%2egit/HEAD"] {
            assert_eq!(segs(hidden).unwrap(), None, "{hidden} should be hidden");
        }
    }
}
