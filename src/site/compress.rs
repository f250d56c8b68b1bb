//! Compressed copies of site files, for clients that accept brotli or gzip: a precompressed
//! sibling (`app.js.br`, `app.js.gz`) when the site ships one, else the file compressed once
//! per version and kept in memory (bounded in bytes, overall and per site). Text types over
//! 1 KiB only: small or already-compressed files gain nothing. A version that does not shrink
//! is remembered as such (cheaply), and one file is compressed by one request at a time (the
//! others meanwhile get it as it is), so no request pays for a compression another already
//! paid for. Never decides whether a file may be served, and never compresses a range.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use super::cache::Identity;

/// Files smaller than this go out as they are: a compressed answer's headers would eat most
/// of the gain.
pub const MIN_SIZE: u64 = 1024;
/// Larger files are compressed only when the site ships a precompressed sibling: compressing
/// them on the fly would hold an HTTP worker too long.
pub const MAX_ON_THE_FLY: u64 = 1024 * 1024;
/// Larger precompressed siblings are not used (nor kept in memory).
pub const MAX_SIBLING: u64 = 4 * 1024 * 1024;
/// All compressed copies together stay under this; the oldest make room.
const BUDGET: usize = 32 * 1024 * 1024;
/// One site's copies stay under this (its own oldest make room), so no site can push all the
/// others' copies out.
const SITE_BUDGET: usize = BUDGET / 4;
/// What an entry costs besides its path and bytes (a "does not pay" entry has no bytes).
const ENTRY_COST: usize = 64;
/// Brotli's quality for on-the-fly copies. Any client can make the server compress a file
/// (once per version and encoding), so the cost of one compression must stay small on an HTTP
/// worker: 5 compresses a 1 MiB text file in about 10 ms, 9 in about 60 and 11 in over a
/// second, for a few percent of size. A site that wants the best ships `.br` siblings.
const BROTLI_QUALITY: u32 = 5;
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

/// The best encoding an `Accept-Encoding` value allows (RFC 9110 §12.5.3): the highest
/// q-value wins, brotli on a tie; `q=0` refuses; a coding not named takes the q-value of `*`
/// (so an explicit `gzip` beats `*;q=0`), and no `*` means it is not accepted.
pub fn preferred(accept_encoding: Option<&str>) -> Option<Encoding> {
    let header = accept_encoding?;
    let weight = |token: &str| -> Option<f32> {
        let mut star = None;
        for item in header.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let q = parts
                .filter_map(|p| p.split_once('='))
                .find(|(key, _)| key.trim().eq_ignore_ascii_case("q"))
                .map_or(Some(1.0), |(_, v)| v.trim().parse::<f32>().ok())
                .filter(|q| q.is_finite())
                .unwrap_or(0.0);
            if name.eq_ignore_ascii_case(token) {
                return Some(q);
            }
            if name == "*" && star.is_none() {
                star = Some(q);
            }
        }
        star
    };
    let mut best: Option<(Encoding, f32)> = None;
    for encoding in [Encoding::Brotli, Encoding::Gzip] {
        if let Some(q) = weight(encoding.token()).filter(|q| *q > 0.0)
            && best.is_none_or(|(_, b)| q > b)
        {
            best = Some((encoding, q));
        }
    }
    best.map(|(encoding, _)| encoding)
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
}

type Key = (PathBuf, Encoding);

/// What is known of one file in one encoding.
struct Entry {
    site: Arc<str>,
    /// The identity file's version this is about.
    identity: Identity,
    /// Set when the bytes came from a precompressed sibling: that file's version.
    sibling: Option<Identity>,
    /// `None`: compressing this version does not pay (it would not shrink).
    variant: Option<Arc<Variant>>,
    /// Bytes counted against the budgets.
    cost: usize,
    /// When it was kept: queue positions with another number are stale.
    seq: u64,
}

/// The compressed copies made or read so far.
#[derive(Default)]
pub struct Compressed {
    inner: Mutex<Inner>,
    /// Files being compressed right now.
    compressing: Mutex<HashSet<Key>>,
    /// Compressions done so far (for tests and curiosity).
    compressions: AtomicU64,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    /// Keeping order, oldest first, for making room (stale positions are skipped).
    order: VecDeque<(Key, u64)>,
    sites: HashMap<Arc<str>, Share>,
    bytes: usize,
    next_seq: u64,
}

/// One site's part of the cache.
#[derive(Default)]
struct Share {
    bytes: usize,
    entries: usize,
    order: VecDeque<(Key, u64)>,
}

/// A file marked as being compressed, unmarked when dropped (a panic included).
struct Compressing<'a>(&'a Mutex<HashSet<Key>>, Key);

