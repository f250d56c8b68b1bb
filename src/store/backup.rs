//! `cc-server backup`: a consistent copy of `cc.db` taken while the server runs, with SQLite's
//! online backup API. The copy is written beside the target under a temporary name, checked with
//! `PRAGMA integrity_check` and renamed into place only when complete, so the target is never a
//! half-written file. Nothing here writes to the source database or creates the data dir.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

/// Pages copied per step (256 × 4 KiB = 1 MiB) and the pause after each: a large database is
/// copied in slices, so the server's own reads and writes keep getting the disk (an SD card on
/// a Pi is slow) instead of waiting behind one long copy.
const PAGES_PER_STEP: i32 = 256;
const PAUSE: Duration = Duration::from_millis(5);
/// How long a step may keep answering "busy" before the backup gives up.
const BUSY_PATIENCE: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub enum BackupError {
    /// The data dir does not exist.
    NoDataDir(PathBuf),
    /// The data dir has no cc.db.
    NoDatabase(PathBuf),
    /// The target exists and `--force` was not given.
    Exists(PathBuf),
    /// The target has no file name (e.g. `/` or `..`) or is a folder.
    NotAFile(PathBuf),
    /// The folder the target would go in does not exist.
    NoFolder(PathBuf),
    Io(String, std::io::Error),
    Sqlite(String, rusqlite::Error),
    /// The copy failed `PRAGMA integrity_check`; its first complaints.
    Corrupt(Vec<String>),
}

impl fmt::Display for BackupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackupError::NoDataDir(d) => write!(
                f,
                "the data dir {} does not exist (give the server's --data-dir or CC_DATA_DIR)",
                d.display()
            ),
            BackupError::NoDatabase(p) => write!(
                f,
                "there is no database at {} (is this the server's data dir?)",
                p.display()
            ),
            BackupError::Exists(p) => write!(
                f,
                "{} already exists; nothing was written (add --force to replace it)",
                p.display()
            ),
            BackupError::NotAFile(p) => write!(
                f,
                "'{}' is a folder, not a file name (e.g. give {})",
                p.display(),
                p.join("cc-backup.db").display()
            ),
            BackupError::NoFolder(p) => write!(f, "the folder {} does not exist", p.display()),
            BackupError::Io(what, e) => write!(f, "{what}: {e}"),
            BackupError::Sqlite(what, e) => write!(f, "{what}: {e}"),
            BackupError::Corrupt(problems) => write!(
                f,
                "the copy failed its integrity check, so it was not kept: {}",
                problems.join("; ")
            ),
        }
    }
}

impl std::error::Error for BackupError {}

/// Copies `<data_dir>/cc.db` to `target` (mode 0600) and returns the copy's size in bytes.
pub fn backup(data_dir: &Path, target: &Path, force: bool) -> Result<u64, BackupError> {
    if !data_dir.is_dir() {
        return Err(BackupError::NoDataDir(data_dir.to_path_buf()));
    }
    let source = data_dir.join("cc.db");
    if !source.is_file() {
        return Err(BackupError::NoDatabase(source));
    }
    let name = match target.file_name() {
        Some(name) if !target.is_dir() => name,
        _ => return Err(BackupError::NotAFile(target.to_path_buf())),
    };
    if !force && target.symlink_metadata().is_ok() {
        return Err(BackupError::Exists(target.to_path_buf()));
    }
    let folder = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !folder.is_dir() {
        return Err(BackupError::NoFolder(folder));
    }
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".tmp-{}", std::process::id()));
    let temp = TempFile::create(folder.join(temp_name))?;

    copy_into(&source, &temp.path)?;
    check(&temp.path)?;

    let file = File::open(&temp.path).map_err(|e| BackupError::Io(temp.describe(), e))?;
    file.sync_all()
        .map_err(|e| BackupError::Io(temp.describe(), e))?;
    let bytes = file
        .metadata()
        .map_err(|e| BackupError::Io(temp.describe(), e))?
        .len();
    drop(file);
    temp.rename_to(target, force)?;
    // Make the rename itself durable; some file systems cannot sync a folder, which is fine.
    if let Ok(dir) = File::open(&folder) {
        let _ = dir.sync_all();
    }
    Ok(bytes)
}

