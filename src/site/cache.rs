//! Small site files kept in memory between requests, so a hot page costs the one `stat` that
//! `path::lookup` already made instead of open, stat, read and close. An entry is used only
//! while the name still shows the very same file (device, inode, size, modification and change
//! times), so a deploy or an edit by hand is seen on the next request. The cache never decides
//! what may be served — `path::lookup` does that before the cache is asked — and it is bounded
//! in bytes.

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Files up to this size are kept (larger ones go out by sendfile, straight from the disk).
pub const MAX_FILE: u64 = 32 * 1024 - 1;
/// All entries together stay under this; past it, other entries make room.
const BUDGET: usize = 8 * 1024 * 1024;

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
    /// kept (git's "racy index" rule).
    fn settled(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.ctime.0 + 1 < now
    }
}

/// One file's bytes and the validators computed once for them.
pub struct Cached {
    pub identity: Identity,
    pub bytes: Arc<[u8]>,
    pub etag: String,
    pub last_modified: String,
    pub modified: std::time::SystemTime,
}

#[derive(Default)]
pub struct FileCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<PathBuf, Arc<Cached>>,
    bytes: usize,
}

impl FileCache {
    /// The entry for `path` if it still holds the file `seen` describes.
    pub fn get(&self, path: &Path, seen: &Metadata) -> Option<Arc<Cached>> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .entries
            .get(path)
            .filter(|c| c.identity == Identity::of(seen))
            .cloned()
    }

    /// Keeps `entry` for `path` (unless its file changed a moment ago), replacing an older version and making room if needed.
    pub fn insert(&self, path: &Path, entry: Cached) -> Arc<Cached> {
        let entry = Arc::new(entry);
        let size = entry.bytes.len() + path.as_os_str().len();
        if size > BUDGET || !entry.identity.settled() {
            return entry;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = inner.entries.remove(path) {
            inner.bytes -= old.bytes.len() + path.as_os_str().len();
        }
        // Whichever entries the map yields first make room: cheap, and a client asking for
        // many different files only turns hits into the reads they would be without a cache.
        while inner.bytes + size > BUDGET {
            let Some(victim) = inner.entries.keys().next().cloned() else {
                break;
            };
            if let Some(old) = inner.entries.remove(&victim) {
                inner.bytes -= old.bytes.len() + victim.as_os_str().len();
            }
        }
        inner.bytes += size;
        inner.entries.insert(path.to_path_buf(), entry.clone());
        entry
    }

    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        self.inner.lock().unwrap().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(meta: &Metadata, bytes: Vec<u8>) -> Cached {
        Cached {
            identity: Identity::of(meta),
            ..entry_of(bytes)
        }
    }

    fn entry_of(bytes: Vec<u8>) -> Cached {
        Cached {
            identity: Identity {
                dev: 0,
                ino: 0,
                len: 0,
                mtime: (0, 0),
                ctime: (0, 0),
            },
            bytes: bytes.into(),
            etag: String::new(),
            last_modified: String::new(),
            modified: std::time::UNIX_EPOCH,
        }
    }

    #[test]
    fn an_entry_serves_only_the_version_it_was_read_from() {
        let dir = std::env::temp_dir().join(format!("cc-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("a.html");
        std::fs::write(&file, "one").unwrap();
        let cache = FileCache::default();
        let meta = std::fs::metadata(&file).unwrap();
        cache.insert(&file, entry(&meta, b"one".to_vec()));
        assert!(cache.get(&file, &meta).is_none(), "changed a moment ago");
        std::thread::sleep(std::time::Duration::from_millis(2100));
        cache.insert(&file, entry(&meta, b"one".to_vec()));
        assert_eq!(&*cache.get(&file, &meta).unwrap().bytes, b"one");

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
        let cache = FileCache::default();
        for i in 0..1000 {
            let path = PathBuf::from(format!("/site/file-{i}"));
            let identity = Identity {
                dev: 1,
                ino: i,
                len: MAX_FILE,
                mtime: (0, 0),
                ctime: (0, 0),
            };
            let bytes = vec![0; MAX_FILE as usize];
            cache.insert(
                &path,
                Cached {
                    identity,
                    ..entry_of(bytes)
                },
            );
            assert!(cache.held_bytes() <= BUDGET);
        }
        assert!(cache.held_bytes() > BUDGET / 2);
    }
}
