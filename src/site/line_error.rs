//! Why a site's rule file (`_redirects`, `_headers`) was refused: the file, the line, the
//! reason — shown to the person deploying, so it says what to fix.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// `_redirects` or `_headers`.
    pub file: &'static str,
    /// 1-based; 0 for the file as a whole (too large, not text).
    pub line: usize,
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}", self.file, self.message),
            line => write!(f, "{} line {line}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for LineError {}