/// Runs the online backup from `source` into the (empty) file at `dest`.
fn copy_into(source: &Path, dest: &Path) -> Result<(), BackupError> {
    let sqlite = |what: &str| {
        let what = what.to_string();
        move |e| BackupError::Sqlite(what, e)
    };
    // Read-write without CREATE: a missing file is an error, never a new empty database, and
    // a read-only connection could not use the server's WAL index. Nothing is written.
    let src = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite(&format!("cannot open {}", source.display())))?;
    src.busy_timeout(Duration::from_secs(5))
        .map_err(sqlite("cc.db"))?;
    // One read transaction around the whole copy: every step reads the same WAL snapshot, so
    // the copy is one moment of the database, and the server's commits meanwhile (which only
    // append to the WAL) neither block it nor make SQLite restart it from the first page.
    src.execute_batch("BEGIN")
        .map_err(sqlite("cannot read cc.db"))?;
    src.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
        .map_err(sqlite(&format!("cannot read {}", source.display())))?;

    let mut dst = Connection::open(dest).map_err(sqlite("cannot open the copy"))?;
    // The copy is a scratch file until it is checked and renamed: no journal needed.
    dst.pragma_update(None, "journal_mode", "OFF")
        .and_then(|()| dst.pragma_update(None, "synchronous", "OFF"))
        .map_err(sqlite("cannot prepare the copy"))?;
    {
        let backup = Backup::new(&src, &mut dst).map_err(sqlite("cannot start the backup"))?;
        let mut busy = Duration::ZERO;
        loop {
            match backup
                .step(PAGES_PER_STEP)
                .map_err(sqlite("backup step failed"))?
            {
                StepResult::Done => break,
                StepResult::More => busy = Duration::ZERO,
                // Busy, Locked (and whatever a later rusqlite adds): wait and try again.
                _ => {
                    busy += PAUSE;
                    if busy > BUSY_PATIENCE {
                        return Err(BackupError::Sqlite(
                            "backup".into(),
                            rusqlite::Error::SqliteFailure(
                                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                                Some("cc.db stayed locked for 10 s".into()),
                            ),
                        ));
                    }
                }
            }
            std::thread::sleep(PAUSE);
        }
    }
    src.execute_batch("COMMIT")
        .map_err(sqlite("cannot finish reading cc.db"))?;
    // The pages carry the server's WAL mode; a backup is better as one self-contained file
    // (the server switches it back to WAL when it opens it after a restore).
    dst.pragma_update(None, "journal_mode", "DELETE")
        .map_err(sqlite("cannot finish the copy"))?;
    dst.close()
        .map_err(|(_, e)| BackupError::Sqlite("cannot close the copy".into(), e))
}

/// `PRAGMA integrity_check` on the copy: the single row `ok`, or the problems it lists.
fn check(copy: &Path) -> Result<(), BackupError> {
    let sqlite = |e| BackupError::Sqlite("cannot check the copy".into(), e);
    let conn = Connection::open_with_flags(
        copy,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite)?;
    let mut stmt = conn.prepare("PRAGMA integrity_check(20)").map_err(sqlite)?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(sqlite)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sqlite)?;
    if rows == ["ok"] {
        Ok(())
    } else {
        Err(BackupError::Corrupt(rows))
    }
}

/// The scratch copy beside the target: created 0600 (never readable by others, even for an
/// instant), removed again unless it was renamed into place.
struct TempFile {
    path: PathBuf,
    kept: bool,
}

