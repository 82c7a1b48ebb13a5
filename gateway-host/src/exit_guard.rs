//! The exit guard: a seccomp-BPF filter that a per-request runtime process
//! gets between fork and exec, killing it (SIGSYS) when it calls
//! `exit_group(2)` or `exit(2)` with a status the OS would truncate.
//!
//! Why: an exit status keeps 8 bits. WasmEdge 0.17.1 hands a module's
//! `proc_exit(256)` to the kernel unchanged (strace: `exit_group(256) = ?`,
//! then `+++ exited with 0 +++`), so the gateway saw a clean exit and answered
//! 200 with whatever the module wrote. The syscall's argument still holds the
//! full int, and a seccomp filter sees it: the guard turns that exit into a
//! death by SIGSYS, which `spawn` answers with a 500 that names the guard.
//!
//! The filter, on x86_64: `exit_group` and `exit` (x32 numbering included)
//! whose first argument's low 32 bits (the `int` the kernel reads) are above
//! 255 as an unsigned number, so `proc_exit(-1)` is caught as well, end the
//! process with `SECCOMP_RET_KILL_PROCESS`. Every other syscall, those two with
//! 0..=255, and every call of another audit arch (an i386 `int 0x80`) pass.
//! Threads end with `exit(0)` and are untouched. `PR_SET_NO_NEW_PRIVS` comes
//! first, as an unprivileged filter requires (the runtimes are not setuid).
//! The guarded child also gets `RLIMIT_CORE` 0: a module can trigger the
//! guard on every request, and SIGSYS would otherwise dump a core each time
//! where core dumps are on (the price: a runtime that really crashes leaves
//! no core either).
//!
//! Where no filter can be installed (a kernel without seccomp, a sandbox that
//! forbids it, another architecture), [`available`] says why, logged once per
//! process, and `spawn` falls back to refusing a per-request runtime's clean
//! exit with an empty stdout, the one outcome a truncated status produces that
//! no module of this project gives.

use std::io;
use std::sync::OnceLock;

/// The signal a guarded process dies of when the guard fires.
pub const SIGNAL: i32 = libc::SIGSYS;

/// What a guarded runtime's death by [`SIGNAL`] is reported as.
pub const KILLED: &str =
    "the runtime exited with a status the OS would truncate (killed by the exit guard)";

/// The filter, ready to install in a child: plain data, so a `pre_exec`
/// closure can own a copy and install it without allocating.
#[derive(Clone, Copy)]
pub struct ExitGuard {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    filter: [libc::sock_filter; filter::LEN],
}

impl ExitGuard {
    pub const fn new() -> Self {
        ExitGuard {
            #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
            filter: filter::PROGRAM,
        }
    }

    /// Installs the guard in the calling process, for good (it survives
    /// exec). Async-signal-safe: three syscalls, no allocation, so it may run
    /// between fork and exec.
    pub fn install(&self) -> io::Result<()> {
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        {
            let no_core = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: setrlimit and prctl take plain values.
            if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) } != 0 {
                return Err(io::Error::last_os_error());
            }
            if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
                return Err(io::Error::last_os_error());
            }
            let prog = libc::sock_fprog {
                len: filter::LEN as libc::c_ushort,
                // The kernel copies the program and never writes through it.
                filter: self.filter.as_ptr() as *mut libc::sock_filter,
            };
            // SAFETY: `prog` points to `LEN` valid instructions for the call.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &prog as *const libc::sock_fprog,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }
        #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
        {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the exit guard's filter is written for x86_64 Linux",
            ))
        }
    }
}

impl Default for ExitGuard {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether the guard can be installed here: `Err` with the reason if not.
/// Found out once per process, by installing it in a forked child (what
/// every guarded spawn does); a failure is logged then, once.
pub fn available() -> Result<(), &'static str> {
    static PROBED: OnceLock<Result<(), String>> = OnceLock::new();
    PROBED
        .get_or_init(|| {
            probe().map_err(|err| {
                let why = format!("the exit guard cannot be installed here ({err})");
                eprintln!(
                    "gateway-host: {why}; a per-request runtime's clean exit with no \
                     output is refused (500) instead, as it may be a truncated status"
                );
                why
            })
        })
        .as_ref()
        .map(|_| ())
        .map_err(String::as_str)
}

