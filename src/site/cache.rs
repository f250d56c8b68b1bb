//! Site files kept between requests, so a hot file costs the one `stat` that `path::lookup`
//! already made: a small file's bytes (instead of open, stat, read and close), and a large
//! file's open descriptor (instead of open, stat and close; its bytes go out by sendfile). An
//! entry is used only while the name still shows the very same file (device, inode, size,
//! modification and change times), so a deploy or an edit by hand is seen on the next
//! request. The cache never decides what may be served — `path::lookup` does that before the
//! cache is asked — and it is bounded in bytes, in open files, and in time: an open file
//! nobody asked for in a few seconds is closed, so a file deleted by a deploy frees its disk.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::compress::Compressed;

/// Files up to this size are kept in memory (larger ones go out by sendfile, straight from
/// the disk).
pub const MAX_FILE: u64 = 32 * 1024 - 1;
/// All entries' bytes together stay under this; past it, other entries make room.
const BUDGET: usize = 8 * 1024 * 1024;
/// At most this many large files are held open.
const MAX_OPEN: usize = 256;
/// How often the sweeper looks for open files nobody asked for.
const SWEEP_EVERY: Duration = Duration::from_secs(2);
/// An open file unused for this many sweeps is closed.
const IDLE_SWEEPS: u64 = 3;

/// Which version of a file an entry holds: a file changed in place changes its times, and a
/// file replaced by a deploy is another inode.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Identity {
    pub fn of(meta: &Metadata) -> Identity {
        Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// The file's size in bytes.
    pub fn file_len(&self) -> u64 {
        self.len
    }

    /// True when the file's last change is more than a second old. File times come from a
    /// coarse clock (a few ms): a second write within the same tick, of the same length, would
    /// leave a newer file looking like the cached one. A file changed that recently is not
    /// kept in memory (git's "racy index" rule). An open file needs no such rule: its bytes
    /// are read from the disk at each request.
    fn settled(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.ctime.0 + 1 < now
    }
}

/// Where a kept file's bytes are.
pub enum Content {
    /// The whole small file.
    Bytes(Arc<[u8]>),
    /// A large file, open; read by position (sendfile or pread), never by its cursor.
    Open(Arc<File>),
}

/// One file version's content and the validators computed once for it.
pub struct Cached {
    pub identity: Identity,
    pub content: Content,
    pub etag: String,
    pub last_modified: String,
    pub modified: std::time::SystemTime,
    /// The sweep count when this entry was last asked for.
    used: AtomicU64,
}

impl Cached {
    pub fn new(
        identity: Identity,
        content: Content,
        etag: String,
        last_modified: String,
        modified: std::time::SystemTime,
    ) -> Cached {
        Cached {
            identity,
            content,
            etag,
            last_modified,
            modified,
            used: AtomicU64::new(0),
        }
    }

    /// The bytes this entry holds in memory (0 for an open file).
    fn held(&self) -> usize {
        match &self.content {
            Content::Bytes(b) => b.len(),
            Content::Open(_) => 0,
        }
    }

    fn is_open(&self) -> bool {
        matches!(self.content, Content::Open(_))
    }
}

pub struct FileCache {
    inner: Mutex<Inner>,
    /// The files' brotli and gzip copies.
    pub compressed: Compressed,
    /// How many sweeps have run: the coarse clock of `Cached::used`.
    sweeps: AtomicU64,
    /// False when no sweeper runs: open files are then never kept, or they could outlive
    /// the deploy that removed them.
    keeps_open: bool,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<PathBuf, Arc<Cached>>,
    bytes: usize,
    open: usize,
}

impl FileCache {
    fn empty(keeps_open: bool) -> FileCache {
        FileCache {
            inner: Mutex::new(Inner::default()),
            compressed: Compressed::default(),
            sweeps: AtomicU64::new(0),
            keeps_open,
        }
    }

    /// A cache with its sweeper thread, which ends when the cache is dropped.
    pub fn start() -> Arc<FileCache> {
        let cache = Arc::new(FileCache::empty(true));
        let weak: Weak<FileCache> = Arc::downgrade(&cache);
        let spawned = std::thread::Builder::new()
            .name("file-cache".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                loop {
                    std::thread::sleep(SWEEP_EVERY);
                    match weak.upgrade() {
                        Some(cache) => cache.sweep(),
                        None => return,
                    }
                }
            });
        if spawned.is_err() {
            return Arc::new(FileCache::empty(false));
        }
        cache
    }

    /// The entry for `path` if it still holds the file `seen` describes.
    pub fn get(&self, path: &Path, seen: &Metadata) -> Option<Arc<Cached>> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let hit = inner
            .entries
            .get(path)
            .filter(|c| c.identity == Identity::of(seen))
            .cloned();
        drop(inner);
        if let Some(hit) = &hit {
            hit.used.store(self.sweeps.load(Relaxed), Relaxed);
        }
        hit
    }

    /// Keeps `entry` for `path` (unless it is a small file changed a moment ago), replacing
    /// an older version and making room if needed.
    pub fn insert(&self, path: &Path, entry: Cached) -> Arc<Cached> {
        let entry = Arc::new(entry);
        let size = entry.held() + path.as_os_str().len();
        let keep = if entry.is_open() {
            self.keeps_open
        } else {
            size <= BUDGET && entry.identity.settled()
        };
        if !keep {
            return entry;
        }
        entry.used.store(self.sweeps.load(Relaxed), Relaxed);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.remove(path);
        // Whichever entries the map yields first make room: cheap, and a client asking for
        // many different files only turns hits into the reads they would be without a cache.
        let opening = usize::from(entry.is_open());
        while inner.bytes + size > BUDGET || inner.open + opening > MAX_OPEN {
            let Some(victim) = inner.entries.keys().next().cloned() else {
                break;
            };
            inner.remove(&victim);
        }
        inner.bytes += size;
        inner.open += opening;
        inner.entries.insert(path.to_path_buf(), entry.clone());
        entry
    }

    /// Closes the open files nobody asked for in the last few sweeps.
    fn sweep(&self) {
        let now = self.sweeps.fetch_add(1, Relaxed) + 1;
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let idle: Vec<PathBuf> = inner
            .entries
            .iter()
            .filter(|(_, c)| c.is_open() && c.used.load(Relaxed) + IDLE_SWEEPS <= now)
            .map(|(p, _)| p.clone())
            .collect();
        for path in idle {
            inner.remove(&path);
        }
    }

    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        self.inner.lock().unwrap().bytes
    }

    #[cfg(test)]
    fn held_open(&self) -> usize {
        self.inner.lock().unwrap().open
    }
}

