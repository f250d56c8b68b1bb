//! `ApiError`: what went wrong, with its HTTP status — the one error type of every action, the
//! JSON API, the dashboard's forms, deploys and the public endpoints. The JSON API and public
//! endpoints answer it as `{"error": "…"}`; the dashboard shows its message on a page. A
//! server-side failure (500) keeps its details for the log.

use std::fmt;
use std::io;

use crate::http::Response;

#[derive(Debug)]
pub enum ApiError {
    Unauthorized(String),
    Forbidden(String),
    BadRequest(String),
    NotFound(String),
    MethodNotAllowed(String),
    Conflict(String),
    TooLarge(String),
    /// A client over a rate limit: answered with `Retry-After: 30`.
    TooManyRequests(String),
    /// A request body that came too slowly (408).
    Timeout(String),
    /// Busy with work of the same kind: answered 503 with `Retry-After: 5`.
    Busy(String),
    Io(io::Error),
    Store(String),
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::BadRequest(_) => 400,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::Conflict(_) => 409,
            ApiError::TooLarge(_) => 413,
            ApiError::TooManyRequests(_) => 429,
            ApiError::Timeout(_) => 408,
            ApiError::Busy(_) => 503,
            ApiError::Io(_) | ApiError::Store(_) => 500,
        }
    }

    /// The JSON answer: `{"error": message}` with the status (and `Retry-After` on a 429).
    pub fn to_json_response(&self) -> Response {
        let response = Response::json_error(self.status(), &self.to_string());
        match self {
            ApiError::TooManyRequests(_) => response.with_header("Retry-After", "30"),
            ApiError::Busy(_) => response.with_header("Retry-After", "5"),
            _ => response,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Unauthorized(m)
            | ApiError::Forbidden(m)
            | ApiError::BadRequest(m)
            | ApiError::NotFound(m)
            | ApiError::MethodNotAllowed(m)
            | ApiError::Conflict(m)
            | ApiError::TooLarge(m)
            | ApiError::TooManyRequests(m)
            | ApiError::Timeout(m)
            | ApiError::Busy(m)
            | ApiError::Store(m) => f.write_str(m),
            ApiError::Io(e) => write!(f, "server file error: {e}"),
        }
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::Store(format!("database error: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_the_json_answer() {
        let e = ApiError::TooManyRequests("slow down".into());
        let r = e.to_json_response();
        assert_eq!(r.status, 429);
        assert!(
            r.headers
                .iter()
                .any(|(n, v)| n == "Retry-After" && v == "30")
        );
        assert_eq!(ApiError::Forbidden(String::new()).status(), 403);
        let io = ApiError::Io(io::Error::other("disk"));
        assert_eq!(
            (io.status(), io.to_string().as_str()),
            (500, "server file error: disk")
        );
    }
}
