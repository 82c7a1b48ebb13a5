//! One child process, run to completion under a deadline: the input is written
//! to its stdin, its stdout is collected (capped) and the tail of its stderr
//! kept, and it is always reaped, whatever happens.
//!
//! A single thread waits in poll(2) on the three pipes and on a pidfd (which
//! becomes readable when the child exits), with the time left as poll's
//! timeout: no sleeping, no helper thread, no latency added to a request.
//! The child leads its own process group, and the whole group is sent SIGKILL
//! before the leader is reaped: while the leader is unreaped its pid cannot be
//! reused, so the kill cannot hit a stranger, and anything it forked dies too.
//! Before exec the child asks for SIGKILL when the gateway dies (so a killed
//! gateway leaves no runtime looping on), and gets an optional `RLIMIT_AS`, a
//! backstop under the runtime's own memory cap.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What a child may cost.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// From spawn to exit, after which the child's group is killed.
    pub timeout: Duration,
    /// More stdout than this kills the child.
    pub max_stdout: usize,
    /// How much of the end of stderr to keep for error messages.
    pub stderr_tail: usize,
    /// The child's `RLIMIT_AS` (virtual address space, bytes), if any.
    pub max_address_space: Option<u64>,
}

/// A child that exited (by itself) before its deadline.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    /// The last [`Bounds::stderr_tail`] bytes of stderr.
    pub stderr_tail: Vec<u8>,
}

/// Why there is no [`Output`]. In every case the child has been reaped.
#[derive(Debug)]
pub enum RunError {
    /// The program could not be started (e.g. `NotFound`).
    Spawn(io::Error),
    /// The deadline passed; the child's group was killed.
    TimedOut { stderr_tail: Vec<u8> },
    /// Stdout went past [`Bounds::max_stdout`]; the child's group was killed.
    OutputTooLarge { limit: usize },
    /// Talking to the child failed; it was killed.
    Io(io::Error),
}

/// Runs `cmd` with `input` on its stdin. Overrides `cmd`'s stdio and process
/// group; everything else (args, env, cwd) is the caller's.
pub fn run(cmd: &mut Command, input: &[u8], bounds: Bounds) -> Result<Output, RunError> {
    run_inner(cmd, input, bounds, true)
}