impl Drop for Compressing<'_> {
    fn drop(&mut self) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.1);
    }
}

impl Compressed {
    /// `file` of `site` (whose version is `identity`) in `encoding`: a kept copy, the sibling,
    /// or — when `may_compress` — the bytes `read` gives compressed now. `None` when there is
    /// no such copy: compressing does not pay, the file is too large, another request is
    /// compressing it right now, or it is not kept and `may_compress` is false.
    pub fn get(
        &self,
        site: &str,
        file: &Path,
        identity: Identity,
        encoding: Encoding,
        may_compress: bool,
        read: impl FnOnce() -> Option<Arc<[u8]>>,
    ) -> Option<Arc<Variant>> {
        let key = (file.to_path_buf(), encoding);
        let sibling_path = sibling(file, encoding);
        let kept = {
            let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            inner
                .entries
                .get(&key)
                .filter(|e| e.identity == identity)
                .map(|e| (e.sibling, e.variant.clone()))
        };
        match kept {
            Some((None, variant)) => return variant,
            Some((Some(was), variant)) if sibling_identity(&sibling_path) == Some(was) => {
                return variant;
            }
            _ => {}
        }
        if !may_compress {
            return None;
        }
        if let Some((bytes, sibling)) = read_sibling(&sibling_path) {
            let variant = Arc::new(Variant { bytes });
            self.keep(site, key, identity, Some(sibling), Some(variant.clone()));
            return Some(variant);
        }
        if identity.file_len() > MAX_ON_THE_FLY {
            return None;
        }
        let _marked = {
            let mut compressing = self.compressing.lock().unwrap_or_else(|e| e.into_inner());
            if !compressing.insert(key.clone()) {
                return None; // as it is, this once
            }
            Compressing(&self.compressing, key.clone())
        };
        let plain = read()?;
        self.compressions.fetch_add(1, Relaxed);
        let variant = compress(&plain, encoding)
            .filter(|bytes| (bytes.len() as u64) < identity.file_len())
            .map(|bytes| {
                Arc::new(Variant {
                    bytes: bytes.into(),
                })
            });
        self.keep(site, key, identity, None, variant.clone());
        variant
    }

    /// How many times a file was compressed on the fly.
    pub fn compressions(&self) -> u64 {
        self.compressions.load(Relaxed)
    }

    fn keep(
        &self,
        site: &str,
        key: Key,
        identity: Identity,
        sibling: Option<Identity>,
        variant: Option<Arc<Variant>>,
    ) {
        let cost =
            key.0.as_os_str().len() + ENTRY_COST + variant.as_ref().map_or(0, |v| v.bytes.len());
        if cost > SITE_BUDGET {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.evict(&key);
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let site: Arc<str> = match inner.sites.get_key_value(site) {
            Some((name, _)) => name.clone(),
            None => Arc::from(site),
        };
        let share = inner.sites.entry(site.clone()).or_default();
        share.bytes += cost;
        share.entries += 1;
        share.order.push_back((key.clone(), seq));
        inner.bytes += cost;
        inner.order.push_back((key.clone(), seq));
        let entry = Entry {
            site: site.clone(),
            identity,
            sibling,
            variant,
            cost,
            seq,
        };
        inner.entries.insert(key, entry);
        // The site's own oldest make room for it, then everyone's oldest for the whole.
        while let Some(share) = inner.sites.get_mut(&site)
            && share.bytes > SITE_BUDGET
            && let Some(oldest) = share.order.pop_front()
        {
            inner.evict_if_live(&oldest);
        }
        while inner.bytes > BUDGET {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            inner.evict_if_live(&oldest);
        }
        inner.compact(&site);
    }
}

impl Inner {
    fn evict(&mut self, key: &Key) {
        let Some(entry) = self.entries.remove(key) else {
            return;
        };
        self.bytes -= entry.cost;
        if let Some(share) = self.sites.get_mut(&entry.site) {
            share.bytes -= entry.cost;
            share.entries -= 1;
            if share.entries == 0 {
                self.sites.remove(&entry.site);
            }
        }
    }

    fn evict_if_live(&mut self, (key, seq): &(Key, u64)) {
        if self.entries.get(key).is_some_and(|e| e.seq == *seq) {
            self.evict(key);
        }
    }

