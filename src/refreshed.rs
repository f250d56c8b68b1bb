//! A value read from the database and read again at most every couple of seconds, or at once
//! after this server changed it: for the small tables the request path consults on every
//! request (protected sites, custom domains) that the CLI may change from another process.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long a value is used before it is read again.
const READ_EVERY: Duration = Duration::from_secs(2);

/// Read-locked on every request (many readers at once), write-locked only to read again.
pub struct Refreshed<T> {
    state: RwLock<(Option<Instant>, Arc<T>)>,
    /// False until a `load` has succeeded: the value is only the default until then.
    loaded: std::sync::atomic::AtomicBool,
}

impl<T: Default> Default for Refreshed<T> {
    fn default() -> Self {
        Refreshed {
            state: RwLock::new((None, Arc::default())),
            loaded: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl<T> Refreshed<T> {
    /// The value, read again with `load` when it is old. When `load` fails (the database
    /// is busy), the last value is kept: for a password table, failing open would publish a
    /// protected site.
    pub fn get(&self, load: impl FnOnce() -> Option<T>) -> Arc<T> {
        {
            let state = self.state.read().unwrap_or_else(|p| p.into_inner());
            if state.0.is_some_and(|at| at.elapsed() < READ_EVERY) {
                return state.1.clone();
            }
        }
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        // Another thread may have read it meanwhile.
        if state.0.is_none_or(|at| at.elapsed() >= READ_EVERY) {
            if let Some(value) = load() {
                state.1 = Arc::new(value);
                self.loaded
                    .store(true, std::sync::atomic::Ordering::Release);
                state.0 = Some(Instant::now());
            } else if self.loaded.load(std::sync::atomic::Ordering::Acquire) {
                state.0 = Some(Instant::now());
            }
        }
        state.1.clone()
    }

    /// `get`, or `None` while no `load` has ever succeeded (so a caller can fail closed).
    pub fn get_loaded(&self, load: impl FnOnce() -> Option<T>) -> Option<Arc<T>> {
        let value = self.get(load);
        self.loaded
            .load(std::sync::atomic::Ordering::Acquire)
            .then_some(value)
    }

    /// Reads the value again on the next `get`.
    pub fn changed(&self) {
        self.state.write().unwrap_or_else(|p| p.into_inner()).0 = None;
    }
}
