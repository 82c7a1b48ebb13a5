//! Instruction counts from callgrind (valgrind): how a gateway is run under
//! it and how its output files are read (the record `bench instructions`
//! writes to `raw/instructions/` is run data: `rundata::instructions`).
//!
//! Why this shape. A whole-process total is exact for `gateway-native`, but
//! under embedded Wasmtime it drifts run to run: the module is compiled by
//! a pool of threads whose spinning and hand-offs vary, and the epoch thread
//! ticks with the wall clock. So only the request-handling (main) thread is
//! counted (`--separate-threads=yes`), and only between two checkpoints
//! after a warm-up. The checkpoints are callgrind's own dumps:
//! `--dump-before=accept4` writes the main thread's counters each time the
//! single-threaded server asks for its next connection, so dump k+1 holds
//! exactly connection k (read, handle, write, close) plus the accept that
//! returned it, whatever the clock did. No client request in the gateway,
//! no vgdb: the harness only waits until the gateway is blocked in
//! `accept4` (its `/proc/<pid>/syscall`), where every earlier dump is on
//! disk, and counts the dumps.
//!
//! The CLI variants start a runtime process per request; with
//! `--trace-children=yes` each one runs under callgrind too and writes its
//! own files (`cg.<pid>-<thread>`, all threads summed): its whole life is
//! per-request cost.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

pub use crate::rundata::instructions::InstructionsRaw;

/// The options every counted gateway runs with (before the program).
/// `--dump-line=no`: costs per function only, a smaller dump per request.
pub fn valgrind_args(out_dir: &Path) -> Vec<String> {
    vec![
        "--tool=callgrind".to_owned(),
        "-q".to_owned(),
        "--separate-threads=yes".to_owned(),
        "--trace-children=yes".to_owned(),
        "--dump-before=accept4".to_owned(),
        "--dump-line=no".to_owned(),
        format!("--callgrind-out-file={}/cg.%p", out_dir.display()),
    ]
}

/// The allocator's entry points: a call from outside into one of these is
/// one allocator call.
const ALLOC_ENTRY: &[&str] = &[
    "malloc",
    "free",
    "realloc",
    "calloc",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
    "valloc",
    "pvalloc",
    "__libc_malloc",
    "__libc_free",
    "__libc_realloc",
    "__libc_calloc",
    "__libc_memalign",
    "cfree",
];

/// glibc malloc's own bookkeeping (besides the entry points): how much of it
/// a call runs depends on the heap's history, not on the call.
const ALLOC_INTERNAL_PREFIX: &[&str] = &[
    "_int_malloc",
    "_int_free",
    "_int_realloc",
    "_int_memalign",
    "_mid_memalign",
    "malloc_consolidate",
    "unlink_chunk",
    "sysmalloc",
    "systrim",
    "alloc_perturb",
    "free_perturb",
    "tcache_",
    "arena_get",
    "arena_get2",
    "get_free_list",
    "reused_arena",
    "heap_trim",
    "munmap_chunk",
    "mremap_chunk",
    "new_heap",
    "grow_heap",
    "shrink_heap",
    "alloc_new_heap",
    "ptmalloc_init",
    "malloc_hook_ini",
];

/// The cost every allocator call is counted at instead of what glibc ran
/// (about its mean here: 94-113 instructions per call on the gateways).
pub const ALLOC_CALL_COST: u64 = 100;

fn is_alloc_entry(name: &str) -> bool {
    ALLOC_ENTRY.contains(&name)
}

fn is_alloc_internal(name: &str) -> bool {
    is_alloc_entry(name)
        || ALLOC_INTERNAL_PREFIX.iter().any(|p| {
            name.strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || p.ends_with('_'))
        })
}

/// What one callgrind output file says about its instructions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Every instruction (the file's `summary:`).
    pub total: u64,
    /// Of which inside glibc malloc's entry points and bookkeeping
    /// (exclusive costs: a `memcpy` a `realloc` calls is not in it).
    pub allocator: u64,
    /// Calls into the allocator from outside it.
    pub allocator_calls: u64,
    /// Was any of malloc's internal functions named (a libc without its
    /// local symbols hides them, and the normalization is then partial)?
    pub allocator_symbols: bool,
}

impl Counts {
    /// The figure the gate uses: every instruction, except that each
    /// allocator call costs [`ALLOC_CALL_COST`] instead of what it ran.
    /// glibc's malloc takes longer or shorter paths depending on the heap's
    /// history, which differs from process to process (thread interleaving
    /// at start-up, hash seeds): embedded Wasmtime's hello measured 67,100
    /// to 69,500 instructions per request in four processes, and 55,698 to
    /// 55,728 with the allocator's own work set aside. A change in how
    /// often code allocates still moves this figure.
    pub fn normalized(&self) -> u64 {
        (self.total - self.allocator.min(self.total)) + self.allocator_calls * ALLOC_CALL_COST
    }

