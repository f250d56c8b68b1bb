//! The dashboard host (`<domain>`, `localhost`, IP literals): for now a placeholder page and a
//! JSON 404 for `/api/*`. The dashboard issue replaces this with login, analytics and hosting.

use crate::http::{Request, Response};

pub mod chart;

const PLACEHOLDER: &str = include_str!("placeholder.html");

pub fn handle(req: &Request) -> Response {
    let path = req.raw_path();
    if path == "/api" || path.starts_with("/api/") {
        return Response::json_error(404, "no such API endpoint");
    }
    if !(req.method == "GET" || req.is_head()) {
        return Response::text(405, "405 Method Not Allowed").with_header("Allow", "GET, HEAD");
    }
    match path {
        "/" => Response::html(200, PLACEHOLDER)
            .with_header("X-Frame-Options", "DENY")
            .with_header(
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'",
            )
            .with_header("Referrer-Policy", "same-origin"),
        _ => Response::text(404, "404 Not Found"),
    }
}
