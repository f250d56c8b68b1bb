//! A request to a hosted site: a static file, else the site's `main.js`, else the site's
//! `404.html`, else a plain 404.

pub mod cache;
pub mod files;
pub mod path;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::http::{Request, Response};
use cache::FileCache;
use path::Lookup;

/// Runs a site's `main.js`; implemented by the script pool, kept abstract so this module
/// knows nothing of how scripts run.
pub trait Scripts {
    fn run(&self, site: &str, root: &Path, req: &mut Request) -> Response;
}

/// Every site folder (`<dir>/<site>/`) and the files recently served from them.
pub struct Folders {
    pub dir: PathBuf,
    cache: Arc<FileCache>,
}

impl Folders {
    pub fn new(dir: PathBuf) -> Folders {
        Folders {
            dir,
            cache: FileCache::start(),
        }
    }

    /// True when `<dir>/<site>/` is a folder (deployed or made by hand).
    pub fn exists(&self, site: &str) -> bool {
        self.dir.join(site).is_dir()
    }

    /// Answers `req` for site `site`: a static file for GET/HEAD, else the site's `main.js`
    /// if it has one, else a 404 (or 405). `None` when there is no such site.
    pub fn handle(&self, site: &str, req: &mut Request, scripts: &dyn Scripts) -> Option<Response> {
        handle(&self.dir.join(site), site, req, scripts, &self.cache)
    }
}

fn handle(
    root: &Path,
    site: &str,
    req: &mut Request,
    scripts: &dyn Scripts,
    cache: &FileCache,
) -> Option<Response> {
    let raw_path = req.raw_path().to_string();
    let segments = path::segments(&raw_path);
    let reads = req.method == "GET" || req.is_head();
    let mut found = Lookup::NotFound;
    if reads && let Ok(Some(segments)) = &segments {
        found = path::lookup(root, segments, raw_path.ends_with('/'));
        // The common case costs no stat of the site folder: a file in it proves it exists.
        if let Lookup::File(file, seen) = &found {
            return Some(files::serve(req, file, seen, 200, cache));
        }
    }
    if !root.is_dir() {
        return None;
    }
    Some(match (segments, found) {
        (Err(path::BadPath(why)), _) => Response::text(400, format!("400 Bad Request: {why}")),
        (_, Lookup::AddSlash) => {
            // One leading slash only: "//host/x" would be a redirect to another host.
            let path = format!("/{}/", raw_path.trim_matches('/'));
            let location = match req.query() {
                Some(q) => format!("{path}?{q}"),
                None => path,
            };
            Response::text(301, format!("Moved to {location}")).with_header("Location", location)
        }
        _ => not_a_file(root, site, req, scripts, cache, reads),
    })
}

/// No file answers the path: the site's `main.js`, else its 404 page (or a 405).
fn not_a_file(
    root: &Path,
    site: &str,
    req: &mut Request,
    scripts: &dyn Scripts,
    cache: &FileCache,
    reads: bool,
) -> Response {
    if root.join("main.js").is_file() {
        return scripts.run(site, root, req);
    }
    if !reads {
        return Response::text(405, "405 Method Not Allowed: this site only serves files")
            .with_header("Allow", "GET, HEAD");
    }
    not_found(root, req, cache)
}

/// The answer for a Host that names no site.
pub fn site_not_found() -> Response {
    Response::text(404, "404 Site Not Found")
}

/// The site's own `404.html` with status 404 when it has one, else a plain 404.
fn not_found(root: &Path, req: &Request, cache: &FileCache) -> Response {
    match path::lookup(root, &["404.html".to_string()], false) {
        Lookup::File(file, seen) => files::serve(req, &file, &seen, 404, cache),
        _ => Response::text(404, "404 Not Found"),
    }
}
