//! A request to a hosted site, in the order the README's hosting chapter gives: the site's
//! forced `_redirects` rules, the file itself (or `<path>.html`), its other rules, its
//! `main.js`, its `200.html` (single-page apps), its `404.html`, a plain 404. `_headers`
//! rules are applied to what the folder answers. Knows nothing of how scripts run.

pub mod cache;
pub mod compress;
pub mod files;
pub mod headers_file;
pub mod line_error;
pub mod path;
pub mod redirects;
pub mod rules;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::http::{Request, Response};
use cache::FileCache;
use path::Lookup;
use redirects::Redirect;
use rules::{RuleCache, SiteRules};

/// The longest request path a site answers (414 past it); `_redirects` and `_headers` look
/// at no more.
pub const MAX_PATH_BYTES: usize = 4 * 1024;
const _: () = assert!(
    MAX_PATH_BYTES == redirects::MAX_REQUEST_PATH_BYTES
        && MAX_PATH_BYTES == headers_file::MAX_REQUEST_PATH_BYTES
);

/// Runs a site's `main.js`; implemented by the script pool, kept abstract so this module
/// knows nothing of how scripts run.
pub trait Scripts {
    fn run(&self, site: &str, root: &Path, req: &mut Request) -> Response;
}

/// Every site folder (`<dir>/<site>/`) and the files recently served from them.
pub struct Folders {
    pub dir: PathBuf,
    cache: Arc<FileCache>,
    rules: Arc<RuleCache>,
}

impl Folders {
    /// `rules` is shared with deploys, which make it forget a site they replace.
    pub fn new(dir: PathBuf, rules: Arc<RuleCache>) -> Folders {
        Folders {
            dir,
            cache: FileCache::start(),
            rules,
        }
    }

    /// True when `<dir>/<site>/` is a folder (deployed or made by hand).
    pub fn exists(&self, site: &str) -> bool {
        self.dir.join(site).is_dir()
    }

    /// Answers `req` for site `site` (see the module's order). `None` when there is no such
    /// site.
    /// `pretty_urls`: the site wants `/about.html` answered with a redirect to `/about`.
    pub fn handle(
        &self,
        site: &str,
        req: &mut Request,
        scripts: &dyn Scripts,
        pretty_urls: bool,
    ) -> Option<Response> {
        let root = self.dir.join(site);
        let rules = self.rules.get(site, &root)?;
        let site = Site {
            name: site,
            root: &root,
            cache: &self.cache,
            rules: &rules,
            pretty_urls,
        };
        let mut response = site.answer(req, scripts);
        if response.deferred.is_none() && !rules.headers.is_empty() {
            apply_headers(&mut response, rules.headers.resolve(req.raw_path()));
        }
        Some(response)
    }
}

/// A site's `_headers` rules on one of its answers: a `! Name` line removes the header, a
/// set header replaces the server's own (so `Cache-Control` overrides the default), `Vary`
/// adds to the server's (which must keep saying `Accept-Encoding`), and each `Set-Cookie` is
/// one more cookie (cookies cannot be joined into one line) — unless it names a `Domain`: a
/// site may not set cookies for other hosts, however the value came to say so.
fn apply_headers(response: &mut Response, rules: headers_file::ResolvedHeaders) {
    for name in &rules.detached {
        response
            .headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }
    for (name, value) in rules.set {
        if name.eq_ignore_ascii_case("set-cookie") {
            if !names_a_domain(&value) {
                response.headers.push((name.into(), value));
            }
        } else if name.eq_ignore_ascii_case("vary")
            && let Some(server) = response.header("vary")
        {
            let mut merged: Vec<String> = server.split(',').map(|v| v.trim().to_string()).collect();
            for item in value.split(',').map(str::trim) {
                if !merged.iter().any(|m| m.eq_ignore_ascii_case(item)) {
                    merged.push(item.to_string());
                }
            }
            merged.retain(|m| !m.is_empty());
            response.set_header("Vary", merged.join(", "));
        } else {
            response.set_header(name, value);
        }
    }
}

/// True when a `Set-Cookie` value has a `Domain` attribute (in any case).
fn names_a_domain(cookie: &str) -> bool {
    cookie.split(';').skip(1).any(|attribute| {
        let name = attribute.split('=').next().unwrap_or_default();
        name.trim().eq_ignore_ascii_case("domain")
    })
}