impl Inner {
    fn remove(&mut self, path: &Path) {
        if let Some(old) = self.entries.remove(path) {
            self.bytes -= old.held() + path.as_os_str().len();
            self.open -= usize::from(old.is_open());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(meta: &Metadata, bytes: Vec<u8>) -> Cached {
        entry_of(Identity::of(meta), Content::Bytes(bytes.into()))
    }

    fn entry_of(identity: Identity, content: Content) -> Cached {
        Cached::new(
            identity,
            content,
            String::new(),
            String::new(),
            std::time::UNIX_EPOCH,
        )
    }

    fn bytes_of(c: &Cached) -> &[u8] {
        match &c.content {
            Content::Bytes(b) => b,
            Content::Open(_) => panic!("an open file"),
        }
    }

    fn synthetic(ino: u64, len: u64) -> Identity {
        Identity {
            dev: 1,
            ino,
            len,
            mtime: (0, 0),
            ctime: (0, 0),
        }
    }

    #[test]
    fn an_entry_serves_only_the_version_it_was_read_from() {
        let dir = std::env::temp_dir().join(format!("cc-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("a.html");
        std::fs::write(&file, "one").unwrap();
        let cache = FileCache::empty(true);
        let meta = std::fs::metadata(&file).unwrap();
        cache.insert(&file, entry(&meta, b"one".to_vec()));
        assert!(cache.get(&file, &meta).is_none(), "changed a moment ago");
        std::thread::sleep(std::time::Duration::from_millis(2100));
        cache.insert(&file, entry(&meta, b"one".to_vec()));
        assert_eq!(bytes_of(&cache.get(&file, &meta).unwrap()), b"one");

        // Replaced the way a deploy does it (a new inode), and edited in place.
        std::fs::write(dir.join("b.html"), "two").unwrap();
        std::fs::rename(dir.join("b.html"), &file).unwrap();
        assert!(
            cache
                .get(&file, &std::fs::metadata(&file).unwrap())
                .is_none()
        );
        std::fs::write(&file, "2wo").unwrap();
        assert!(
            cache
                .get(&file, &std::fs::metadata(&file).unwrap())
                .is_none()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_budget_holds() {
        let cache = FileCache::empty(true);
        for i in 0..1000 {
            let path = PathBuf::from(format!("/site/file-{i}"));
            let bytes = vec![0; MAX_FILE as usize];
            cache.insert(
                &path,
                entry_of(synthetic(i, MAX_FILE), Content::Bytes(bytes.into())),
            );
            assert!(cache.held_bytes() <= BUDGET);
        }
        assert!(cache.held_bytes() > BUDGET / 2);
    }

    #[test]
    fn open_files_are_bounded_in_number_and_closed_when_idle() {
        let cache = FileCache::empty(true);
        let file = Arc::new(File::open("/dev/null").unwrap());
        for i in 0..(MAX_OPEN as u64 + 50) {
            let path = PathBuf::from(format!("/site/big-{i}"));
            cache.insert(
                &path,
                entry_of(synthetic(i, 1 << 20), Content::Open(file.clone())),
            );
            assert!(cache.held_open() <= MAX_OPEN);
        }
        assert_eq!(cache.held_open(), MAX_OPEN);
        // Everything is idle but one file, asked for before each sweep.
        let kept = cache
            .inner
            .lock()
            .unwrap()
            .entries
            .keys()
            .next()
            .cloned()
            .unwrap();
        let seen = |p: &Path| {
            let inner = cache.inner.lock().unwrap();
            inner.entries.get(p).map(|c| c.identity)
        };
        let identity = seen(&kept).unwrap();
        for _ in 0..IDLE_SWEEPS + 1 {
            let inner = cache.inner.lock().unwrap();
            let hit = inner.entries.get(&kept).cloned().unwrap();
            drop(inner);
            hit.used.store(cache.sweeps.load(Relaxed), Relaxed);
            cache.sweep();
        }
        assert_eq!(cache.held_open(), 1);
        assert!(seen(&kept) == Some(identity));
        for _ in 0..IDLE_SWEEPS {
            cache.sweep();
        }
        assert_eq!(cache.held_open(), 0);
        assert_eq!(cache.held_bytes(), 0);
        // The last holder of the descriptor is the test: the cache let go of every copy.
        assert_eq!(Arc::strong_count(&file), 1);
    }

    #[test]
    fn without_a_sweeper_no_file_is_kept_open() {
        let cache = FileCache::empty(false);
        let file = Arc::new(File::open("/dev/null").unwrap());
        cache.insert(
            Path::new("/site/big"),
            entry_of(synthetic(1, 1 << 20), Content::Open(file)),
        );
        assert_eq!(cache.held_open(), 0);
    }
}
