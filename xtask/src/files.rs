//! Listing and copying files, one way for the whole xtask: listings are
//! sorted (so every output is the same whatever the file system's order)
//! and leave out hidden names, which are the `.name` temporaries of
//! [`crate::results::write_atomic`].

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The files directly in `dir` whose names end with `suffix` ("" for all),
/// sorted. A missing folder has none.
pub fn list(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(suffix) && !n.starts_with('.'))
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

/// Every file under `dir` at any depth, relative to it, sorted.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(dir.join(&rel)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let path = rel.join(&name);
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Copy one file, making its folder.
pub fn copy(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// Copy a folder tree (hidden files left out).
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for rel in walk(from) {
        copy(&from.join(&rel), &to.join(&rel))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_are_sorted_filtered_and_copies_whole() {
        let dir = std::env::temp_dir().join(format!("wgb-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for rel in ["b.csv", "a.csv", ".a.csv.tmp", "c.json", "sub/d.csv"] {
            std::fs::create_dir_all(dir.join(rel).parent().unwrap()).unwrap();
            std::fs::write(dir.join(rel), rel).unwrap();
        }
        let names = |v: Vec<PathBuf>| -> Vec<String> {
            v.iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names(list(&dir, ".csv")), ["a.csv", "b.csv"]);
        assert_eq!(names(list(&dir, "")), ["a.csv", "b.csv", "c.json"]);
        assert!(list(&dir.join("missing"), "").is_empty());
        let all = walk(&dir);
        assert_eq!(all.len(), 4);
        assert!(all.contains(&PathBuf::from("sub/d.csv")));
        let copy_to = dir.with_extension("copy");
        copy_tree(&dir, &copy_to).unwrap();
        assert_eq!(walk(&copy_to), all);
        assert_eq!(
            std::fs::read_to_string(copy_to.join("sub/d.csv")).unwrap(),
            "sub/d.csv"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_dir_all(&copy_to).unwrap();
    }
}