/// One site's folder and what is kept for it, for the length of one request.
struct Site<'a> {
    name: &'a str,
    root: &'a Path,
    cache: &'a FileCache,
    rules: &'a SiteRules,
    pretty_urls: bool,
}

impl Site<'_> {
    fn answer(&self, req: &mut Request, scripts: &dyn Scripts) -> Response {
        let raw_path = req.raw_path().to_string();
        // No page has such a path, and the site's rules would not see it whole.
        if raw_path.len() > MAX_PATH_BYTES {
            return Response::text(
                414,
                format!("414 URI Too Long: a site path may be at most {MAX_PATH_BYTES} bytes"),
            );
        }
        if let Some(rule) = self.rules.redirects.find(&raw_path, req.query(), true) {
            return self.follow(req, &rule);
        }
        let segments = path::segments(&raw_path);
        let reads = req.method == "GET" || req.is_head();
        let mut found = Lookup::NotFound;
        if reads && let Ok(Some(segments)) = &segments {
            found = path::lookup(self.root, segments, raw_path.ends_with('/'));
            if matches!(found, Lookup::NotFound) && !raw_path.ends_with('/') {
                found = clean_url(self.root, segments);
            }
            if let Lookup::File(file, seen) = &found {
                if self.pretty_urls
                    && let Some(pretty) = pretty_path(&raw_path)
                {
                    let location = match req.query() {
                        Some(q) => format!("{pretty}?{q}"),
                        None => pretty,
                    };
                    return Response::text(301, format!("Moved to {location}"))
                        .with_header("Location", location);
                }
                return files::serve(req, self.name, file, seen, 200, self.cache);
            }
        }
        match (segments, found) {
            (Err(path::BadPath(why)), _) => Response::text(400, format!("400 Bad Request: {why}")),
            (_, Lookup::AddSlash) => {
                // One leading slash only: "//host/x" would be a redirect to another host.
                let path = format!("/{}/", raw_path.trim_matches('/'));
                let location = match req.query() {
                    Some(q) => format!("{path}?{q}"),
                    None => path,
                };
                Response::text(301, format!("Moved to {location}"))
                    .with_header("Location", location)
            }
            _ => match self.rules.redirects.find(&raw_path, req.query(), false) {
                Some(rule) => self.follow(req, &rule),
                None => self.not_a_file(req, scripts, reads),
            },
        }
    }

    /// A `_redirects` rule that matched: a redirect, a rewrite to another file of the site
    /// (200), or another file with the rule's status (404 and the like).
    fn follow(&self, req: &Request, rule: &Redirect) -> Response {
        if rule.external || (300..400).contains(&rule.status) {
            return Response::text(rule.status, format!("Moved to {}", rule.to))
                .with_header("Location", rule.to.clone());
        }
        let target = rule.to.split(['?', '#']).next().unwrap_or("/");
        let file = match path::segments(target) {
            // A rewrite to a folder serves its index.html, with or without the slash.
            Ok(Some(segments)) => match path::lookup(self.root, &segments, true) {
                Lookup::NotFound if !target.ends_with('/') => clean_url(self.root, &segments),
                found => found,
            },
            _ => Lookup::NotFound,
        };
        match file {
            Lookup::File(file, seen) => {
                files::serve(req, self.name, &file, &seen, rule.status, self.cache)
            }
            _ => self.not_found(req),
        }
    }

    /// No file and no rule answers the path: the site's `main.js`, else its `200.html` (a
    /// single-page app's shell, 200), else its 404 page.
    fn not_a_file(&self, req: &mut Request, scripts: &dyn Scripts, reads: bool) -> Response {
        if self.root.join("main.js").is_file() {
            return scripts.run(self.name, self.root, req);
        }
        if !reads {
            return Response::text(405, "405 Method Not Allowed: this site only serves files")
                .with_header("Allow", "GET, HEAD");
        }
        if looks_like_a_page(req)
            && let Some((file, seen)) = path::config_file(self.root, "200.html")
        {
            return files::serve(req, self.name, &file, &seen, 200, self.cache);
        }
        self.not_found(req)
    }

    /// The site's own `404.html` with status 404 when it has one, else a plain 404.
    fn not_found(&self, req: &Request) -> Response {
        match path::lookup(self.root, &["404.html".to_string()], false) {
            Lookup::File(file, seen) => files::serve(req, self.name, &file, &seen, 404, self.cache),
            _ => Response::text(404, "404 Not Found"),
        }
    }
}

