//! Compressed copies of site files, for clients that accept brotli or gzip: a precompressed
//! sibling (`app.js.br`, `app.js.gz`) when the site ships one, else the file compressed once
//! per version and kept in memory (bounded in bytes). Text types over 1 KiB only: small or
//! already-compressed files gain nothing. Never decides whether a file may be served, and
//! never compresses a range.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::cache::Identity;

/// Files smaller than this go out as they are: a compressed answer's headers would eat most
/// of the gain.
pub const MIN_SIZE: u64 = 1024;
/// Larger files are compressed only when the site ships a precompressed sibling: compressing
/// them on the fly would hold an HTTP worker too long.
pub const MAX_SIZE: u64 = 4 * 1024 * 1024;
/// All compressed copies together stay under this; the oldest make room.
const BUDGET: usize = 32 * 1024 * 1024;
/// Brotli's quality for on-the-fly copies: 11 (the best) takes about a second for a 300 KB
/// bundle; 9 takes a few tens of milliseconds for nearly the same size, once per version.
const BROTLI_QUALITY: u32 = 9;
const BROTLI_WINDOW: u32 = 22;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    Brotli,
    Gzip,
}

impl Encoding {
    /// The `Content-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Brotli => "br",
            Encoding::Gzip => "gzip",
        }
    }

    fn sibling_suffix(self) -> &'static str {
        match self {
            Encoding::Brotli => ".br",
            Encoding::Gzip => ".gz",
        }
    }
}

/// The best encoding an `Accept-Encoding` value allows (brotli, then gzip); `q=0` refuses.
pub fn preferred(accept_encoding: Option<&str>) -> Option<Encoding> {
    let accepts = |token: &str| {
        accept_encoding?.split(',').find_map(|item| {
            let mut parts = item.split(';');
            let name = parts.next()?.trim();
            if !name.eq_ignore_ascii_case(token) && name != "*" {
                return None;
            }
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            Some(!refused)
        })
    };
    [Encoding::Brotli, Encoding::Gzip]
        .into_iter()
        .find(|e| accepts(e.token()) == Some(true))
}

/// True for the content types that compress well (text, JSON, SVG, XML, wasm).
pub fn worth_compressing(content_type: &str) -> bool {
    let mime = content_type.split(';').next().unwrap_or_default().trim();
    mime.starts_with("text/")
        || matches!(
            mime,
            "application/javascript"
                | "application/json"
                | "application/manifest+json"
                | "application/xml"
                | "application/wasm"
                | "image/svg+xml"
        )
}

/// One compressed version of one file.
pub struct Variant {
    pub bytes: Arc<[u8]>,
    /// The identity file's version this was made from.
    identity: Identity,
    /// Set when the bytes came from a precompressed sibling: that file's version.
    sibling: Option<Identity>,
}

/// The compressed copies made or read so far.
#[derive(Default)]
pub struct Compressed {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    variants: HashMap<(PathBuf, Encoding), Arc<Variant>>,
    /// Insertion order, for making room (entries replaced since are skipped).
    order: VecDeque<(PathBuf, Encoding)>,
    bytes: usize,
}

impl Compressed {
    /// `file` (whose version is `identity`) in `encoding`: a kept copy, the sibling, or the
    /// bytes `read` gives compressed now. `None` when compressing does not pay.
    pub fn get(
        &self,
        file: &Path,
        identity: Identity,
        encoding: Encoding,
        read: impl FnOnce() -> Option<Arc<[u8]>>,
    ) -> Option<Arc<Variant>> {
        let key = (file.to_path_buf(), encoding);
        let sibling_path = sibling(file, encoding);
        let kept = self.inner.lock().unwrap().variants.get(&key).cloned();
        if let Some(v) = kept
            && v.identity == identity
        {
            match v.sibling {
                None => return Some(v),
                Some(was) if sibling_identity(&sibling_path) == Some(was) => return Some(v),
                Some(_) => {}
            }
        }
        let variant = match read_sibling(&sibling_path) {
            Some((bytes, sibling)) => Variant {
                bytes,
                identity,
                sibling: Some(sibling),
            },
            None if identity.file_len() <= MAX_SIZE => {
                let plain = read()?;
                let bytes = compress(&plain, encoding)?;
                if bytes.len() as u64 >= identity.file_len() {
                    return None;
                }
                Variant {
                    bytes: bytes.into(),
                    identity,
                    sibling: None,
                }
            }
            None => return None,
        };
        let variant = Arc::new(variant);
        self.keep(key, variant.clone());
        Some(variant)
    }

