//! Deploying, rolling back and tearing down sites on disk. A deploy unpacks into
//! a staging folder and swaps it in atomically; the replaced folder is kept for one rollback.
//!
//! ```text
//! <data-dir>/sites/<site>/            live files
//! <data-dir>/deploy/previous/<site>/  the deployment before (rollback target)
//! <data-dir>/deploy/staging/          unpacking in progress (cleared at start)
//! <data-dir>/deploy/uploads/          zips being received (cleared at start)
//! ```

pub mod swap;
pub mod unpack;
pub mod upload;

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::ApiError;
use crate::secret;
use crate::site::{self, rules::RuleCache};
pub use unpack::Unpacked;

/// Deploy limits (defaults as the README's Limits list them).
#[derive(Debug, Clone)]
pub struct DeployLimits {
    pub max_upload: u64,
    pub max_unpacked: u64,
    pub max_files: u64,
    /// Disk one site may use: its live deployment, the previous one kept for rollback, and
    /// its `db` data; a deploy that would go past it is refused.
    pub max_site: u64,
}

impl Default for DeployLimits {
    fn default() -> Self {
        DeployLimits {
            max_upload: 100 * 1024 * 1024,
            max_unpacked: 500 * 1024 * 1024,
            max_files: 20_000,
            max_site: 1024 * 1024 * 1024,
        }
    }
}

/// The site folders and the per-site lock that keeps two changes of one site apart.
pub struct Sites {
    sites_dir: PathBuf,
    deploy_dir: PathBuf,
    pub limits: DeployLimits,
    busy: Mutex<HashSet<String>>,
    /// The sites' compiled rule files, shared with the request path: a site's entry is
    /// dropped when a change of it ends, so its new rules apply from the next request.
    pub rules: Arc<RuleCache>,
}

/// Held while a site is being changed; frees the site when dropped.
pub struct SiteLock<'a> {
    sites: &'a Sites,
    site: String,
}

impl Drop for SiteLock<'_> {
    fn drop(&mut self) {
        self.sites.rules.forget(&self.site);
        if let Ok(mut busy) = self.sites.busy.lock() {
            busy.remove(&self.site);
        }
    }
}