/// True when a missing path is one a single-page app routes (`/users/42`, a browser's
/// navigation) rather than a missing asset (`/assets/app.js` from a script tag), which must
/// stay a 404: an app's HTML given for a script breaks the page in confusing ways.
fn looks_like_a_page(req: &Request) -> bool {
    let last = req.raw_path().rsplit('/').next().unwrap_or_default();
    let extension = last
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase());
    matches!(extension.as_deref(), None | Some("html" | "htm"))
        || req
            .header("accept")
            .is_some_and(|a| a.contains("text/html"))
}

/// The pretty form of a path naming an HTML file: `/about.html` → `/about`,
/// `/docs/index.html` → `/docs/`; `None` for other paths.
fn pretty_path(raw_path: &str) -> Option<String> {
    let stem = raw_path.strip_suffix(".html")?;
    let pretty = match stem.strip_suffix("index") {
        Some(folder) if folder.ends_with('/') => folder.to_string(),
        _ => stem.to_string(),
    };
    // One leading slash only: "//host" would be a redirect to another host.
    Some(format!("/{}", pretty.trim_start_matches('/')))
}

/// Clean URLs: `/about` is `about.html` when there is no `about`.
fn clean_url(root: &Path, segments: &[String]) -> Lookup {
    let Some((last, parents)) = segments.split_last() else {
        return Lookup::NotFound;
    };
    let mut with_html = parents.to_vec();
    with_html.push(format!("{last}.html"));
    match path::lookup(root, &with_html, false) {
        found @ Lookup::File(..) => found,
        _ => Lookup::NotFound,
    }
}

/// The answer for a Host that names no site.
pub fn site_not_found() -> Response {
    Response::text(404, "404 Site Not Found")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer_with(headers: &[(&str, &str)], rules: &str, path: &str) -> Response {
        let mut response = Response::text(200, "x");
        for (name, value) in headers {
            response = response.with_header(name.to_string(), value.to_string());
        }
        let rules = headers_file::HeaderRules::parse(rules).unwrap();
        apply_headers(&mut response, rules.resolve(path));
        response
    }

    #[test]
    fn a_vary_rule_adds_to_the_servers_vary() {
        let r = answer_with(
            &[("Vary", "Accept-Encoding")],
            "/*\n  Vary: Origin, accept-encoding\n",
            "/a",
        );
        let vary: Vec<&str> = r
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("vary"))
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(vary, ["Accept-Encoding, Origin"]);
        let r = answer_with(&[], "/*\n  Vary: Origin\n", "/a");
        assert_eq!(r.header("vary"), Some("Origin"));
        let r = answer_with(&[("Vary", "Accept-Encoding")], "/*\n  ! Vary\n", "/a");
        assert_eq!(r.header("vary"), None);
    }

    #[test]
    fn a_cookie_for_another_host_is_never_set() {
        let mut r = Response::text(200, "x");
        let resolved = headers_file::ResolvedHeaders {
            set: vec![
                ("Set-Cookie".into(), "a=1; Path=/".into()),
                ("Set-Cookie".into(), "b=1; path=/; dOmAiN =localhost".into()),
                ("Set-Cookie".into(), "c=domain=x".into()),
            ],
            detached: Vec::new(),
        };
        apply_headers(&mut r, resolved);
        let cookies: Vec<&str> = r
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(cookies, ["a=1; Path=/", "c=domain=x"]);
        // Through a rule whose value takes text from the path: the `;` stays encoded.
        let r = answer_with(
            &[],
            "/c/*\n  Set-Cookie: t=:splat\n",
            "/c/x;Domain=localhost;Path=a",
        );
        assert_eq!(
            r.header("set-cookie"),
            Some("t=x%3BDomain=localhost%3BPath=a")
        );
    }
}
