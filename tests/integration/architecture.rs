//! The rules ARCHITECTURE.md states, checked on the source tree: top-level modules import each
//! other one way only (no cycles), SQL lives in `store/`, sockets in `server` and `ws`,
//! tiny_http in `server` and `ws` only (never in `js/`), and no source file grows past 700
//! lines. A failure names the file and line that broke the rule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 700;

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((path, text));
        }
    }
    out.sort();
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level module a file belongs to (`src/js/pool.rs` → `js`).
fn module_of(path: &Path) -> String {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// Code lines without their comments, before the file's `#[cfg(test)]` part.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        // " //" starts a trailing comment; "http://" in a string does not.
        .map(|(i, l)| (i + 1, l.split(" //").next().unwrap_or(l)))
}

#[test]
fn top_level_modules_import_one_way() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut first_use: BTreeMap<(String, String), String> = BTreeMap::new();
    for (path, text) in sources(&src()) {
        let from = module_of(&path);
        if from == "lib" || from == "main" {
            continue;
        }
        for (n, line) in code_lines(&text) {
            for (i, _) in line.match_indices("crate::") {
                let to: String = line[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !to.is_empty() && to != from {
                    first_use
                        .entry((from.clone(), to.clone()))
                        .or_insert_with(|| format!("{}:{n}", path.display()));
                    edges.entry(from.clone()).or_default().insert(to);
                }
            }
        }
    }
    // A cycle shows as a path back to where it started.
    for start in edges.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, trail)) = stack.pop() {
            for next in edges.get(&at).into_iter().flatten() {
                if next == start {
                    let uses: Vec<String> = trail
                        .iter()
                        .zip(trail.iter().skip(1).chain([start]))
                        .map(|(a, b)| first_use[&(a.clone(), b.clone())].clone())
                        .collect();
                    panic!(
                        "import cycle {} -> {start}, first uses: {uses:?}",
                        trail.join(" -> ")
                    );
                }
                if seen.insert(next.clone()) {
                    let mut longer = trail.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
}

/// Files that are whole test-only modules (`#[cfg(test)] mod name;` in their parent): test
/// code may set up what it tests by any means.
fn test_only_files(all: &[(PathBuf, String)]) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for (path, text) in all {
        let dir = match path.file_name().and_then(|n| n.to_str()) {
            Some("mod.rs" | "lib.rs" | "main.rs") => path.parent().unwrap().to_path_buf(),
            _ => path.with_extension(""),
        };
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for pair in lines.windows(2) {
            if pair[0] == "#[cfg(test)]"
                && let Some(name) = pair[1]
                    .strip_prefix("mod ")
                    .and_then(|r| r.strip_suffix(';'))
            {
                out.insert(dir.join(format!("{name}.rs")));
                out.insert(dir.join(name).join("mod.rs"));
            }
        }
    }
    out
}

#[test]
fn sql_sockets_and_tiny_http_stay_in_their_modules() {
    let sql = [
        "\"SELECT ",
        "\"INSERT ",
        "\"UPDATE ",
        "\"DELETE ",
        "\"CREATE ",
    ];
    let sockets = [
        "TcpStream",
        "TcpListener",
        "UnixStream",
        "UnixDatagram",
        "UdpSocket",
    ];
    let all = sources(&src());
    let test_only = test_only_files(&all);
    for (path, text) in all.iter().filter(|(p, _)| !test_only.contains(p)) {
        let module = module_of(path);
        for (n, line) in code_lines(text) {
            let at = format!("{}:{n}: {}", path.display(), line.trim());
            if module != "store" {
                assert!(
                    !sql.iter().any(|s| line.contains(s)),
                    "SQL outside store/: {at}"
                );
            }
            // `systemd` holds the one other socket: its notify datagrams.
            if !["server", "ws", "systemd"].contains(&module.as_str()) {
                assert!(
                    !sockets.iter().any(|s| line.contains(s)),
                    "a socket outside server, ws and systemd: {at}"
                );
            }
            if module != "server" && module != "ws" {
                assert!(
                    !line.contains("tiny_http"),
                    "tiny_http outside server and ws: {at}"
                );
            }
        }
    }
}

#[test]
fn no_source_file_is_longer_than_700_lines() {
    let long: Vec<String> = sources(&src())
        .into_iter()
        .map(|(path, text)| (path, text.lines().count()))
        .filter(|(_, n)| *n > MAX_LINES)
        .map(|(path, n)| format!("{} ({n} lines)", path.display()))
        .collect();
    assert!(long.is_empty(), "split these by job: {long:?}");
}