impl TempFile {
    fn create(path: PathBuf) -> Result<TempFile, BackupError> {
        // A leftover from an earlier run with the same process id (a crash) is ours to replace.
        let _ = std::fs::remove_file(&path);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| BackupError::Io(format!("cannot create {}", path.display()), e))?;
        Ok(TempFile { path, kept: false })
    }

    fn describe(&self) -> String {
        format!("the copy {}", self.path.display())
    }

    /// Renames the copy to `target`; without `force`, never over an existing file, even one
    /// that appeared while the copy was made.
    fn rename_to(mut self, target: &Path, force: bool) -> Result<(), BackupError> {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        let failed = |e: std::io::Error| {
            BackupError::Io(format!("cannot rename the copy to {}", target.display()), e)
        };
        if force {
            std::fs::rename(&self.path, target).map_err(failed)?;
        } else {
            match renameat_with(CWD, &self.path, CWD, target, RenameFlags::NOREPLACE) {
                Ok(()) => {}
                Err(rustix::io::Errno::EXIST) => {
                    return Err(BackupError::Exists(target.to_path_buf()));
                }
                // File systems without RENAME_NOREPLACE (NFS, some FUSE): check, then rename.
                Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
                    if target.symlink_metadata().is_ok() {
                        return Err(BackupError::Exists(target.to_path_buf()));
                    }
                    std::fs::rename(&self.path, target).map_err(failed)?;
                }
                Err(e) => return Err(failed(e.into())),
            }
        }
        self.kept = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn data_dir_with_rows(rows: usize) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open(&dir.path().join("cc.db")).unwrap();
        for i in 0..rows {
            crate::store::settings::set(&conn, &format!("k{i}"), &"x".repeat(1000)).unwrap();
        }
        dir
    }

    #[test]
    fn a_copy_has_the_rows_is_private_and_self_contained() {
        let data = data_dir_with_rows(3000);
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("cc-backup.db");
        let bytes = backup(data.path(), &target, false).unwrap();
        assert!(bytes > 3_000_000, "{bytes}");
        assert_eq!(std::fs::metadata(&target).unwrap().len(), bytes);
        let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let copy = Connection::open(&target).unwrap();
        let n: i64 = copy
            .query_row("SELECT count(*) FROM settings", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 3000);
        let mode: String = copy
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete");
        drop(copy);
        // Only the copy is left: no scratch file, journal or WAL beside it.
        let names: Vec<_> = std::fs::read_dir(out.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["cc-backup.db"]);
    }

    /// Another connection commits every millisecond or so during the copy (as the server
    /// does): the copy still finishes, and it is one snapshot — each transaction wrote an
    /// `a` and a `b` row, so a copy with different counts would mix two moments.
    #[test]
    fn a_copy_under_constant_writes_finishes_and_is_one_snapshot() {
        let data = data_dir_with_rows(3000);
        let db = data.path().join("cc.db");
        let stop = std::sync::atomic::AtomicBool::new(false);
        let done = std::sync::atomic::AtomicUsize::new(0);
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("b.db");
        let commits = std::thread::scope(|scope| {
            let writer = scope.spawn(|| {
                let conn = crate::store::open(&db).unwrap();
                let mut i: i64 = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    conn.execute_batch(&format!(
                        "BEGIN IMMEDIATE;
                         INSERT INTO settings VALUES ('a{i}', '{0}');
                         INSERT INTO settings VALUES ('b{i}', '{0}');
                         COMMIT;",
                        "y".repeat(2000)
                    ))
                    .unwrap();
                    i += 1;
                    done.store(i as usize, std::sync::atomic::Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(1));
                }
                i
            });
            // Some commits first, however slow the machine is today.
            while done.load(std::sync::atomic::Ordering::Relaxed) < 5 {
                std::thread::sleep(Duration::from_millis(5));
            }
            backup(data.path(), &target, false).unwrap();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            writer.join().unwrap()
        });
        let copy = Connection::open(&target).unwrap();
        let count = |prefix: &str| -> i64 {
            copy.query_row(
                "SELECT count(*) FROM settings WHERE key LIKE ?1 || '%'",
                [prefix],
                |r| r.get(0),
            )
            .unwrap()
        };
        let (a, b) = (count("a"), count("b"));
        assert_eq!(a, b, "the copy mixes two moments");
        assert!(a > 0 && a < commits, "a={a} of {commits} commits");
    }

    #[test]
    fn a_file_that_is_not_a_database_leaves_no_copy() {
        let data = tempfile::tempdir().unwrap();
        std::fs::write(data.path().join("cc.db"), vec![7u8; 8192]).unwrap();
        let out = tempfile::tempdir().unwrap();
        let err = backup(data.path(), &out.path().join("b.db"), false).unwrap_err();
        assert!(err.to_string().contains("not a database"), "{err}");
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
    }
}
