//! Putting a staged folder live in one atomic step, and keeping the folder it replaced.
//! On Linux `renameat2(RENAME_EXCHANGE)` swaps two folders at once, so a request sees the whole
//! old site or the whole new one, never a mix and never nothing. Where the filesystem cannot
//! exchange, two renames are used (a moment with no site, never a mix).

use std::fs;
use std::io;
use std::path::Path;

use rustix::fs::{CWD, RenameFlags, renameat_with};

/// Swaps the folders at `a` and `b` (both must exist).
pub fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    match renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {
            // Filesystem or kernel without RENAME_EXCHANGE: a rename pair through a side name.
            let side = a.with_extension("exchange");
            fs::rename(a, &side)?;
            fs::rename(b, a)?;
            fs::rename(&side, b)
        }
        Err(e) => Err(e.into()),
    }
}

/// Makes `staged` the live folder `live`; what was live (if anything) ends up at `previous`
/// (replacing an older previous). `staged` is gone afterwards.
pub fn publish(staged: &Path, live: &Path, previous: &Path) -> io::Result<()> {
    if fs::symlink_metadata(live).is_err() {
        return fs::rename(staged, live);
    }
    exchange(staged, live)?;
    // The new site is live from here on, and `staged` holds the old one. Keeping it as the
    // rollback target is best effort: a failure must neither undo the deploy nor delete the
    // old files (they stay in staging until the next start).
    let keep = || -> io::Result<()> {
        if fs::symlink_metadata(previous).is_ok() {
            remove_any(previous)?;
        }
        fs::rename(staged, previous)
    };
    if let Err(e) = keep() {
        eprintln!(
            "deploy: the previous version could not be kept for rollback ({e}); it stays in {}",
            staged.display()
        );
    }
    Ok(())
}

/// Removes a folder tree, or a symlink itself (never what it points to).
pub fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_then_exchange_back() {
        let t = tempfile::tempdir().unwrap();
        let (staged, live, prev) = (
            t.path().join("s"),
            t.path().join("live"),
            t.path().join("prev"),
        );
        let make = |p: &Path, v: &str| {
            fs::create_dir(p).unwrap();
            fs::write(p.join("v"), v).unwrap();
        };
        make(&staged, "1");
        publish(&staged, &live, &prev).unwrap();
        assert_eq!(fs::read_to_string(live.join("v")).unwrap(), "1");
        make(&staged, "2");
        publish(&staged, &live, &prev).unwrap();
        assert_eq!(fs::read_to_string(live.join("v")).unwrap(), "2");
        assert_eq!(fs::read_to_string(prev.join("v")).unwrap(), "1");
        assert!(!staged.exists());
        exchange(&prev, &live).unwrap();
        assert_eq!(fs::read_to_string(live.join("v")).unwrap(), "1");
        assert_eq!(fs::read_to_string(prev.join("v")).unwrap(), "2");
    }
}