    fn keep(&self, key: (PathBuf, Encoding), variant: Arc<Variant>) {
        let size = variant.bytes.len();
        if size > BUDGET / 4 {
            return;
        }
        let mut inner = self.inner.lock().unwrap();
        if let Some(old) = inner.variants.insert(key.clone(), variant) {
            inner.bytes -= old.bytes.len();
        }
        inner.bytes += size;
        inner.order.push_back(key);
        while inner.bytes > BUDGET {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(old) = inner.variants.remove(&oldest) {
                inner.bytes -= old.bytes.len();
            }
        }
        // Keys replaced in place leave stale copies in `order`: drop them once they dominate.
        if inner.order.len() > 2 * inner.variants.len() + 64 {
            let Inner {
                variants, order, ..
            } = &mut *inner;
            let mut seen = std::collections::HashSet::new();
            order.retain(|k| variants.contains_key(k) && seen.insert(k.clone()));
        }
    }
}

fn sibling(file: &Path, encoding: Encoding) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(encoding.sibling_suffix());
    PathBuf::from(name)
}

/// A sibling is used only as a plain file inside the same folder (a symlink is ignored).
fn sibling_identity(path: &Path) -> Option<Identity> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    meta.is_file().then(|| Identity::of(&meta))
}

fn read_sibling(path: &Path) -> Option<(Arc<[u8]>, Identity)> {
    let identity = sibling_identity(path)?;
    if identity.file_len() > MAX_SIZE {
        return None;
    }
    let mut bytes = Vec::with_capacity(identity.file_len() as usize);
    File::open(path)
        .ok()?
        .take(MAX_SIZE)
        .read_to_end(&mut bytes)
        .ok()?;
    Some((bytes.into(), identity))
}

fn compress(plain: &[u8], encoding: Encoding) -> Option<Vec<u8>> {
    match encoding {
        Encoding::Brotli => {
            let mut out = Vec::with_capacity(plain.len() / 3);
            let params = brotli::enc::BrotliEncoderParams {
                quality: BROTLI_QUALITY as i32,
                lgwin: BROTLI_WINDOW as i32,
                ..Default::default()
            };
            brotli::BrotliCompress(&mut &plain[..], &mut out, &params).ok()?;
            Some(out)
        }
        Encoding::Gzip => {
            let mut gz = flate2::write::GzEncoder::new(
                Vec::with_capacity(plain.len() / 3),
                flate2::Compression::default(),
            );
            gz.write_all(plain).ok()?;
            gz.finish().ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferred_encoding_follows_accept_encoding() {
        assert_eq!(preferred(Some("gzip, deflate, br")), Some(Encoding::Brotli));
        assert_eq!(preferred(Some("gzip")), Some(Encoding::Gzip));
        assert_eq!(preferred(Some("br;q=0, gzip;q=0.5")), Some(Encoding::Gzip));
        assert_eq!(preferred(Some("identity")), None);
        assert_eq!(preferred(Some("*")), Some(Encoding::Brotli));
        assert_eq!(preferred(Some("BR")), Some(Encoding::Brotli));
        assert_eq!(preferred(None), None);
    }

    #[test]
    fn text_types_are_worth_compressing_and_images_are_not() {
        assert!(worth_compressing("text/html; charset=utf-8"));
        assert!(worth_compressing("application/javascript"));
        assert!(worth_compressing("image/svg+xml"));
        assert!(!worth_compressing("image/png"));
        assert!(!worth_compressing("application/zip"));
    }

    #[test]
    fn both_encodings_round_trip() {
        let plain: Vec<u8> = b"function hello() { return 'world'; }\n".repeat(200);
        let br = compress(&plain, Encoding::Brotli).unwrap();
        let mut back = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut back).unwrap();
        assert_eq!(back, plain);
        let gz = compress(&plain, Encoding::Gzip).unwrap();
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, plain);
        assert!(br.len() < plain.len() / 10 && gz.len() < plain.len() / 10);
    }
}
