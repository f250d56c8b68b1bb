//! Answering with one static file: Content-Type by extension, Content-Length, ETag and
//! Last-Modified validators with 304s, and single byte ranges. A small file comes from the
//! file cache (read whole once per version); a larger one is streamed from its open file
//! (kept open by the cache while it is asked for), never read into memory.

use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::cache::{self, Cached, Content, FileCache, Identity};
use super::compress;
use crate::http::{Body, Request, Response};

/// Builds the answer for a file of `site` found by `path::lookup` (`seen` is what its stat
/// showed), honouring conditional and range headers of `req`. `status` is 200 for a normal
/// file, 404 for a site's `404.html`.
pub fn serve(
    req: &Request,
    site: &str,
    path: &Path,
    seen: &Metadata,
    status: u16,
    cache: &FileCache,
) -> Response {
    let respond = |version: &Cached| answer(req, site, path, status, version, cache);
    if let Some(hit) = cache.get(path, seen) {
        return respond(&hit);
    }
    // Size, time and validators come from the opened file itself: a deploy swapping the site
    // between a stat by name and the open must not pair one version's length with another's
    // bytes.
    let opened = File::open(path).and_then(|f| f.metadata().map(|m| (f, m)));
    let (mut file, meta) = match opened {
        Ok((f, m)) if m.is_file() => (f, m),
        _ => return Response::text(404, "404 Not Found"),
    };
    if meta.len() <= cache::MAX_FILE {
        if let Some(bytes) = read_whole(&mut file, &meta) {
            let hit = cache.insert(path, version(&meta, Content::Bytes(bytes)));
            return respond(&hit);
        }
        // Changing while read: streamed as it is now, and not kept.
        let open = version(&meta, Content::Open(Arc::new(file)));
        return respond(&open);
    }
    let hit = cache.insert(path, version(&meta, Content::Open(Arc::new(file))));
    respond(&hit)
}

/// One version of a file: its content and validators.
fn version(meta: &Metadata, content: Content) -> Cached {
    let modified = meta.modified().unwrap_or(UNIX_EPOCH);
    Cached::new(
        Identity::of(meta),
        content,
        etag(meta.len(), modified, (meta.ctime(), meta.ctime_nsec())),
        httpdate::fmt_http_date(modified),
        modified,
    )
}

/// The whole file, when it did not change while being read.
fn read_whole(file: &mut File, meta: &Metadata) -> Option<Arc<[u8]>> {
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    let read = (&mut *file).take(meta.len() + 1).read_to_end(&mut bytes);
    let unchanged = file
        .metadata()
        .is_ok_and(|now| Identity::of(&now) == Identity::of(meta));
    (read.is_ok() && unchanged && bytes.len() as u64 == meta.len()).then(|| bytes.into())
}

fn answer(
    req: &Request,
    site: &str,
    path: &Path,
    status: u16,
    version: &Cached,
    cache: &FileCache,
) -> Response {
    let len = version.identity.file_len();
    let kind = content_type(path);
    let compressible = len >= compress::MIN_SIZE && compress::worth_compressing(kind);
    // A range is cut from the file as it is on disk, never from a compressed copy.
    let encoding = compress::preferred(req.header("accept-encoding"))
        .filter(|_| compressible && req.header("range").is_none());
    // Each encoding is its own representation, with its own validator.
    let encoded_etag =
        |e: compress::Encoding| format!("{}-{}\"", version.etag.trim_end_matches('"'), e.token());
    let with_validators = |mut r: Response, etag: String| {
        if compressible {
            r = r.with_header("Vary", "Accept-Encoding");
        }
        r.with_header("ETag", etag)
            .with_header("Last-Modified", version.last_modified.clone())
            .with_header("Cache-Control", cache_control(path))
    };
    // A client that holds the compressed copy of this version is told so without one being
    // made (or looked for).
    if let Some(encoding) = encoding
        && status == 200
        && req.header("if-none-match").is_some()
        && not_modified(req, &encoded_etag(encoding), version.modified)
    {
        return with_validators(Response::new(304), encoded_etag(encoding));
    }
    // A HEAD request gets a kept copy's headers, but never makes one: it is answered as the
    // file is when no copy is kept.
    let variant = encoding.and_then(|encoding| {
        let whole = || whole_file(version);
        let compressed = &cache.compressed;
        let may_compress = !req.is_head();
        let variant =
            compressed.get(site, path, version.identity, encoding, may_compress, whole)?;
        Some((encoding, variant))
    });
    let etag = match &variant {
        Some((encoding, _)) => encoded_etag(*encoding),
        None => version.etag.clone(),
    };

    if status == 200 && not_modified(req, &etag, version.modified) {
        return with_validators(Response::new(304), etag);
    }

    let mut response = with_validators(
        Response::new(status)
            .with_header("Content-Type", kind)
            .with_header("Accept-Ranges", "bytes"),
        etag,
    );
    if let Some((encoding, variant)) = variant {
        response.body = Body::Shared(variant.bytes.clone());
        return response.with_header("Content-Encoding", encoding.token());
    }

    let range = req
        .header("range")
        .filter(|_| status == 200 && if_range_matches(req, &version.etag))
        .and_then(|h| parse_range(h, len));
    let (start, body_len) = match range {
        Some(Ok((start, end))) => {
            response.status = 206;
            response = response.with_header("Content-Range", format!("bytes {start}-{end}/{len}"));
            (start, end - start + 1)
        }
        Some(Err(())) => {
            return Response::text(416, "Range Not Satisfiable")
                .with_header("Content-Range", format!("bytes */{len}"));
        }
        None => (0, len),
    };
    response.body = match &version.content {
        Content::Bytes(bytes) if body_len == len => Body::Shared(bytes.clone()),
        Content::Bytes(bytes) => {
            Body::Bytes(bytes[start as usize..(start + body_len) as usize].to_vec())
        }
        Content::Open(file) => Body::File {
            file: file.clone(),
            offset: start,
            len: body_len,
        },
    };
    response
}