    /// Entries replaced in place leave stale positions in the queues: drop them once they
    /// dominate.
    fn compact(&mut self, site: &str) {
        let Inner {
            entries,
            order,
            sites,
            ..
        } = self;
        let live = |(key, seq): &(Key, u64)| entries.get(key).is_some_and(|e| e.seq == *seq);
        if order.len() > 2 * entries.len() + 64 {
            order.retain(live);
        }
        if let Some(share) = sites.get_mut(site)
            && share.order.len() > 2 * share.entries + 64
        {
            share.order.retain(live);
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
    if identity.file_len() > MAX_SIBLING {
        return None;
    }
    let mut bytes = Vec::with_capacity(identity.file_len() as usize);
    File::open(path)
        .ok()?
        .take(MAX_SIBLING)
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
        // q-values: the highest wins, brotli on a tie; the parameter name in any case.
        assert_eq!(
            preferred(Some("br;q=0.2, gzip;q=0.8")),
            Some(Encoding::Gzip)
        );
        assert_eq!(
            preferred(Some("gzip;q=0.5, br;q=0.5")),
            Some(Encoding::Brotli)
        );
        assert_eq!(preferred(Some("br;Q=0, gzip")), Some(Encoding::Gzip));
        assert_eq!(preferred(Some("br ; q = 0 , gzip")), Some(Encoding::Gzip));
        assert_eq!(preferred(Some("br;q=0, gzip;Q=0")), None);
        // A coding named beats `*`, either way.
        assert_eq!(preferred(Some("*;q=0, gzip")), Some(Encoding::Gzip));
        assert_eq!(preferred(Some("gzip, *;q=0")), Some(Encoding::Gzip));
        assert_eq!(preferred(Some("gzip;q=0, *")), Some(Encoding::Brotli));
        assert_eq!(preferred(Some("*;q=0.1, gzip;q=0.5")), Some(Encoding::Gzip));
        assert_eq!(preferred(Some("br;q=junk, gzip")), Some(Encoding::Gzip));
    }

    /// A file of `len` bytes in a temp dir, and its version.
    fn file(dir: &Path, name: &str, bytes: &[u8]) -> (PathBuf, Identity) {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let identity = Identity::of(&std::fs::metadata(&path).unwrap());
        (path, identity)
    }

    #[test]
    fn each_file_version_is_compressed_once_whether_it_pays_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let random: Vec<u8> = (0..MAX_ON_THE_FLY / 32)
            .flat_map(|_| crate::secret::random_bytes::<32>())
            .collect();
        let (noise, noise_id) = file(dir.path(), "noise.txt", &random);
        let (text, text_id) = file(dir.path(), "text.txt", &b"hello, world ".repeat(10_000));
        let c = Compressed::default();
        let read = |p: &Path| -> Option<Arc<[u8]>> { Some(std::fs::read(p).ok()?.into()) };
        for _ in 0..3 {
            let got = c.get("s", &noise, noise_id, Encoding::Brotli, true, || {
                read(&noise)
            });
            assert!(got.is_none(), "random bytes do not shrink");
        }
        assert_eq!(c.compressions(), 1);
        // Asked without the right to compress (a HEAD), a file not kept is not compressed.
        assert!(
            c.get("s", &text, text_id, Encoding::Gzip, false, || read(&text))
                .is_none()
        );
        assert_eq!(c.compressions(), 1);
        // While one request compresses a file, another gets none (it answers as the file is).
        let first = c.get("s", &text, text_id, Encoding::Brotli, true, || {
            let meanwhile = c.get("s", &text, text_id, Encoding::Brotli, true, || read(&text));
            assert!(meanwhile.is_none());
            read(&text)
        });
        assert!(first.unwrap().bytes.len() < 1000);
        assert_eq!(c.compressions(), 2);
        let again = c.get("s", &text, text_id, Encoding::Brotli, false, || None);
        assert!(again.is_some());
        assert_eq!(c.compressions(), 2);
    }

    #[test]
    fn one_site_cannot_take_the_whole_budget() {
        let dir = tempfile::tempdir().unwrap();
        let (path, identity) = file(dir.path(), "a.txt", b"x");
        let c = Compressed::default();
        let variant = |n: usize| {
            Some(Arc::new(Variant {
                bytes: vec![0; n].into(),
            }))
        };
        c.keep(
            "other",
            (path.clone(), Encoding::Gzip),
            identity,
            None,
            variant(1 << 20),
        );
        for i in 0..40 {
            let key = (dir.path().join(format!("{i}.txt")), Encoding::Brotli);
            c.keep("greedy", key, identity, None, variant(1 << 20));
            let inner = c.inner.lock().unwrap();
            assert!(inner.sites["greedy"].bytes <= SITE_BUDGET);
            assert!(inner.bytes <= BUDGET);
        }
        let inner = c.inner.lock().unwrap();
        assert!(inner.entries.contains_key(&(path, Encoding::Gzip)));
        assert!(inner.sites["greedy"].bytes > SITE_BUDGET / 2);
        assert!(inner.order.len() <= 2 * inner.entries.len() + 64);
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
