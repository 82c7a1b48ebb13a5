//! Which tree a built binary or module came from. The cargo target folder
//! may be shared by several clones (`.ci/run`'s default keeps it in
//! `$HOME/.cache`), and cargo, which judges freshness by file times, then
//! hands one clone the other's outputs. So every build through `cargo xtask`
//! records, per package and target, the source hash ([`hash`]) and the root
//! it built from, and the SHA-256 of each output (`<target>/wgb-built-from.json`);
//! before building it cleans the packages whose outputs it cannot vouch for,
//! and a run measures only outputs whose record matches its own sources.

pub mod self_check;
pub mod snapshot;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::paths::Tree;
use crate::variants::{Launch, Variant};
use crate::{docker, paths, results, source_hash};

/// Where a package's outputs go in the target folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// `target/release`: the gateways, the upstream, xtask.
    Host,
    /// `target/wasm32-wasip1/release`: the modules and their `.cwasm` forms.
    Wasm,
    /// `target/x86_64-unknown-linux-gnu/release`: the `+crt-static` builds
    /// the `FROM scratch` images hold.
    Static,
}

impl Target {
    fn dir(self) -> PathBuf {
        match self {
            Target::Host => PathBuf::from("release"),
            Target::Wasm => Path::new(paths::WASM_TARGET).join("release"),
            Target::Static => Path::new(paths::STATIC_TARGET).join("release"),
        }
    }

    fn key(self) -> &'static str {
        match self {
            Target::Host => "release",
            Target::Wasm => paths::WASM_TARGET,
            Target::Static => paths::STATIC_TARGET,
        }
    }
}

/// One package built for one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unit {
    pub package: &'static str,
    pub target: Target,
}

impl Unit {
    const fn new(package: &'static str, target: Target) -> Unit {
        Unit { package, target }
    }

    fn key(self) -> String {
        format!("{}/{}", self.target.key(), self.package)
    }

    /// The outputs of this unit that the variants run, relative to the
    /// target folder (the `.cwasm` forms made from a module count as its
    /// outputs: `cargo xtask build` remakes them with every build).
    fn outputs(self, target: &Path) -> Vec<PathBuf> {
        let dir = self.target.dir();
        match (self.package, self.target) {
            ("gateway-wasm" | "gateway-work", Target::Wasm) => {
                let stem = self.package;
                let mut out = vec![dir.join(format!("{stem}.wasm"))];
                for file in crate::files::list(&target.join(&dir), ".cwasm") {
                    let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
                    if let Some(name) = name.filter(|n| n.starts_with(&format!("{stem}."))) {
                        out.push(dir.join(name));
                    }
                }
                out
            }
            (package, Target::Host | Target::Static) if package != "xtask" => match package {
                "gateway-native" | "gateway-host" | "upstream-echo" => vec![dir.join(package)],
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }
}

/// What running `variants` needs built. The upstream is always started.
pub fn units_for(variants: &[&Variant]) -> BTreeSet<Unit> {
    let mut units = BTreeSet::from([Unit::new("upstream-echo", Target::Host)]);
    for v in variants {
        match v.launch {
            Launch::Native => {
                units.insert(Unit::new("gateway-native", Target::Host));
            }
            Launch::Docker | Launch::DockerHost => {
                units.insert(Unit::new("gateway-native", Target::Static));
                units.insert(Unit::new("upstream-echo", Target::Static));
            }
            Launch::Host { .. } => {
                units.insert(Unit::new("gateway-host", Target::Host));
                units.insert(Unit::new("gateway-wasm", Target::Wasm));
                units.insert(Unit::new("gateway-work", Target::Wasm));
            }
        }
    }
    units
}

/// `units` without the static builds that are not there: images are skipped
/// without a Docker engine, their static builds with them, and the
/// container variants then say so when they start.
pub fn built(tree: &Tree, units: &BTreeSet<Unit>) -> BTreeSet<Unit> {
    units
        .iter()
        .copied()
        .filter(|u| {
            u.target != Target::Static
                || u.outputs(&tree.target)
                    .iter()
                    .all(|o| tree.target.join(o).is_file())
        })
        .collect()
}

/// The record of one unit's last build through `cargo xtask`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// [`source_hash::package_hash`] of the sources it was built from.
    pub source_hash: String,
    /// The workspace it was built in.
    pub root: String,
    /// That workspace's `git rev-parse HEAD` (`not found` outside git).
    pub revision: String,
    /// SHA-256 of each output, by path relative to the target folder.
    pub outputs: BTreeMap<String, String>,
}

/// `<target>/wgb-built-from.json`: an [`Entry`] per unit (`release/gateway-host`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Record {
    pub units: BTreeMap<String, Entry>,
}