/// A version's whole bytes, for compressing: from memory, or read from its open file by
/// position. `None` when the file changed size under us.
fn whole_file(version: &Cached) -> Option<Arc<[u8]>> {
    match &version.content {
        Content::Bytes(bytes) => Some(bytes.clone()),
        Content::Open(file) => {
            use std::os::unix::fs::FileExt;
            let mut bytes = vec![0; version.identity.file_len() as usize];
            file.read_exact_at(&mut bytes, 0).ok()?;
            Some(bytes.into())
        }
    }
}

/// Revalidate everything (ETags make that cheap) except a file whose name carries a content
/// hash: that name changes with its bytes, so a browser may keep it a year.
fn cache_control(path: &Path) -> &'static str {
    use super::headers_file::{IMMUTABLE, default_cache_control};
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let in_assets = path
        .parent()
        .and_then(|p| p.file_name())
        .is_some_and(|p| p == "assets");
    if in_assets && has_vite_hash(name) {
        return IMMUTABLE;
    }
    default_cache_control(name)
}

/// Vite and Rollup name a bundled file `<name>-<8 base64url characters>.<ext>` in `assets/`
/// (`index-DiwrgTda.js`). Alone, such a name could be a word (`Inter-SemiBold.woff2`), which
/// `default_cache_control` will not risk; inside the `assets/` folder Vite writes, with a mix
/// of cases or a digit, it is taken as a hash.
fn has_vite_hash(name: &str) -> bool {
    let Some((stem, _ext)) = name.rsplit_once('.') else {
        return false;
    };
    let Some((_, hash)) = stem.rsplit_once('-') else {
        return false;
    };
    let b = hash.as_bytes();
    b.len() == 8
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        && (b.iter().any(u8::is_ascii_digit)
            || (b.iter().any(u8::is_ascii_uppercase) && b.iter().any(u8::is_ascii_lowercase)))
}

/// A strong validator from size, modification time and change time: a redeploy changes the
/// first two or either, and an edit in place changes the change time even when the size stays
/// and the modification time is set back (`touch -d`), which no one can set.
fn etag(len: u64, modified: SystemTime, changed: (i64, i64)) -> String {
    let nanos = modified
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let changed = (changed.0 as u64).wrapping_mul(1_000_000_000) ^ changed.1 as u64;
    format!("\"{len:x}-{nanos:x}-{changed:x}\"")
}