    pub fn add(&mut self, other: &Counts) {
        self.total += other.total;
        self.allocator += other.allocator;
        self.allocator_calls += other.allocator_calls;
        self.allocator_symbols |= other.allocator_symbols;
    }
}

/// Read one callgrind output file (the format of callgrind 3.x: name
/// compression, `calls=` lines followed by the call's inclusive cost).
pub fn file_counts(path: &Path) -> Result<Counts> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_counts(&text).with_context(|| format!("{}: not a callgrind output file", path.display()))
}

fn parse_counts(text: &str) -> Option<Counts> {
    let mut names: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    let mut positions = 1;
    let mut fn_name: &str = "";
    let mut cfn_name: &str = "";
    let mut after_calls: Option<u64> = None;
    let mut c = Counts::default();
    let mut summary = None;
    let mut totals = None;
    let mut sum = 0u64;
    for line in text.lines() {
        let first = line.as_bytes().first().copied().unwrap_or(b' ');
        if first.is_ascii_digit() || first == b'+' || first == b'-' || first == b'*' {
            let cost: u64 = line
                .split_whitespace()
                .nth(positions)
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            if let Some(count) = after_calls.take() {
                // The inclusive cost of a call: not fn's own.
                if is_alloc_entry(cfn_name) && !is_alloc_internal(fn_name) {
                    c.allocator_calls += count;
                }
            } else {
                sum += cost;
                if is_alloc_internal(fn_name) {
                    c.allocator += cost;
                    if !is_alloc_entry(fn_name) {
                        c.allocator_symbols = true;
                    }
                }
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("fn=") {
            fn_name = resolve(&mut names, rest);
        } else if let Some(rest) = line.strip_prefix("cfn=") {
            cfn_name = resolve(&mut names, rest);
        } else if let Some(rest) = line.strip_prefix("calls=") {
            after_calls = Some(rest.split_whitespace().next()?.parse().ok()?);
        } else if let Some(rest) = line.strip_prefix("positions:") {
            positions = rest.split_whitespace().count().max(1);
        } else if let Some(rest) = line.strip_prefix("summary:") {
            summary = rest.split_whitespace().next()?.parse().ok();
        } else if let Some(rest) = line.strip_prefix("totals:") {
            totals = rest.split_whitespace().next()?.parse().ok();
        }
    }
    c.total = summary.or(totals).unwrap_or(sum);
    if summary.is_none() && totals.is_none() && sum == 0 && names.is_empty() {
        return None;
    }
    Some(c)
}

/// `(id) name` defines a compressed name, `(id)` refers to one.
fn resolve<'a>(names: &mut std::collections::HashMap<&'a str, &'a str>, rest: &'a str) -> &'a str {
    match rest.strip_prefix('(').and_then(|r| r.split_once(')')) {
        Some((id, name)) => {
            let name = name.trim_start();
            if name.is_empty() {
                names.get(id).copied().unwrap_or("")
            } else {
                names.insert(id, name);
                name
            }
        }
        None => rest,
    }
}

/// One output file name, `cg.<pid>[.<dump>][-<thread>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutName {
    pub pid: u32,
    /// The dump number (`None` for the file written at exit).
    pub dump: Option<u32>,
    pub thread: Option<u32>,
}

pub fn parse_name(name: &str) -> Option<OutName> {
    let rest = name.strip_prefix("cg.")?;
    let (head, thread) = match rest.split_once('-') {
        Some((h, t)) => (h, Some(t.parse().ok()?)),
        None => (rest, None),
    };
    let (pid, dump) = match head.split_once('.') {
        Some((p, d)) => (p.parse().ok()?, Some(d.parse().ok()?)),
        None => (head.parse().ok()?, None),
    };
    Some(OutName { pid, dump, thread })
}

/// What a callgrind output folder holds at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The gateway's main-thread dumps: dump number -> file.
    pub dumps: BTreeMap<u32, PathBuf>,
    /// Other processes (runtime children) that have written their files.
    pub children: BTreeSet<u32>,
}

/// Read the folder: the gateway's (`gateway_pid`) main-thread dumps, and
/// every other pid with a finished per-thread file.
pub fn snapshot(dir: &Path, gateway_pid: u32) -> Result<Snapshot> {
    let mut s = Snapshot::default();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        let Some(n) = parse_name(&name) else { continue };
        if n.pid == gateway_pid {
            if let (Some(dump), Some(1)) = (n.dump, n.thread) {
                s.dumps.insert(dump, path);
            }
        } else if n.thread.is_some() {
            s.children.insert(n.pid);
        }
    }
    Ok(s)
}

/// A child's instructions: all its per-thread files (and dumps, if any).
pub fn child_counts(dir: &Path, pid: u32) -> Result<Counts> {
    let mut total = Counts::default();
    let mut files = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if parse_name(name).is_some_and(|n| n.pid == pid && n.thread.is_some()) {
            total.add(&file_counts(&path)?);
            files += 1;
        }
    }
    if files == 0 {
        bail!("no callgrind output of process {pid} in {}", dir.display());
    }
    Ok(total)
}