impl Record {
    fn path(target: &Path) -> PathBuf {
        target.join("wgb-built-from.json")
    }

    /// The record in `target`; none yet (or unreadable) is an empty one, so
    /// every unit is cleaned and rebuilt once.
    pub fn read(target: &Path) -> Record {
        std::fs::read_to_string(Self::path(target))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    fn write(&self, target: &Path) -> Result<()> {
        results::write_json(&Self::path(target), self)
    }
}

/// Holds `<target>/wgb-build.lock` (flock) while a build cleans, builds and
/// records, so two clones building into one target folder take turns.
pub struct BuildLock(#[allow(dead_code)] File);

pub fn lock(target: &Path) -> Result<BuildLock> {
    use std::os::fd::AsRawFd;
    std::fs::create_dir_all(target).with_context(|| format!("creating {}", target.display()))?;
    let path = target.join("wgb-build.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: flock on a descriptor this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        bail!(
            "locking {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
    Ok(BuildLock(file))
}

fn sha256(path: &Path) -> Option<String> {
    docker::file_sha256(path).ok()
}

fn revision(root: &Path) -> String {
    std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "not found".to_owned())
}

/// Why a unit's outputs cannot be taken as built from `source` (`None`:
/// they can, or cargo's own file-time check covers it).
fn doubt(entry: Option<&Entry>, source: &Path, current: &str, target: &Path) -> Option<String> {
    let Some(entry) = entry else {
        return Some("no record of what it was built from".to_owned());
    };
    for (output, recorded) in &entry.outputs {
        match sha256(&target.join(output)) {
            None => return Some(format!("{output} is gone")),
            Some(actual) if actual != *recorded => {
                return Some(format!("{output} was rebuilt outside `cargo xtask`"))
            }
            Some(_) => {}
        }
    }
    // Edits inside one tree make its files newer than the outputs, which
    // cargo sees; another tree's outputs it does not.
    if entry.source_hash != current && Path::new(&entry.root) != source {
        return Some(format!(
            "built from {} ({}), whose sources differ",
            entry.root,
            short(&entry.revision)
        ));
    }
    None
}

fn short(revision: &str) -> &str {
    revision.get(..12).unwrap_or(revision)
}

/// Which units [`prepare`] cleans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clean {
    /// Those whose outputs may come from other sources.
    Doubtful,
    /// All (the xtask binary was found to be another tree's).
    All,
}

/// Before building `units` from `tree`: make cargo rebuild each unit whose
/// outputs may come from other sources ([`forget_fingerprints`]). Returns
/// what was marked and why.
pub fn prepare(tree: &Tree, units: &BTreeSet<Unit>, clean: Clean) -> Result<Vec<(Unit, String)>> {
    let mut record = Record::read(&tree.target);
    let mut cleaned = Vec::new();
    for &unit in units {
        if !tree.has_package_dir(unit.package) {
            continue;
        }
        let current = source_hash::package_hash(&tree.source, unit.package);
        let entry = record.units.get(&unit.key());
        let why = match clean {
            Clean::All => Some("xtask was compiled from other sources".to_owned()),
            Clean::Doubtful => doubt(entry, &tree.source, &current, &tree.target),
        };
        if let Some(why) = why {
            eprintln!(
                "==> cleaning {} ({}): {why}",
                unit.package,
                unit.target.key()
            );
            forget_fingerprints(&tree.target, unit)?;
            cleaned.push((unit, why));
        }
        // Written before the build: an interrupted build leaves a record
        // that says these sources, with no outputs to vouch for yet.
        record.units.insert(
            unit.key(),
            Entry {
                source_hash: current,
                root: tree.source.display().to_string(),
                revision: revision(&tree.source),
                outputs: BTreeMap::new(),
            },
        );
    }
    record.write(&tree.target)?;
    Ok(cleaned)
}

/// Removes cargo's fingerprints of `unit`, so its next build compiles it
/// again, overwriting its outputs in place. Not `cargo clean -p`: that
/// deletes the libraries too, which another tree's test run sharing this
/// target folder may be linking its doc-tests against at that moment.
fn forget_fingerprints(target: &Path, unit: Unit) -> Result<()> {
    let dir = target.join(unit.target.dir()).join(".fingerprint");
    let prefix = format!("{}-", unit.package);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(()); // nothing built there yet
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // `<package>-<16 hex digits>`: not a package whose name extends it.
        let ours = name
            .strip_prefix(&prefix)
            .is_some_and(|hash| hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()));
        if ours {
            std::fs::remove_dir_all(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// After building `units`: the SHA-256 of each of their outputs.
pub fn record(tree: &Tree, units: &BTreeSet<Unit>) -> Result<()> {
    let mut record = Record::read(&tree.target);
    for &unit in units {
        let Some(entry) = record.units.get_mut(&unit.key()) else {
            continue;
        };
        entry.outputs = unit
            .outputs(&tree.target)
            .into_iter()
            .filter_map(|rel| {
                sha256(&tree.target.join(&rel)).map(|sha| (rel.display().to_string(), sha))
            })
            .collect();
    }
    record.write(&tree.target)
}

/// What a run measured: this workspace, its revision, and the hash of the
/// sources every output it ran was built from.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Provenance {
    pub root: String,
    pub revision: String,
    /// Per unit (`release/gateway-native`): the source hash its outputs
    /// were built from, equal to this tree's.
    pub units: BTreeMap<String, String>,
}

/// Without building: are `units`' outputs built from this tree's sources
/// (by content: a clone with the same sources may have built them)?
pub fn verify(tree: &Tree, units: &BTreeSet<Unit>) -> Result<Provenance> {
    let record = Record::read(&tree.target);
    let mut out = Provenance {
        root: tree.source.display().to_string(),
        revision: revision(&tree.source),
        units: BTreeMap::new(),
    };
    let mut problems = Vec::new();
    for &unit in units {
        if !tree.has_package_dir(unit.package) {
            continue;
        }
        let current = source_hash::package_hash(&tree.source, unit.package);
        let problem = match record.units.get(&unit.key()) {
            None => Some("not built by `cargo xtask build` here".to_owned()),
            Some(entry) if entry.source_hash != current => Some(format!(
                "built from other sources ({} at {})",
                entry.root,
                short(&entry.revision)
            )),
            Some(entry) if entry.outputs.is_empty() => Some("its build did not finish".to_owned()),
            Some(entry) => entry.outputs.iter().find_map(|(output, recorded)| {
                match sha256(&tree.target.join(output)) {
                    None => Some(format!("{output} is gone")),
                    Some(actual) if actual != *recorded => {
                        Some(format!("{output} changed since it was built"))
                    }
                    Some(_) => None,
                }
            }),
        };
        match problem {
            Some(p) => problems.push(format!("{} ({}): {p}", unit.package, unit.target.key())),
            None => {
                out.units.insert(unit.key(), current);
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "the built outputs in {} are not this checkout's ({}):\n  {}\nbuild them here first (`cargo xtask build`, or drop --no-build)",
            tree.target.display(),
            tree.source.display(),
            problems.join("\n  ")
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("wgb-provenance-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_doubted_unit_loses_its_fingerprints_and_keeps_its_libraries() {
        let target = scratch("fingerprints");
        let release = target.join("release");
        let prints = release.join(".fingerprint");
        for name in [
            "gateway-native-0123456789abcdef",
            "gateway-native-fedcba9876543210",
            "gateway-native-extra-0123456789abcdef",
            "gateway-host-0123456789abcdef",
        ] {
            std::fs::create_dir_all(prints.join(name)).unwrap();
        }
        let lib = release.join("deps/libgateway_native-0123456789abcdef.rlib");
        std::fs::create_dir_all(lib.parent().unwrap()).unwrap();
        std::fs::write(&lib, b"rlib").unwrap();
        forget_fingerprints(&target, Unit::new("gateway-native", Target::Host)).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(&prints)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "gateway-host-0123456789abcdef",
                "gateway-native-extra-0123456789abcdef"
            ]
        );
        assert!(lib.is_file(), "another tree's doc-tests may be linking it");
        let _ = std::fs::remove_dir_all(&target);
    }

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// A workspace of two packages: gateway-native depends on gateway-work.
    fn tiny_workspace(root: &Path) {
        write(root, "Cargo.toml", "[workspace]");
        write(root, "Cargo.lock", "lock");
        write(root, "gateway-wasm/work/Cargo.toml", "work");
        write(root, "gateway-wasm/work/src/lib.rs", "pub fn f() {}");
        write(root, "gateway-native/Cargo.toml", "native");
        write(root, "gateway-native/src/main.rs", "fn main() {}");
        write(root, "gateway-native/tests/it.rs", "// a test");
    }

    #[test]
    fn the_hash_follows_the_sources_not_where_they_are() {
        let (a, b) = (scratch("a"), scratch("b"));
        tiny_workspace(&a);
        tiny_workspace(&b);
        let hash = |root: &Path| source_hash::package_hash(root, "gateway-native");
        assert_eq!(hash(&a), hash(&b));
        // Tests are not an input of the binary.
        write(&b, "gateway-native/tests/it.rs", "// another test");
        assert_eq!(hash(&a), hash(&b));
        // A path dependency's sources are.
        write(&b, "gateway-wasm/work/src/lib.rs", "pub fn g() {}");
        assert_ne!(hash(&a), hash(&b));
        write(&b, "gateway-wasm/work/src/lib.rs", "pub fn f() {}");
        assert_eq!(hash(&a), hash(&b));
        write(&b, "Cargo.lock", "another lock");
        assert_ne!(hash(&a), hash(&b));
        for dir in [a, b] {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    #[test]
    fn the_package_table_lists_every_member_and_path_dependency() {
        let out = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
            .current_dir(crate::paths::project_root())
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--offline",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let root = crate::paths::project_root();
        for package in meta["packages"].as_array().unwrap() {
            let name = package["name"].as_str().unwrap();
            let (_, dir, deps) = source_hash::PACKAGES
                .iter()
                .find(|(n, _, _)| *n == name)
                .unwrap_or_else(|| panic!("{name} is not in provenance::hash::PACKAGES"));
            let manifest = Path::new(package["manifest_path"].as_str().unwrap());
            assert_eq!(manifest, root.join(dir).join("Cargo.toml"), "{name}");
            let mut path_deps: Vec<&str> = package["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["path"].is_string() && d["kind"].is_null())
                .map(|d| d["name"].as_str().unwrap())
                .collect();
            path_deps.sort();
            let mut listed = deps.to_vec();
            listed.sort();
            assert_eq!(path_deps, listed, "{name}'s path dependencies");
        }
    }

    fn entry(root: &str, source_hash: &str, outputs: &[(&str, &str)]) -> Entry {
        Entry {
            source_hash: source_hash.to_owned(),
            root: root.to_owned(),
            revision: "0123456789abcdef".to_owned(),
            outputs: outputs
                .iter()
                .map(|(o, h)| ((*o).to_owned(), (*h).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn outputs_of_other_sources_or_rebuilt_elsewhere_are_doubted() {
        let target = scratch("target");
        write(&target, "release/gw", "binary");
        let sha = sha256(&target.join("release/gw")).unwrap();
        let here = Path::new("/clone/a");
        let doubt_of = |e: Option<&Entry>| doubt(e, here, "H", &target);
        assert!(doubt_of(None).unwrap().contains("no record"));
        // Another clone's build of other sources: cargo cannot tell.
        let other = entry("/clone/b", "G", &[("release/gw", &sha)]);
        assert!(doubt_of(Some(&other))
            .unwrap()
            .contains("built from /clone/b"));
        // Another clone's build of the same sources is as good as ours.
        assert_eq!(
            doubt_of(Some(&entry("/clone/b", "H", &[("release/gw", &sha)]))),
            None
        );
        // Edits in this clone: cargo's file times see them.
        assert_eq!(
            doubt_of(Some(&entry("/clone/a", "G", &[("release/gw", &sha)]))),
            None
        );
        // An output replaced by a build outside `cargo xtask`, or removed.
        let replaced = entry("/clone/a", "H", &[("release/gw", "0000")]);
        assert!(doubt_of(Some(&replaced))
            .unwrap()
            .contains("rebuilt outside"));
        let gone = entry("/clone/a", "H", &[("release/gone", &sha)]);
        assert!(doubt_of(Some(&gone)).unwrap().contains("is gone"));
        let _ = std::fs::remove_dir_all(target);
    }
}
