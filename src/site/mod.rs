//! A request to a hosted site (CONTRACT §3): a static file, else the site's `404.html`, else a
//! plain 404. (WebSocket and `main.js` handling join here in later issues.)

pub mod files;
pub mod path;

use std::path::Path;

use crate::http::{Request, Response};
use path::Lookup;

/// Runs a site's `main.js`; implemented by the script pool, kept abstract so this module
/// knows nothing of how scripts run.
pub trait Scripts {
    fn run(&self, site: &str, root: &Path, req: &mut Request) -> Response;
}

/// Answers `req` for site `site` whose files live in `sites_dir/<site>/`: a static file for
/// GET/HEAD, else the site's `main.js` if it has one, else a 404 (or 405).
pub fn handle(sites_dir: &Path, site: &str, req: &mut Request, scripts: &dyn Scripts) -> Response {
    let root = sites_dir.join(site);
    let raw_path = req.raw_path().to_string();
    let segments = match path::segments(&raw_path) {
        Ok(s) => s,
        Err(path::BadPath(why)) => return Response::text(400, format!("400 Bad Request: {why}")),
    };
    let reads = req.method == "GET" || req.is_head();
    if reads && let Some(segments) = &segments {
        match path::lookup(&root, segments, raw_path.ends_with('/')) {
            Lookup::File(file, _) => return files::serve(req, &file, 200),
            Lookup::AddSlash => {
                // One leading slash only: "//host/x" would be a redirect to another host.
                let path = format!("/{}/", raw_path.trim_matches('/'));
                let location = match req.query() {
                    Some(q) => format!("{path}?{q}"),
                    None => path,
                };
                return Response::text(301, format!("Moved to {location}"))
                    .with_header("Location", location);
            }
            Lookup::NotFound => {}
        }
    }
    if root.join("main.js").is_file() {
        return scripts.run(site, &root, req);
    }
    if !reads {
        return Response::text(405, "405 Method Not Allowed: this site only serves files")
            .with_header("Allow", "GET, HEAD");
    }
    not_found(&root, req)
}

/// True when `sites_dir/<site>/` is a folder (deployed or made by hand).
pub fn exists(sites_dir: &Path, site: &str) -> bool {
    sites_dir.join(site).is_dir()
}

/// The answer for a Host that names no site.
pub fn site_not_found() -> Response {
    Response::text(404, "404 Site Not Found")
}

/// The site's own `404.html` with status 404 when it has one, else a plain 404.
fn not_found(root: &Path, req: &Request) -> Response {
    match path::lookup(root, &["404.html".to_string()], false) {
        Lookup::File(file, _) => files::serve(req, &file, 404),
        _ => Response::text(404, "404 Not Found"),
    }
}