/// The window between two snapshots: the gateway's per-request counts (the
/// dumps `before` did not have) and the children that appeared.
pub fn window(
    dir: &Path,
    before: &Snapshot,
    after: &Snapshot,
    requests: usize,
) -> Result<(Vec<Counts>, Vec<Counts>)> {
    let first = before.dumps.keys().next_back().copied().unwrap_or(0);
    let new: Vec<(&u32, &PathBuf)> = after.dumps.range(first + 1..).collect();
    if new.len() != requests {
        bail!(
            "expected {requests} callgrind dumps of the gateway between the checkpoints (one per connection), found {}: did something else connect, or a request make no connection?",
            new.len()
        );
    }
    for (i, (k, _)) in new.iter().enumerate() {
        if **k != first + 1 + i as u32 {
            bail!("callgrind dump {} is missing", first + 1 + i as u32);
        }
    }
    let gateway = new
        .iter()
        .map(|(_, p)| file_counts(p))
        .collect::<Result<Vec<_>>>()?;
    let children = after
        .children
        .difference(&before.children)
        .map(|&pid| child_counts(dir, pid))
        .collect::<Result<Vec<_>>>()?;
    Ok((gateway, children))
}

/// Is the process's main thread blocked in `accept4` (or `accept`)? Under
/// callgrind the dump for everything before this call is then on disk.
pub fn in_accept(pid: u32) -> Result<bool> {
    let path = format!("/proc/{pid}/syscall");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let nr = text.split_whitespace().next().unwrap_or("");
    Ok(nr == libc::SYS_accept4.to_string() || nr == libc::SYS_accept.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_parsed() {
        assert_eq!(
            parse_name("cg.123.4-01"),
            Some(OutName {
                pid: 123,
                dump: Some(4),
                thread: Some(1)
            })
        );
        assert_eq!(
            parse_name("cg.77-02"),
            Some(OutName {
                pid: 77,
                dump: None,
                thread: Some(2)
            })
        );
        assert_eq!(
            parse_name("cg.77"),
            Some(OutName {
                pid: 77,
                dump: None,
                thread: None
            })
        );
        assert_eq!(parse_name("other.txt"), None);
        assert_eq!(parse_name("cg.x-01"), None);
    }

    #[test]
    fn the_summary_line_is_the_total() {
        let text = "version: 1\nevents: Ir\nsummary: 11577\n\nfn=(1) main\n3 4\ntotals: 11577\n";
        assert_eq!(parse_counts(text).unwrap().total, 11577);
        let only_totals = "events: Ir\nfn=(1) main\n0 42\ntotals: 42\n";
        assert_eq!(parse_counts(only_totals).unwrap().total, 42);
        assert_eq!(parse_counts("nothing here\n"), None);
    }

    /// main (100 own) calls malloc twice (inclusive 700: malloc 200 own +
    /// _int_malloc 400 own + a memset 100 it calls) and free once (50 own).
    const PROFILE: &str = "\
events: Ir
positions: line
summary: 1150

fn=(1) main
0 100
cfn=(2) malloc
calls=2 0
0 700
cfn=(3) free
calls=1 0
0 50

fn=(2)
0 200
cfn=(4) _int_malloc
calls=1 0
0 400
cfn=(5) __memset_avx2_unaligned_erms
calls=1 0
0 100

fn=(4)
0 400

fn=(5)
0 100

fn=(3)
0 50
";

    #[test]
    fn the_allocators_own_work_is_set_aside_and_each_call_costs_the_same() {
        let c = parse_counts(PROFILE).unwrap();
        assert_eq!(c.total, 1150);
        // malloc 200 + _int_malloc 400 + free 50; the memset stays.
        assert_eq!(c.allocator, 650);
        assert_eq!(c.allocator_calls, 3);
        assert!(c.allocator_symbols);
        assert_eq!(c.normalized(), 1150 - 650 + 3 * ALLOC_CALL_COST);
        // The same calls through a longer malloc path: the same figure.
        let slower = PROFILE
            .replace("summary: 1150", "summary: 1450")
            .replace("0 700", "0 1000")
            .replace("fn=(4)\n0 400", "fn=(4)\n0 700");
        let s = parse_counts(&slower).unwrap();
        assert_eq!(s.total, 1450);
        assert_eq!(s.normalized(), c.normalized());
    }

    #[test]
    fn allocator_names_are_recognized() {
        for n in [
            "malloc",
            "_int_free",
            "unlink_chunk.constprop.0",
            "tcache_init.part.0",
        ] {
            assert!(is_alloc_internal(n), "{n}");
        }
        for n in [
            "main",
            "__memcpy_avx_unaligned_erms",
            "malloc_usable_sizex",
            "_int_mallocx",
        ] {
            assert!(!is_alloc_internal(n), "{n}");
        }
    }
}