impl Sites {
    /// Prepares `<data-dir>/deploy/…` and removes what a crash left half-done.
    pub fn open(data_dir: &Path, limits: DeployLimits) -> io::Result<Sites> {
        let sites = Sites {
            sites_dir: data_dir.join("sites"),
            deploy_dir: data_dir.join("deploy"),
            limits,
            busy: Mutex::new(HashSet::new()),
            rules: Arc::default(),
        };
        for sub in ["staging", "uploads"] {
            let dir = sites.deploy_dir.join(sub);
            if dir.exists() {
                fs::remove_dir_all(&dir)?;
            }
        }
        for sub in ["staging", "uploads", "previous"] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(sites.deploy_dir.join(sub))?;
        }
        Ok(sites)
    }

    pub fn upload_dir(&self) -> PathBuf {
        self.deploy_dir.join("uploads")
    }

    pub fn live_dir(&self, site: &str) -> PathBuf {
        self.sites_dir.join(site)
    }

    /// True when a previous deployment is kept (so a rollback is possible).
    pub fn has_previous(&self, site: &str) -> bool {
        self.previous_dir(site).is_dir()
    }

    fn previous_dir(&self, site: &str) -> PathBuf {
        self.deploy_dir.join("previous").join(site)
    }

    /// Takes the site's lock, or answers 409 while another change of it is running.
    pub fn lock(&self, site: &str) -> Result<SiteLock<'_>, ApiError> {
        let mut busy = self
            .busy
            .lock()
            .map_err(|_| ApiError::Store("lock poisoned".into()))?;
        if !busy.insert(site.to_string()) {
            return Err(ApiError::Conflict(format!(
                "another deploy, rollback or teardown of '{site}' is in progress; try again when it ends"
            )));
        }
        Ok(SiteLock {
            sites: self,
            site: site.to_string(),
        })
    }

    /// Unpacks `zip` and makes it the live site. Needs the site's lock. `db_bytes` is what the
    /// site's `db` holds: with the new files and the live ones (kept for rollback) it must fit
    /// in the site's disk quota.
    /// `inspect` sees the unpacked folder before it goes live (its rule files are checked
    /// first): it may refuse the deploy, or change files in it (a plain-text `AUTH`).
    pub fn deploy<T>(
        &self,
        lock: &SiteLock<'_>,
        zip: &Path,
        db_bytes: u64,
        inspect: impl FnOnce(&Path) -> Result<T, ApiError>,
    ) -> Result<(Unpacked, T), ApiError> {
        let staging = self.deploy_dir.join("staging").join(format!(
            "{}-{}",
            lock.site,
            secret::hex(&secret::random_bytes::<6>())
        ));
        let result = unpack::unpack(zip, &staging, &self.limits).and_then(|unpacked| {
            site::rules::check_folder(&staging).map_err(ApiError::BadRequest)?;
            let inspected = inspect(&staging)?;
            let kept = measure(&self.live_dir(&lock.site)).bytes;
            let total = unpacked.bytes + kept + db_bytes;
            if total > self.limits.max_site {
                const MIB: u64 = 1024 * 1024;
                return Err(ApiError::TooLarge(format!(
                    "'{}' would use {} MiB of disk with this deploy ({} MiB new, {} MiB of the \
                     live deployment kept for rollback, {} MiB in its db), over its quota of {} MiB \
                     (--max-site-mb); make the site smaller or tear it down first",
                    lock.site,
                    total.div_ceil(MIB),
                    unpacked.bytes.div_ceil(MIB),
                    kept.div_ceil(MIB),
                    db_bytes.div_ceil(MIB),
                    self.limits.max_site / MIB
                )));
            }
            swap::publish(
                &staging,
                &self.live_dir(&lock.site),
                &self.previous_dir(&lock.site),
            )
            .map_err(ApiError::Io)?;
            Ok((unpacked, inspected))
        });
        if result.is_err() {
            let _ = swap::remove_any(&staging);
        }
        result
    }

    /// Swaps the live site with the previous deployment (a second rollback undoes the first).
    /// `inspect` sees the previous deployment's folder before it goes live, and may refuse.
    pub fn rollback<T>(
        &self,
        lock: &SiteLock<'_>,
        inspect: impl FnOnce(&Path) -> Result<T, ApiError>,
    ) -> Result<(Unpacked, T), ApiError> {
        let (live, previous) = (self.live_dir(&lock.site), self.previous_dir(&lock.site));
        if !previous.is_dir() {
            return Err(ApiError::NotFound(format!(
                "'{}' has no previous deployment to roll back to",
                lock.site
            )));
        }
        let inspected = inspect(&previous)?;
        if fs::symlink_metadata(&live).is_ok() {
            swap::exchange(&previous, &live).map_err(ApiError::Io)?;
        } else {
            fs::rename(&previous, &live).map_err(ApiError::Io)?;
        }
        Ok((measure(&live), inspected))
    }

    /// Removes the live files and the previous deployment. The live folder is first renamed
    /// away in one step, so requests see the whole site or none of it.
    pub fn teardown(&self, lock: &SiteLock<'_>) -> Result<(), ApiError> {
        let live = self.live_dir(&lock.site);
        if fs::symlink_metadata(&live).is_err() {
            return Err(ApiError::NotFound(format!(
                "there is no site '{}'",
                lock.site
            )));
        }
        let doomed = self.deploy_dir.join("staging").join(format!(
            "teardown-{}-{}",
            lock.site,
            secret::hex(&secret::random_bytes::<6>())
        ));
        fs::rename(&live, &doomed).map_err(ApiError::Io)?;
        swap::remove_any(&doomed).map_err(ApiError::Io)?;
        swap::remove_any(&self.previous_dir(&lock.site)).map_err(ApiError::Io)
    }

    /// Every site folder with a valid name, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.sites_dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.path().is_dir())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| crate::names::is_valid_site_name(n))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    pub fn measure(&self, site: &str) -> Unpacked {
        measure(&self.live_dir(site))
    }

    /// Bytes the site's previous deployment (kept for one rollback) holds on disk.
    pub fn previous_bytes(&self, site: &str) -> u64 {
        measure(&self.previous_dir(site)).bytes
    }

    /// The disk quota of one site (`--max-site-mb`), in bytes.
    pub fn quota(&self) -> u64 {
        self.limits.max_site
    }
}

/// Files and bytes under a folder (symlinks are not followed).
fn measure(dir: &Path) -> Unpacked {
    let mut total = Unpacked { files: 0, bytes: 0 };
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.filter_map(Result::ok) {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => {
                    total.files += 1;
                    total.bytes += e.metadata().map_or(0, |m| m.len());
                }
                _ => {}
            }
        }
    }
    total
}