/// RFC 9110 §13.1: If-None-Match wins over If-Modified-Since.
fn not_modified(req: &Request, etag: &str, modified: SystemTime) -> bool {
    if let Some(inm) = req.header("if-none-match") {
        return inm
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == etag);
    }
    match req
        .header("if-modified-since")
        .and_then(|v| httpdate::parse_http_date(v).ok())
    {
        // HTTP dates have whole seconds: compare at that precision.
        Some(since) => secs(modified) <= secs(since),
        None => false,
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A Range applies only while If-Range (when sent) still names this version.
fn if_range_matches(req: &Request, etag: &str) -> bool {
    req.header("if-range").is_none_or(|v| v.trim() == etag)
}

/// One `bytes=` range → inclusive `(start, end)`; `Some(Err)` when unsatisfiable (416);
/// `None` for anything we ignore (other units, several ranges, junk) — then the whole file
/// is sent, as RFC 9110 allows.
pub fn parse_range(header: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let range = if first.is_empty() {
        // bytes=-N: the last N bytes
        let n: u64 = last.parse().ok()?;
        if n == 0 || len == 0 {
            return Some(Err(()));
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let start: u64 = first.parse().ok()?;
        let end = if last.is_empty() {
            len.saturating_sub(1)
        } else {
            let end: u64 = last.parse().ok()?;
            if end < start {
                return None;
            }
            end.min(len.saturating_sub(1))
        };
        if start >= len {
            return Some(Err(()));
        }
        (start, end)
    };
    Some(Ok(range))
}

/// Content-Type by file extension; text types carry `charset=utf-8`.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "txt" | "md" => "text/plain; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "ogg" => "audio/ogg",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-500", 100), Some(Ok((0, 99))));
        assert_eq!(parse_range("bytes=50-500", 100), Some(Ok((50, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=-0", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("bytes=9-1", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=a-b", 100), None);
    }

    #[test]
    fn content_types() {
        assert_eq!(
            content_type(Path::new("a/INDEX.HTML")),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("x.woff2")), "font/woff2");
        assert_eq!(content_type(Path::new("noext")), "application/octet-stream");
    }

    #[test]
    fn conditionals() {
        let t = UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_500);
        let tag = etag(10, t, (1_700_000_000, 5));
        let date = httpdate::fmt_http_date(t);
        let rq = |h: &[(&str, &str)]| Request::fake("GET", "/", h);
        assert!(not_modified(&rq(&[("If-None-Match", &tag)]), &tag, t));
        assert!(not_modified(
            &rq(&[("If-None-Match", &format!("\"x\", W/{tag}"))]),
            &tag,
            t
        ));
        assert!(!not_modified(
            &rq(&[("If-None-Match", "\"other\"")]),
            &tag,
            t
        ));
        assert!(not_modified(&rq(&[("If-Modified-Since", &date)]), &tag, t));
        // If-None-Match decides alone when present.
        assert!(!not_modified(
            &rq(&[("If-None-Match", "\"other\""), ("If-Modified-Since", &date)]),
            &tag,
            t
        ));
        assert!(!not_modified(
            &rq(&[("If-Modified-Since", "yesterday")]),
            &tag,
            t
        ));
    }

    /// `GET` or `HEAD` of `path` as site `s`, with `headers`.
    fn ask(cache: &FileCache, method: &str, path: &Path, headers: &[(&str, &str)]) -> Response {
        let req = Request::fake(method, "/f.txt", headers);
        serve(
            &req,
            "s",
            path,
            &std::fs::metadata(path).unwrap(),
            200,
            cache,
        )
    }

    #[test]
    fn compressing_is_done_once_never_for_head_and_not_for_a_304() {
        let dir = tempfile::tempdir().unwrap();
        let noise = dir.path().join("noise.txt");
        let random: Vec<u8> = (0..compress::MAX_ON_THE_FLY / 32)
            .flat_map(|_| crate::secret::random_bytes::<32>())
            .collect();
        std::fs::write(&noise, random).unwrap();
        let text = dir.path().join("text.txt");
        std::fs::write(&text, "some text, ".repeat(1000)).unwrap();
        let br = [("Accept-Encoding", "br")];

        let cache = FileCache::start();
        for _ in 0..2 {
            let r = ask(&cache, "GET", &noise, &br);
            assert_eq!((r.status, r.header("content-encoding")), (200, None));
        }
        assert_eq!(
            cache.compressed.compressions(),
            1,
            "random bytes: compressed once"
        );

        let r = ask(&cache, "HEAD", &text, &br);
        assert_eq!((r.status, r.header("content-encoding")), (200, None));
        assert_eq!(cache.compressed.compressions(), 1, "a HEAD compressed");
        let r = ask(&cache, "GET", &text, &br);
        assert_eq!(r.header("content-encoding"), Some("br"));
        let encoded = r.header("etag").unwrap().to_string();
        assert!(encoded.ends_with("-br\""), "{encoded}");
        assert_eq!(cache.compressed.compressions(), 2);
        let r = ask(&cache, "HEAD", &text, &br);
        assert_eq!(
            r.header("content-encoding"),
            Some("br"),
            "a kept copy is used"
        );

        // A client that holds the compressed copy: 304 at once, nothing compressed.
        let fresh = FileCache::start();
        let r = ask(
            &fresh,
            "GET",
            &text,
            &[("Accept-Encoding", "br"), ("If-None-Match", &encoded)],
        );
        assert_eq!(r.status, 304);
        assert_eq!(r.header("etag"), Some(encoded.as_str()));
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
        assert_eq!(fresh.compressed.compressions(), 0);
        // The plain file's validator asked with br: the compressed copy (made now) is sent.
        let plain = ask(&fresh, "GET", &text, &[])
            .header("etag")
            .unwrap()
            .to_string();
        let r = ask(
            &fresh,
            "GET",
            &text,
            &[("Accept-Encoding", "br"), ("If-None-Match", &plain)],
        );
        assert_eq!((r.status, r.header("content-encoding")), (200, Some("br")));
    }
}