fn probe() -> io::Result<()> {
    let guard = ExitGuard::new();
    // Where the filter does not exist, install says so without a child.
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    return guard.install();
    // SAFETY: the child only makes async-signal-safe calls (the guard's
    // syscalls and _exit), so forking a multi-threaded process is sound.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        let code = match guard.install() {
            Ok(()) => 0,
            // errno values fit in 8 bits (the guard allows them, too).
            Err(err) => err.raw_os_error().unwrap_or(libc::EINVAL).clamp(1, 255),
        };
        // SAFETY: ends the forked child without running the parent's exit
        // handlers or destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    loop {
        // SAFETY: waits for the child forked above.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    match (libc::WIFEXITED(status), libc::WEXITSTATUS(status)) {
        (true, 0) => Ok(()),
        (true, errno) => Err(io::Error::from_raw_os_error(errno)),
        (false, _) => Err(io::Error::other(format!(
            "the probe child died (wait status {status:#x})"
        ))),
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod filter {
    use libc::{sock_filter, BPF_ABS, BPF_ALU, BPF_AND, BPF_JEQ, BPF_JGT, BPF_JMP, BPF_K};
    use libc::{BPF_LD, BPF_RET, BPF_W, SECCOMP_RET_ALLOW, SECCOMP_RET_KILL_PROCESS};

    /// `AUDIT_ARCH_X86_64`: EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
    /// (not in the `libc` crate).
    const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
    /// `__X32_SYSCALL_BIT`: x32 calls carry the same numbers with this set.
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    /// The highest status the OS keeps whole.
    const MAX_STATUS: u32 = 255;

    // Offsets into `struct seccomp_data` { int nr; u32 arch; u64 ip; u64 args[6]; }.
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    /// The low 32 bits of `args[0]` (little-endian): the `int` status.
    const ARG0_LOW: u32 = 16;

    const fn stmt(code: u32, k: u32) -> sock_filter {
        sock_filter {
            code: code as u16,
            jt: 0,
            jf: 0,
            k,
        }
    }

    const fn jump(code: u32, k: u32, jt: u8, jf: u8) -> sock_filter {
        sock_filter {
            code: code as u16,
            jt,
            jf,
            k,
        }
    }

    pub const LEN: usize = 10;

    /// Jump offsets count the instructions skipped after the jump itself.
    pub const PROGRAM: [sock_filter; LEN] = [
        /* 0 */ stmt(BPF_LD | BPF_W | BPF_ABS, ARCH),
        /* 1 */ jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 6), // else 8
        /* 2 */ stmt(BPF_LD | BPF_W | BPF_ABS, NR),
        /* 3 */ stmt(BPF_ALU | BPF_AND | BPF_K, !X32_SYSCALL_BIT),
        /* 4 */ jump(BPF_JMP | BPF_JEQ | BPF_K, libc::SYS_exit_group as u32, 1, 0), // 6
        /* 5 */ jump(BPF_JMP | BPF_JEQ | BPF_K, libc::SYS_exit as u32, 0, 2), // else 8
        /* 6 */ stmt(BPF_LD | BPF_W | BPF_ABS, ARG0_LOW),
        /* 7 */ jump(BPF_JMP | BPF_JGT | BPF_K, MAX_STATUS, 1, 0), // above: 9
        /* 8 */ stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        /* 9 */ stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    ];
}

#[cfg(test)]
mod tests {
    //! The guard around this very test binary, re-run as a child that makes
    //! the exit calls ([`helper`]): a status the OS would truncate dies by
    //! SIGSYS, a whole one exits with it, and threads come and go.

    use super::*;
    use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
    use std::process::{Command, ExitStatus, Stdio};

    const HELPER_ENV: &str = "GATEWAY_EXIT_GUARD_HELPER";

    /// Does nothing in a normal run; in a child started by [`run_guarded`],
    /// does what `$GATEWAY_EXIT_GUARD_HELPER` says.
    #[test]
    fn helper() {
        let Ok(what) = std::env::var(HELPER_ENV) else {
            return;
        };
        let (call, status) = what.split_once(':').expect("CALL:STATUS");
        let status: i64 = status.parse().expect("a status");
        // A thread that starts and ends (with exit(0)) before the exit call.
        std::thread::spawn(|| ()).join().unwrap();
        let nr = match call {
            "exit_group" => libc::SYS_exit_group,
            "exit" => libc::SYS_exit,
            "std" => std::process::exit(status as i32),
            other => panic!("unknown call {other}"),
        };
        // SAFETY: ends the process (or this thread, for exit) here.
        unsafe { libc::syscall(nr, status) };
        unreachable!("{call}({status}) returned");
    }

    fn run_guarded(what: &str, guarded: bool) -> ExitStatus {
        // This process's own image, even if a concurrent build has replaced
        // the file at its path since it started (the forked child execs it).
        let mut cmd = Command::new("/proc/self/exe");
        cmd.args(["--exact", "exit_guard::tests::helper", "--test-threads=1"])
            .env(HELPER_ENV, what)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if guarded {
            let guard = ExitGuard::new();
            // SAFETY: install is async-signal-safe and `guard` is plain data.
            unsafe { cmd.pre_exec(move || guard.install()) };
        }
        cmd.status().unwrap()
    }

    fn guard_here() -> bool {
        match available() {
            Ok(()) => true,
            Err(why) => {
                eprintln!("exit_guard: not checked: {why}");
                false
            }
        }
    }

    #[test]
    fn a_truncated_status_dies_by_sigsys() {
        if !guard_here() {
            return;
        }
        for what in [
            "exit_group:256",
            "exit_group:-1",
            "exit_group:4096",
            "std:512",
        ] {
            // Unguarded, the OS keeps 8 bits: the case the guard exists for.
            let plain = run_guarded(what, false);
            assert!(plain.code().is_some(), "{what} unguarded: {plain:?}");
            let status = run_guarded(what, true);
            assert_eq!(status.signal(), Some(SIGNAL), "{what}: {status:?}");
        }
    }

    #[test]
    fn a_whole_status_passes() {
        if !guard_here() {
            return;
        }
        for (what, code) in [
            ("exit_group:0", 0),
            ("exit_group:3", 3),
            ("exit_group:255", 255),
            ("std:7", 7),
        ] {
            let status = run_guarded(what, true);
            assert_eq!(status.code(), Some(code), "{what}: {status:?}");
        }
    }

    #[test]
    fn a_thread_exit_over_255_kills_the_process_too() {
        if !guard_here() {
            return;
        }
        // The helper runs on libtest's test thread: exit(300) ends a thread,
        // which would be a truncated status if it were the last one.
        let status = run_guarded("exit:300", true);
        assert_eq!(status.signal(), Some(SIGNAL), "{status:?}");
    }

    #[test]
    fn the_guarded_child_dumps_no_core() {
        if !guard_here() {
            return;
        }
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "ulimit -c"]).stderr(Stdio::null());
        let guard = ExitGuard::new();
        // SAFETY: as in run_guarded.
        unsafe { cmd.pre_exec(move || guard.install()) };
        let out = cmd.output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
        assert!(out.status.success());
    }
}
