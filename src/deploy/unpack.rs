//! Checking and unpacking an uploaded zip into a fresh staging folder. Every entry is checked
//! before anything is written — no absolute paths, no `..`, no symlinks or device files, and
//! limits on count, size and compression ratio — and sizes are enforced again while writing,
//! because a zip's own size fields can lie.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::DeployLimits;
use crate::error::ApiError;

/// What a zip held once unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unpacked {
    pub files: u64,
    pub bytes: u64,
}

/// Above this size, an entry may not be more than `MAX_RATIO` times smaller compressed.
const RATIO_FLOOR: u64 = 1024 * 1024;
/// Above this total, the whole zip may not be more than `MAX_TOTAL_RATIO` times smaller
/// compressed: many entries each just under the per-entry check add up to a bomb too.
const TOTAL_RATIO_FLOOR: u64 = 16 * 1024 * 1024;
const MAX_TOTAL_RATIO: u64 = 100;
/// Deepest folder nesting and longest entry name accepted.
const MAX_DEPTH: usize = 32;
const MAX_NAME: usize = 1024;
const MAX_RATIO: u64 = 1000;

/// Unpacks `zip_path` into `dest` (which must not exist yet).
pub fn unpack(zip_path: &Path, dest: &Path, limits: &DeployLimits) -> Result<Unpacked, ApiError> {
    let file = File::open(zip_path).map_err(ApiError::Io)?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| ApiError::BadRequest(format!("'file' is not a readable zip archive: {e}")))?;
    // The zip library keeps one entry per name, so a repeated name would silently win or lose.
    if archive.has_duplicate_names() {
        return Err(ApiError::BadRequest(
            "the zip names the same entry twice".into(),
        ));
    }
    // Entries whose stated compressed sizes overlap each other (or run into the directory)
    // would make the packed-size ratio checks below count bytes that are not there.
    if archive.has_overlapping_entries().unwrap_or(true) {
        return Err(ApiError::BadRequest(
            "the zip's entries overlap each other or its directory (their sizes are wrong)".into(),
        ));
    }
    let plan = check_entries(&mut archive, limits)?;

    fs::create_dir(dest).map_err(ApiError::Io)?;
    let mut written = Unpacked { files: 0, bytes: 0 };
    for entry in plan {
        let target = dest.join(&entry.path);
        // A folder where a file already is (or the reverse) is the zip's fault: 400.
        let conflict = |e: io::Error| {
            ApiError::BadRequest(format!("entry '{}' cannot be written: {e}", entry.name))
        };
        if entry.is_dir {
            fs::create_dir_all(&target).map_err(conflict)?;
            continue;
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(conflict)?;
        }
        let mut zipped = archive.by_index(entry.index).map_err(|e| {
            ApiError::BadRequest(format!("entry '{}' cannot be read: {e}", entry.name))
        })?;
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true) // a duplicate entry name is an error, not an overwrite
            .open(&target)
            .map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => {
                    ApiError::BadRequest(format!("entry '{}' appears twice in the zip", entry.name))
                }
                _ => ApiError::BadRequest(format!("entry '{}' cannot be written: {e}", entry.name)),
            })?;
        // Read at most one byte more than claimed: a lying size field is caught, not obeyed.
        let n = copy_limited(&mut (&mut zipped).take(entry.size + 1), &mut out)
            .map_err(|e| ApiError::BadRequest(format!("entry '{}' is corrupt: {e}", entry.name)))?;
        if n > entry.size {
            return Err(ApiError::BadRequest(format!(
                "entry '{}' holds more data than its header says",
                entry.name
            )));
        }
        written.files += 1;
        written.bytes += n;
        if written.bytes > limits.max_unpacked {
            return Err(too_big_unpacked(limits));
        }
    }
    Ok(written)
}

fn copy_limited(from: &mut impl Read, to: &mut File) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        to.write_all(&buf[..n])?;
        total += n as u64;
    }
}

struct PlannedEntry {
    index: usize,
    name: String,
    path: PathBuf,
    is_dir: bool,
    size: u64,
}

