//! Choosing a folder's files and zipping them for `cc-server deploy`: dot-files,
//! `.git` and `node_modules` are skipped, and so is whatever `.ccignore` lists (gitignore
//! syntax, by ripgrep's `ignore` crate).

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use zip::write::SimpleFileOptions;

/// The files to deploy, as `(path on disk, name in the zip)`, sorted by name.
pub fn collect(dir: &Path) -> io::Result<Vec<(PathBuf, String)>> {
    let walker = ignore::WalkBuilder::new(dir)
        .hidden(true) // dot-files and dot-folders (.git, .env, .ccignore itself)
        .parents(false)
        .ignore(false)
        .git_ignore(false)
        .git_global(false)
        .git_exclude(false)
        .require_git(false)
        .follow_links(false)
        .add_custom_ignore_filename(".ccignore")
        .filter_entry(|e| e.file_name() != "node_modules")
        .build();
    let mut files = Vec::new();
    for entry in walker {
        let entry = entry.map_err(io::Error::other)?;
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue; // folders come with their files; symlinks are not deployed
        }
        let rel = entry
            .path()
            .strip_prefix(dir)
            .map_err(io::Error::other)?
            .to_string_lossy()
            .replace('\\', "/");
        files.push((entry.path().to_path_buf(), rel));
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(files)
}

/// Zips `files` into `out`, with a progress bar on a terminal. Returns the zip's size.
pub fn zip(files: &[(PathBuf, String)], out: &Path, progress: bool) -> io::Result<u64> {
    let bar = if progress {
        ProgressBar::new(files.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("zipping   {bar:30} {pos}/{len} files {wide_msg}")
            .expect("valid template"),
    );
    let mut writer = zip::ZipWriter::new(BufWriter::new(File::create(out)?));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o644)
        .large_file(false);
    for (path, name) in files {
        bar.set_message(name.clone());
        let size = std::fs::metadata(path)?.len();
        writer
            .start_file(name.as_str(), options.large_file(size >= u32::MAX as u64))
            .map_err(io::Error::other)?;
        io::copy(&mut File::open(path)?, &mut writer)?;
        bar.inc(1);
    }
    writer.finish().map_err(io::Error::other)?;
    bar.finish_and_clear();
    Ok(std::fs::metadata(out)?.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_dot_files_node_modules_and_ccignore() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        for f in [
            "index.html",
            "css/site.css",
            ".env",
            ".git/config",
            "node_modules/x/index.js",
            "drafts/secret.md",
            "notes.tmp",
            "keep.tmp",
        ] {
            std::fs::create_dir_all(d.join(f).parent().unwrap()).unwrap();
            std::fs::write(d.join(f), "x").unwrap();
        }
        std::fs::write(d.join(".ccignore"), "drafts/\n*.tmp\n!keep.tmp\n").unwrap();
        let names: Vec<String> = collect(d).unwrap().into_iter().map(|(_, n)| n).collect();
        assert_eq!(names, ["css/site.css", "index.html", "keep.tmp"]);
    }
}
