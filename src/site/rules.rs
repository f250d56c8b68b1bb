//! A site's rule files — `_redirects` and `_headers` — compiled once and kept per site (with
//! the fact that its folder exists), and the check a deploy makes of them before a folder goes
//! live. A folder and its rule files are looked at again at most once a second (a folder
//! edited by hand shows its new rules within a second) and at once after a deploy, a rollback
//! or a teardown (`forget`). Never decides what a request gets:
//! `site` asks it for the compiled tables and applies them.

use std::collections::HashMap;
use std::fs::Metadata;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::cache::Identity;
use super::headers_file::HeaderRules;
use super::path::config_file;
use super::redirects::Redirects;

/// Rule files larger than this are refused at deploy and ignored in a hand-made folder.
pub const MAX_RULE_FILE: u64 = 4 * 1024 * 1024;
/// How long a site's compiled rules are used before its rule files are looked at again.
const RECHECK: Duration = Duration::from_secs(1);

/// One site's compiled rules (empty tables when it has no rule files).
pub struct SiteRules {
    pub redirects: Redirects,
    pub headers: HeaderRules,
}

impl SiteRules {
    fn empty() -> SiteRules {
        SiteRules {
            redirects: Redirects::parse("").expect("an empty _redirects parses"),
            headers: HeaderRules::parse("").expect("an empty _headers parses"),
        }
    }
}

/// The rules of every site asked for recently.
#[derive(Default)]
pub struct RuleCache {
    sites: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    rules: Arc<SiteRules>,
    /// What the two rule files were when compiled (`None`: absent).
    stamp: [Option<Identity>; 2],
    checked: Instant,
}

impl RuleCache {
    /// The rules of `site` (folder `root`), or `None` when there is no such folder. A broken
    /// rule file in a folder made by hand is logged once per version and ignored: the site is
    /// served as if it had none. Within a second of the last look, this costs no `stat`.
    pub fn get(&self, site: &str, root: &Path) -> Option<Arc<SiteRules>> {
        if let Some(e) = self.sites.lock().unwrap().get_mut(site)
            && e.checked.elapsed() < RECHECK
        {
            return Some(e.rules.clone());
        }
        if !root.is_dir() {
            // Nothing is kept for names that are not folders (they cost one stat each).
            self.sites.lock().unwrap().remove(site);
            return None;
        }
        let files = [
            config_file(root, "_redirects"),
            config_file(root, "_headers"),
        ];
        let stamp = files
            .each_ref()
            .map(|f| f.as_ref().map(|(_, m)| Identity::of(m)));
        if let Some(e) = self.sites.lock().unwrap().get_mut(site)
            && e.stamp == stamp
        {
            e.checked = Instant::now();
            return Some(e.rules.clone());
        }
        let rules = Arc::new(match compile(&files) {
            Ok(rules) => rules,
            Err(why) => {
                crate::log_writer::line(&format!(
                    "cc-server: site '{site}': {why}; its rule files are ignored until that is fixed\n"
                ));
                SiteRules::empty()
            }
        });
        self.sites.lock().unwrap().insert(
            site.to_string(),
            Entry {
                rules: rules.clone(),
                stamp,
                checked: Instant::now(),
            },
        );
        Some(rules)
    }

    /// Drops what is kept for `site`: its folder was just replaced or removed.
    pub fn forget(&self, site: &str) {
        self.sites.lock().unwrap().remove(site);
    }
}

/// Checks the rule files of a folder about to go live; the error names the file and line.
pub fn check_folder(root: &Path) -> Result<(), String> {
    let files = [
        config_file(root, "_redirects"),
        config_file(root, "_headers"),
    ];
    compile(&files).map(|_| ())
}

fn compile(files: &[Option<(std::path::PathBuf, Metadata)>; 2]) -> Result<SiteRules, String> {
    let mut rules = SiteRules::empty();
    if let Some((path, meta)) = &files[0] {
        let text = read_rule_file(path, meta, "_redirects")?;
        rules.redirects = Redirects::parse(&text).map_err(|e| e.to_string())?;
    }
    if let Some((path, meta)) = &files[1] {
        let text = read_rule_file(path, meta, "_headers")?;
        rules.headers = HeaderRules::parse(&text).map_err(|e| e.to_string())?;
    }
    Ok(rules)
}

fn read_rule_file(path: &Path, meta: &Metadata, name: &str) -> Result<String, String> {
    if meta.len() > MAX_RULE_FILE {
        return Err(format!(
            "{name} is {} KiB, over the {} KiB a rule file may be",
            meta.len() / 1024,
            MAX_RULE_FILE / 1024
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_RULE_FILE + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("{name} cannot be read: {e}"))?;
    String::from_utf8(bytes).map_err(|_| format!("{name} is not UTF-8 text"))
}
