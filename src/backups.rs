//! Daily backups kept in the data dir: once a day a thread copies `cc.db` to
//! `<data-dir>/backups/cc-YYYY-MM-DD.db` (SQLite's online backup, as `cc-server backup` does)
//! and deletes all but the newest N. A backup is a copy of the database only; site files are
//! in `sites/` (README: Backup and restore).

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::store;

/// How often the thread looks whether today's backup exists.
const CHECK_EVERY: Duration = Duration::from_secs(3600);
/// The first look, a little after start so it never competes with the start itself.
const FIRST_CHECK: Duration = Duration::from_secs(2);

/// The running backup thread; dropping the sender stops it.
pub struct DailyBackups {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl DailyBackups {
    /// Starts the thread, or `None` when `keep` is 0 (daily backups off).
    pub fn start(data_dir: &Path, keep: u32) -> Option<DailyBackups> {
        if keep == 0 {
            return None;
        }
        let (stop, rx) = channel();
        let dir = data_dir.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("backups".into())
            .spawn(move || run(&dir, keep, rx))
            .ok()?;
        Some(DailyBackups { stop, thread })
    }

    pub fn finish(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

fn run(data_dir: &Path, keep: u32, stop: Receiver<()>) {
    let mut wait = FIRST_CHECK;
    loop {
        match stop.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        if let Err(e) = backup_today(data_dir, keep) {
            eprintln!("backups: {e}");
        }
        wait = CHECK_EVERY;
    }
}

/// Takes today's backup if it is missing, then keeps only the newest `keep`.
pub fn backup_today(data_dir: &Path, keep: u32) -> Result<Option<PathBuf>, String> {
    let dir = data_dir.join("backups");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let target = dir.join(format!("cc-{}.db", crate::calendar::today_utc()));
    let made = if target.exists() {
        None
    } else {
        let bytes = store::backup::backup(data_dir, &target, false).map_err(|e| e.to_string())?;
        eprintln!(
            "backups: wrote {} ({} KB)",
            target.display(),
            bytes.div_ceil(1024)
        );
        Some(target)
    };
    for old in expired(&dir, keep as usize) {
        if let Err(e) = std::fs::remove_file(&old) {
            eprintln!("backups: cannot delete {}: {e}", old.display());
        }
    }
    Ok(made)
}

/// The daily backup files beyond the newest `keep` (names sort by date).
fn expired(dir: &Path, keep: usize) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(is_daily_name)
        })
        .collect();
    files.sort();
    let n = files.len().saturating_sub(keep);
    files.truncate(n);
    files
}

/// `cc-YYYY-MM-DD.db`: only files this module wrote are ever deleted.
fn is_daily_name(name: &str) -> bool {
    let Some(date) = name.strip_prefix("cc-").and_then(|n| n.strip_suffix(".db")) else {
        return false;
    };
    date.len() == 10
        && date.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_daily_names_and_only_the_oldest_go() {
        assert!(is_daily_name("cc-2026-11-27.db"));
        for other in [
            "cc-2026-11-27.db.tmp",
            "mine.db",
            "cc-latest.db",
            "cc-2026-1-27.db",
        ] {
            assert!(!is_daily_name(other), "{other}");
        }
        let dir = tempfile::tempdir().unwrap();
        for d in ["01", "02", "03", "04"] {
            std::fs::write(dir.path().join(format!("cc-2026-11-{d}.db")), "x").unwrap();
        }
        std::fs::write(dir.path().join("keep-me.db"), "x").unwrap();
        let gone: Vec<_> = expired(dir.path(), 2)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(gone, ["cc-2026-11-01.db", "cc-2026-11-02.db"]);
    }
}