/// [`run`]; `use_pidfd: false` forces the fallback, so tests can cover it.
fn run_inner(
    cmd: &mut Command,
    input: &[u8],
    bounds: Bounds,
    use_pidfd: bool,
) -> Result<Output, RunError> {
    let deadline = Instant::now() + bounds.timeout;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let limit = bounds.max_address_space.map(|bytes| libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: bytes as libc::rlim_t,
    });
    // SAFETY: prctl and setrlimit are async-signal-safe, and `limit` is a
    // plain value copied into the closure. (A pre_exec hook makes std fork
    // instead of posix_spawn: some microseconds on a spawn of about 10 ms.)
    unsafe {
        cmd.pre_exec(move || {
            // If the gateway is SIGKILLed mid-request, its runtime dies too
            // instead of looping on as an orphan.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            if let Some(limit) = limit {
                if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(RunError::Spawn)?;
    let mut reaper = Reaper {
        child,
        reaped: false,
    };
    let result = exchange(&mut reaper, input, bounds, deadline, use_pidfd);
    // Killing the group first also ends anything the child left behind.
    let status = reaper.kill_and_reap().map_err(RunError::Io);
    let (stdout, stderr_tail) = result?;
    Ok(Output {
        status: status?,
        stdout,
        stderr_tail,
    })
}

/// Feeds stdin and drains stdout/stderr until the pipes are closed and the
/// child has exited, or until the deadline.
fn exchange(
    reaper: &mut Reaper,
    mut input: &[u8],
    bounds: Bounds,
    deadline: Instant,
    use_pidfd: bool,
) -> Result<(Vec<u8>, Vec<u8>), RunError> {
    let child = &mut reaper.child;
    let mut stdin = child.stdin.take();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    for fd in [
        stdin.as_ref().map(AsRawFd::as_raw_fd),
        stdout.as_ref().map(AsRawFd::as_raw_fd),
        stderr.as_ref().map(AsRawFd::as_raw_fd),
    ]
    .into_iter()
    .flatten()
    {
        set_nonblocking(fd).map_err(RunError::Io)?;
    }
    let pidfd = use_pidfd.then(|| pidfd_open(child.id())).flatten();
    let mut exited = false;
    let mut out = Vec::new();
    let mut err_tail = Tail::new(bounds.stderr_tail);
    let mut buf = [0u8; 16 * 1024];

    // Small bodies fit in the pipe buffer: write now, before the first poll.
    feed(&mut stdin, &mut input);
    loop {
        let pipes_closed = stdout.is_none() && stderr.is_none();
        if pipes_closed && exited {
            return Ok((out, err_tail.into_vec()));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(RunError::TimedOut {
                stderr_tail: err_tail.into_vec(),
            });
        }
        if pipes_closed && pidfd.is_none() {
            // Only without pidfd (Linux < 5.3): the pipes closed, which a
            // child does as it exits; wait briefly for the exit itself.
            exited = wait_exit_without_pidfd(child, deadline).map_err(RunError::Io)?;
            continue;
        }

        let mut fds = Vec::with_capacity(4);
        let mut watch = |fd: Option<RawFd>, events: libc::c_short| {
            fd.map(|fd| {
                fds.push(libc::pollfd {
                    fd,
                    events,
                    revents: 0,
                });
                fds.len() - 1
            })
        };
        let i_in = watch(stdin.as_ref().map(AsRawFd::as_raw_fd), libc::POLLOUT);
        let i_out = watch(stdout.as_ref().map(AsRawFd::as_raw_fd), libc::POLLIN);
        let i_err = watch(stderr.as_ref().map(AsRawFd::as_raw_fd), libc::POLLIN);
        let i_pid = watch(
            pidfd.as_ref().filter(|_| !exited).map(AsRawFd::as_raw_fd),
            libc::POLLIN,
        );
        // Round up, so poll never returns just before the deadline.
        let timeout_ms = left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(RunError::Io(e));
        }
        let ready = |i: Option<usize>| i.is_some_and(|i| fds[i].revents != 0);

        if ready(i_in) {
            feed(&mut stdin, &mut input);
        }
        if ready(i_out) {
            drain(&mut stdout, &mut buf, |chunk| {
                if out.len() + chunk.len() > bounds.max_stdout {
                    return Err(RunError::OutputTooLarge {
                        limit: bounds.max_stdout,
                    });
                }
                out.extend_from_slice(chunk);
                Ok(())
            })?;
        }
        if ready(i_err) {
            drain(&mut stderr, &mut buf, |chunk| {
                err_tail.push(chunk);
                Ok(())
            })?;
        }
        if ready(i_pid) {
            exited = true;
            // A child that exited without reading all of its input never will.
            stdin = None;
        }
    }
}

/// Writes as much of `input` as the pipe takes; closes stdin when all is
/// written, or when the child stops reading (EPIPE and the like).
fn feed(stdin: &mut Option<std::process::ChildStdin>, input: &mut &[u8]) {
    let Some(pipe) = stdin.as_mut() else { return };
    while !input.is_empty() {
        match pipe.write(input) {
            Ok(n) => *input = &input[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(_) => break,
        }
    }
    // Closing is the child's end-of-file.
    *stdin = None;
}

/// Reads what is available; drops the pipe at end-of-file.
fn drain<R: Read>(
    pipe: &mut Option<R>,
    buf: &mut [u8],
    mut sink: impl FnMut(&[u8]) -> Result<(), RunError>,
) -> Result<(), RunError> {
    let Some(reader) = pipe.as_mut() else {
        return Ok(());
    };
    loop {
        match reader.read(buf) {
            Ok(0) => {
                *pipe = None;
                return Ok(());
            }
            Ok(n) => sink(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(RunError::Io(e)),
        }
    }
}

/// Owns the child until it is reaped; dropping it kills and reaps, so not even
/// a panic can leave a zombie.
struct Reaper {
    child: Child,
    reaped: bool,
}

impl Reaper {
    fn kill_and_reap(&mut self) -> io::Result<ExitStatus> {
        let pgid = self.child.id() as libc::pid_t;
        // SAFETY: plain syscall. The group's leader is not reaped yet, so
        // `pgid` still names our child's group.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        // Closes our pipe ends too (none are left open by `exchange`).
        let status = self.child.wait();
        self.reaped = true;
        status
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.kill_and_reap();
        }
    }
}

/// The last `cap` bytes of a stream.
struct Tail {
    cap: usize,
    buf: Vec<u8>,
}

impl Tail {
    fn new(cap: usize) -> Self {
        Tail {
            cap,
            buf: Vec::new(),
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
        // Trim in batches, so a chatty child costs amortised O(1) a byte.
        if self.buf.len() > 2 * self.cap.max(4096) {
            let cut = self.buf.len() - self.cap;
            self.buf.drain(..cut);
        }
    }

    fn into_vec(mut self) -> Vec<u8> {
        let cut = self.buf.len().saturating_sub(self.cap);
        self.buf.drain(..cut);
        self.buf
    }
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor this process owns.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A descriptor that polls readable when the process exits (Linux 5.3+);
/// `None` where the kernel (or a seccomp filter) does not offer it.
fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: pidfd_open(pid, 0) returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        // SAFETY: a non-negative result is a descriptor we now own.
        (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

/// The fallback when there is no pidfd: the child has closed its pipes, so it
/// is normally exiting already. Checks without reaping (WNOWAIT keeps the pid
/// ours until `Reaper` kills the group and reaps), backing off from 50 us.
/// Returns whether it exited before the deadline.
fn wait_exit_without_pidfd(child: &Child, deadline: Instant) -> io::Result<bool> {
    let mut pause = Duration::from_micros(50);
    loop {
        // SAFETY: a zeroed siginfo_t is valid; waitid fills it in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                child.id() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: waitid succeeded, so si_pid is initialised (0 = still running).
        if unsafe { info.si_pid() } != 0 {
            return Ok(true);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh_without_pidfd(script: &str, input: &[u8]) -> Result<Output, RunError> {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", script]);
        let bounds = Bounds {
            timeout: Duration::from_millis(300),
            max_stdout: 1 << 20,
            stderr_tail: 1024,
            max_address_space: None,
        };
        run_inner(&mut cmd, input, bounds, false)
    }

    #[test]
    fn without_pidfd_output_and_status_arrive() {
        let out = sh_without_pidfd("printf wasm:; cat; exit 4", b"hi").unwrap();
        assert_eq!(out.stdout, b"wasm:hi");
        assert_eq!(out.status.code(), Some(4));
    }

    #[test]
    fn without_pidfd_a_lingering_child_still_times_out() {
        let start = Instant::now();
        let err = sh_without_pidfd("exec >&- 2>&-; sleep 1000", b"").unwrap_err();
        assert!(matches!(err, RunError::TimedOut { .. }), "{err:?}");
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(5));
    }

    #[test]
    fn tail_keeps_the_end() {
        let mut t = Tail::new(4);
        t.push(b"hello ");
        t.push(b"world");
        assert_eq!(t.into_vec(), b"orld");
        let mut t = Tail::new(4096);
        for _ in 0..10_000 {
            t.push(b"0123456789");
        }
        let v = t.into_vec();
        assert_eq!(v.len(), 4096);
        assert!(v.ends_with(b"0123456789"));
    }
}