/// Checks every entry's name, type and claimed sizes; returns what to write.
fn check_entries(
    archive: &mut zip::ZipArchive<File>,
    limits: &DeployLimits,
) -> Result<Vec<PlannedEntry>, ApiError> {
    let mut plan = Vec::with_capacity(archive.len());
    let mut files = 0u64;
    let mut total = 0u64;
    let mut packed = 0u64;
    // Folders count too (named or implied by a path): each costs an inode.
    let mut folders = std::collections::HashSet::new();
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|e| ApiError::BadRequest(format!("zip entry #{index} cannot be read: {e}")))?;
        let name = entry
            .name()
            .map_err(|e| {
                ApiError::BadRequest(format!("zip entry #{index} has an unreadable name: {e}"))
            })?
            .to_string();
        let path = safe_entry_path(&name)?;
        let kind = entry.unix_mode().map(|m| m & 0o170000);
        if entry.is_symlink() || kind == Some(0o120000) {
            return Err(ApiError::BadRequest(format!(
                "entry '{name}' is a symlink; symlinks are not allowed"
            )));
        }
        if matches!(kind, Some(k) if k != 0o100000 && k != 0o040000 && k != 0) {
            return Err(ApiError::BadRequest(format!(
                "entry '{name}' is a device, pipe or socket; only files and folders are allowed"
            )));
        }
        let is_dir = entry.is_dir();
        let size = entry.size();
        if path.components().count() > MAX_DEPTH || name.len() > MAX_NAME {
            return Err(ApiError::BadRequest(format!(
                "entry '{name}' is nested deeper than {MAX_DEPTH} folders or longer than {MAX_NAME} bytes"
            )));
        }
        let mut folder = if is_dir {
            Some(path.as_path())
        } else {
            path.parent()
        };
        while let Some(f) = folder.filter(|f| !f.as_os_str().is_empty()) {
            if !folders.insert(f.to_path_buf()) {
                break; // its parents are in already
            }
            folder = f.parent();
        }
        if folders.len() as u64 > limits.max_files {
            return Err(ApiError::TooLarge(format!(
                "the zip has more than {} folders (the file limit applies to folders too)",
                limits.max_files
            )));
        }
        if !is_dir {
            files += 1;
            total = total.saturating_add(size);
            if files > limits.max_files {
                return Err(ApiError::TooLarge(format!(
                    "the zip has more than {} files (the limit)",
                    limits.max_files
                )));
            }
            if total > limits.max_unpacked {
                return Err(too_big_unpacked(limits));
            }
            if size > RATIO_FLOOR && size / entry.compressed_size().max(1) > MAX_RATIO {
                return Err(ApiError::TooLarge(format!(
                    "entry '{name}' unpacks to more than {MAX_RATIO} times its packed size (a zip bomb?)"
                )));
            }
            packed = packed.saturating_add(entry.compressed_size());
            if total > TOTAL_RATIO_FLOOR && total / packed.max(1) > MAX_TOTAL_RATIO {
                return Err(ApiError::TooLarge(format!(
                    "the zip unpacks to more than {MAX_TOTAL_RATIO} times its packed size in all, \
                     past {} MiB (a zip bomb?)",
                    TOTAL_RATIO_FLOOR / (1024 * 1024)
                )));
            }
        }
        plan.push(PlannedEntry {
            index,
            name,
            path,
            is_dir,
            size,
        });
    }
    Ok(plan)
}

fn too_big_unpacked(limits: &DeployLimits) -> ApiError {
    ApiError::TooLarge(format!(
        "the zip unpacks to more than {} MiB (the limit)",
        limits.max_unpacked / (1024 * 1024)
    ))
}

/// The relative path an entry name may be written to, or a 400 naming the entry.
pub fn safe_entry_path(name: &str) -> Result<PathBuf, ApiError> {
    let bad = |why: &str| {
        Err(ApiError::BadRequest(format!(
            "entry '{name}' {why}; nothing was written"
        )))
    };
    if name.is_empty() || name.contains('\0') {
        return bad("has an empty or invalid name");
    }
    if name.starts_with('/') || name.starts_with('\\') || name.as_bytes().get(1) == Some(&b':') {
        return bad("is an absolute path");
    }
    if name.contains('\\') {
        return bad("contains a backslash");
    }
    let mut path = PathBuf::new();
    for seg in name.split('/') {
        match seg {
            "" | "." => continue,
            ".." => return bad("contains '..'"),
            s if s.chars().any(char::is_control) => return bad("contains control characters"),
            s => path.push(s),
        }
    }
    if path.as_os_str().is_empty() {
        return bad("names no file");
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names() {
        assert_eq!(
            safe_entry_path("a/b.html").unwrap(),
            PathBuf::from("a/b.html")
        );
        assert_eq!(safe_entry_path("./a//b/").unwrap(), PathBuf::from("a/b"));
        for bad in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "\\x",
            "C:/x",
            "a\\..\\x",
            "",
            "a/\0",
            ".",
            "a/\n",
        ] {
            assert!(safe_entry_path(bad).is_err(), "{bad:?}");
        }
    }
}
