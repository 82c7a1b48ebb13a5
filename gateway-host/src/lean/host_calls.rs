//! The lean runtime's WASI preview1: only what a gateway module can use with
//! the body on stdin, stdout in memory and nothing else (no files, sockets,
//! arguments or environment), each written with `Linker::func_wrap` over one
//! plain per-request struct. wasmtime-wasi builds a whole WASI context
//! (tables, pipes behind locks, a per-call runtime entry) for every request;
//! here a request's I/O is two byte buffers.
//!
//! Every call answers with a WASI errno, never a panic: an fd other than
//! stdio is `EBADF`, a pointer outside memory `EFAULT`. Three things end the
//! instance instead: `proc_exit`, output over the cap, and a `poll_oneoff`
//! that would sleep past the request's deadline (epoch interruption does not
//! reach a module blocked in a host call).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wasmtime::{Caller, Extern, Linker, Memory, StoreLimits, Trap};

use super::stubs;

/// The import module every preview1 function lives in.
pub(crate) const WASI: &str = "wasi_snapshot_preview1";

// WASI preview1 errnos.
const SUCCESS: i32 = 0;
const EBADF: i32 = 8;
const EFAULT: i32 = 21;
const EINVAL: i32 = 28;
const EIO: i32 = 29;
pub(crate) const ENOSYS: i32 = 52;
const ENOTSUP: i32 = 58;
const ESPIPE: i32 = 70;

const STDIN: i32 = 0;
const STDOUT: i32 = 1;
const STDERR: i32 = 2;
/// `filetype::character_device`: what stdio is to the module.
const FILETYPE_CHARACTER_DEVICE: u8 = 2;
const CLOCK_REALTIME: u32 = 0;
const CLOCK_MONOTONIC: u32 = 1;

/// `proc_exit(code)`: ends the instance; the status is the caller's to judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exit(pub i32);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exited with status {}", self.0)
    }
}

impl std::error::Error for Exit {}

/// Stdout went past its cap: the request fails (a 500), never truncated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutputOverCap(pub usize);

impl std::fmt::Display for OutputOverCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "output exceeded {} bytes", self.0)
    }
}

impl std::error::Error for OutputOverCap {}

/// One request's store data under lean's host calls (wasmtime-wasi's
/// runtimes keep theirs in `call::RequestState`).
pub(crate) struct LeanState {
    stdin: Vec<u8>,
    read: usize,
    pub(crate) stdout: Vec<u8>,
    max_output: usize,
    /// Stdio fds the module closed (bit = fd): later calls on them are EBADF.
    closed: u8,
    /// The instance's exported memory, set once it exists; host calls of a
    /// module without one fail with EFAULT.
    pub(crate) memory: Option<Memory>,
    pub(crate) limits: StoreLimits,
    /// Origin of the module's monotonic clock.
    started: Instant,
    deadline: Instant,
}

impl LeanState {
    pub(crate) fn new(
        body: &[u8],
        max_output: usize,
        limits: StoreLimits,
        started: Instant,
        deadline: Instant,
    ) -> Self {
        LeanState {
            stdin: body.to_vec(),
            read: 0,
            stdout: Vec::new(),
            max_output,
            closed: 0,
            memory: None,
            limits,
            started,
            deadline,
        }
    }

    /// The next request's state in the same store (`recycled`): its body,
    /// clock and deadline; the memory and the limits are kept.
    pub(crate) fn renew(&mut self, body: &[u8], started: Instant, deadline: Instant) {
        self.stdin.clear();
        self.stdin.extend_from_slice(body);
        self.read = 0;
        self.stdout = Vec::new();
        self.closed = 0;
        self.started = started;
        self.deadline = deadline;
    }

    fn is_open(&self, fd: i32) -> bool {
        (STDIN..=STDERR).contains(&fd) && self.closed & (1 << fd) == 0
    }

    /// `errno` for an open stdio fd, `EBADF` for any other.
    fn or_ebadf(&self, fd: i32, errno: i32) -> i32 {
        if self.is_open(fd) {
            errno
        } else {
            EBADF
        }
    }
}

/// The module's memory and the request's state, or `EFAULT` without memory.
fn split<'a>(
    caller: &'a mut Caller<'_, LeanState>,
) -> Result<(&'a mut [u8], &'a mut LeanState), i32> {
    let memory = match caller.data().memory {
        Some(memory) => memory,
        // A start function runs before the host has the instance: its
        // `memory` export, found as wasmtime-wasi finds it, so host calls
        // there work as under every other runtime.
        None => match caller.get_export("memory") {
            Some(Extern::Memory(memory)) => memory,
            _ => return Err(EFAULT),
        },
    };
    Ok(memory.data_and_store_mut(caller))
}

/// `len` bytes at guest address `ptr`.
fn bytes(mem: &[u8], ptr: i32, len: usize) -> Result<&[u8], i32> {
    let start = ptr as u32 as usize;
    mem.get(start..start.checked_add(len).ok_or(EFAULT)?)
        .ok_or(EFAULT)
}

fn bytes_mut(mem: &mut [u8], ptr: i32, len: usize) -> Result<&mut [u8], i32> {
    let start = ptr as u32 as usize;
    mem.get_mut(start..start.checked_add(len).ok_or(EFAULT)?)
        .ok_or(EFAULT)
}

fn read_u32(mem: &[u8], ptr: i32) -> Result<u32, i32> {
    let b = bytes(mem, ptr, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn write_u32(mem: &mut [u8], ptr: i32, value: u32) -> Result<(), i32> {
    bytes_mut(mem, ptr, 4)?.copy_from_slice(&value.to_le_bytes());
    Ok(())
}

fn write_u64(mem: &mut [u8], ptr: i32, value: u64) -> Result<(), i32> {
    bytes_mut(mem, ptr, 8)?.copy_from_slice(&value.to_le_bytes());
    Ok(())
}

/// The `i`th `iovec {buf: u32, len: u32}` of the array at `iovs`.
fn iovec(mem: &[u8], iovs: i32, i: u32) -> Result<(i32, usize), i32> {
    let at = (iovs as u32)
        .checked_add(i.checked_mul(8).ok_or(EFAULT)?)
        .ok_or(EFAULT)? as i32;
    let buf = read_u32(mem, at)? as i32;
    let len = read_u32(mem, at.wrapping_add(4))? as usize;
    Ok((buf, len))
}

/// An errno result as the function's return value.
fn errno(result: Result<(), i32>) -> i32 {
    match result {
        Ok(()) => SUCCESS,
        Err(e) => e,
    }
}

/// Adds the layer to `linker`; [`stubs`] adds ENOSYS for the rest of
/// preview1 that a module imports.
pub(crate) fn link(linker: &mut Linker<LeanState>) -> wasmtime::Result<()> {
    linker.func_wrap(WASI, "fd_read", fd_read)?;
    linker.func_wrap(WASI, "fd_write", fd_write)?;
    linker.func_wrap(WASI, "proc_exit", |code: i32| -> wasmtime::Result<()> {
        Err(wasmtime::Error::new(Exit(code)))
    })?;
    // No arguments and no environment: both lists are empty.
    for (sizes, get) in [
        ("args_sizes_get", "args_get"),
        ("environ_sizes_get", "environ_get"),
    ] {
        linker.func_wrap(WASI, sizes, empty_list_sizes)?;
        linker.func_wrap(WASI, get, |_: i32, _: i32| SUCCESS)?;
    }
    linker.func_wrap(WASI, "fd_fdstat_get", fd_fdstat_get)?;
    linker.func_wrap(WASI, "fd_filestat_get", fd_filestat_get)?;
    linker.func_wrap(WASI, "fd_close", fd_close)?;
    // No preopened directories: wasi-libc stops looking at the first EBADF.
    linker.func_wrap(WASI, "fd_prestat_get", |_: i32, _: i32| EBADF)?;
    linker.func_wrap(WASI, "fd_prestat_dir_name", |_: i32, _: i32, _: i32| EBADF)?;
    linker.func_wrap(
        WASI,
        "fd_seek",
        |caller: Caller<'_, LeanState>, fd: i32, _: i64, _: i32, _: i32| {
            caller.data().or_ebadf(fd, ESPIPE)
        },
    )?;
    linker.func_wrap(
        WASI,
        "fd_tell",
        |caller: Caller<'_, LeanState>, fd: i32, _: i32| caller.data().or_ebadf(fd, ESPIPE),
    )?;
    linker.func_wrap(WASI, "fd_sync", |caller: Caller<'_, LeanState>, fd: i32| {
        caller.data().or_ebadf(fd, SUCCESS)
    })?;
    linker.func_wrap(
        WASI,
        "fd_fdstat_set_flags",
        |caller: Caller<'_, LeanState>, fd: i32, _: i32| caller.data().or_ebadf(fd, ENOTSUP),
    )?;
    linker.func_wrap(WASI, "random_get", random_get)?;
    linker.func_wrap(WASI, "clock_time_get", clock_time_get)?;
    linker.func_wrap(WASI, "clock_res_get", clock_res_get)?;
    linker.func_wrap(WASI, "sched_yield", || SUCCESS)?;
    linker.func_wrap(WASI, "poll_oneoff", poll_oneoff)?;
    stubs::link(linker)
}

/// `fd_read`: stdin is the request body; past its end, reads return 0.
fn fd_read(mut caller: Caller<'_, LeanState>, fd: i32, iovs: i32, n: i32, nread: i32) -> i32 {
    let Ok((mem, state)) = split(&mut caller) else {
        return EFAULT;
    };
    if fd != STDIN || !state.is_open(fd) {
        return EBADF;
    }
    let result = (|| {
        let mut total = 0usize;
        for i in 0..n as u32 {
            let (buf, len) = iovec(mem, iovs, i)?;
            let left = &state.stdin[state.read..];
            let take = len.min(left.len());
            bytes_mut(mem, buf, take)?.copy_from_slice(&left[..take]);
            state.read += take;
            total += take;
            if take < len {
                break;
            }
        }
        write_u32(mem, nread, total as u32)
    })();
    errno(result)
}

/// `fd_write`: stdout is kept, up to the cap (over it ends the instance);
/// stderr is discarded, as wasmtime-wasi's default does.
fn fd_write(
    mut caller: Caller<'_, LeanState>,
    fd: i32,
    iovs: i32,
    n: i32,
    nwritten: i32,
) -> wasmtime::Result<i32> {
    let Ok((mem, state)) = split(&mut caller) else {
        return Ok(EFAULT);
    };
    if !state.is_open(fd) || fd == STDIN {
        return Ok(EBADF);
    }
    let mut total = 0usize;
    for i in 0..n as u32 {
        let (buf, len) = match iovec(mem, iovs, i) {
            Ok(v) => v,
            Err(e) => return Ok(e),
        };
        let data = match bytes(mem, buf, len) {
            Ok(d) => d,
            Err(e) => return Ok(e),
        };
        if fd == STDOUT {
            if state.stdout.len() + data.len() > state.max_output {
                return Err(wasmtime::Error::new(OutputOverCap(state.max_output)));
            }
            state.stdout.extend_from_slice(data);
        }
        total += len;
    }
    let Ok(total) = u32::try_from(total) else {
        return Ok(EIO);
    };
    Ok(errno(write_u32(mem, nwritten, total)))
}

fn empty_list_sizes(mut caller: Caller<'_, LeanState>, count: i32, size: i32) -> i32 {
    let Ok((mem, _)) = split(&mut caller) else {
        return EFAULT;
    };
    errno(write_u32(mem, count, 0).and_then(|()| write_u32(mem, size, 0)))
}

/// `fdstat` (24 bytes): filetype at 0, flags at 2, rights at 8 and 16.
fn fd_fdstat_get(mut caller: Caller<'_, LeanState>, fd: i32, out: i32) -> i32 {
    let Ok((mem, state)) = split(&mut caller) else {
        return EFAULT;
    };
    if !state.is_open(fd) {
        return EBADF;
    }
    errno(bytes_mut(mem, out, 24).map(|stat| {
        stat.fill(0);
        stat[0] = FILETYPE_CHARACTER_DEVICE;
        // fd_read (bit 1) for stdin, fd_write (bit 6) for the others, and
        // poll_fd_readwrite (bit 27).
        let rights: u64 = (if fd == STDIN { 1 << 1 } else { 1 << 6 }) | 1 << 27;
        stat[8..16].copy_from_slice(&rights.to_le_bytes());
    }))
}

/// `filestat` (64 bytes), all zero but the filetype at 16.
fn fd_filestat_get(mut caller: Caller<'_, LeanState>, fd: i32, out: i32) -> i32 {
    let Ok((mem, state)) = split(&mut caller) else {
        return EFAULT;
    };
    if !state.is_open(fd) {
        return EBADF;
    }
    errno(bytes_mut(mem, out, 64).map(|stat| {
        stat.fill(0);
        stat[16] = FILETYPE_CHARACTER_DEVICE;
    }))
}

fn fd_close(mut caller: Caller<'_, LeanState>, fd: i32) -> i32 {
    let state = caller.data_mut();
    if !state.is_open(fd) {
        return EBADF;
    }
    state.closed |= 1 << fd;
    SUCCESS
}

/// `random_get` from the kernel's generator.
fn random_get(mut caller: Caller<'_, LeanState>, buf: i32, len: i32) -> i32 {
    let Ok((mem, _)) = split(&mut caller) else {
        return EFAULT;
    };
    let Ok(out) = bytes_mut(mem, buf, len as u32 as usize) else {
        return EFAULT;
    };
    let mut filled = 0;
    while filled < out.len() {
        let rest = &mut out[filled..];
        // SAFETY: `rest` is a valid, writable buffer of `rest.len()` bytes.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return EIO;
        }
        filled += n as usize;
    }
    SUCCESS
}

/// Nanoseconds on clock `id` now: the wall clock, or the request's own
/// monotonic clock (from the request's start). Other clocks are EINVAL.
fn now(state: &LeanState, id: u32) -> Result<u64, i32> {
    let since = match id {
        CLOCK_REALTIME => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| EIO)?,
        CLOCK_MONOTONIC => state.started.elapsed(),
        _ => return Err(EINVAL),
    };
    u64::try_from(since.as_nanos()).map_err(|_| EIO)
}

fn clock_time_get(mut caller: Caller<'_, LeanState>, id: i32, _precision: i64, out: i32) -> i32 {
    let Ok((mem, state)) = split(&mut caller) else {
        return EFAULT;
    };
    errno(now(state, id as u32).and_then(|ns| write_u64(mem, out, ns)))
}

fn clock_res_get(mut caller: Caller<'_, LeanState>, id: i32, out: i32) -> i32 {
    let Ok((mem, _)) = split(&mut caller) else {
        return EFAULT;
    };
    match id as u32 {
        CLOCK_REALTIME | CLOCK_MONOTONIC => errno(write_u64(mem, out, 1)),
        _ => EINVAL,
    }
}

// `subscription` (48 bytes): userdata at 0, tag at 8, then for a clock its
// id at 16, timeout at 24 and flags at 40, for an fd its number at 16.
// `event` (32 bytes): userdata at 0, errno at 8, type at 10, then for an fd
// the bytes available at 16.
const SUBSCRIPTION_SIZE: usize = 48;
const EVENT_SIZE: usize = 32;
const TAG_CLOCK: u8 = 0;
const TAG_FD_READ: u8 = 1;
const TAG_FD_WRITE: u8 = 2;
const FLAG_ABSTIME: u16 = 1;

/// `poll_oneoff`: stdio is in memory, so an fd subscription is ready at once
/// and answered without sleeping; otherwise the call sleeps until the
/// earliest clock, and one that would end past the request's deadline ends
/// at the deadline as an interrupt (the deadline's 500).
fn poll_oneoff(
    mut caller: Caller<'_, LeanState>,
    subs: i32,
    events: i32,
    nsubs: i32,
    nevents: i32,
) -> wasmtime::Result<i32> {
    let Ok((mem, state)) = split(&mut caller) else {
        return Ok(EFAULT);
    };
    let count = nsubs as u32 as usize;
    if count == 0 {
        return Ok(EINVAL);
    }
    let Some(len) = count.checked_mul(SUBSCRIPTION_SIZE) else {
        return Ok(EFAULT);
    };
    let Ok(all) = bytes(mem, subs, len) else {
        return Ok(EFAULT);
    };
    let all = all.to_vec();
    // Ready fd subscriptions, else the earliest clock and its wait.
    let mut ready: Vec<(u64, u8, u16, u64)> = Vec::new();
    let mut earliest: Option<(Duration, u64)> = None;
    for sub in all.chunks_exact(SUBSCRIPTION_SIZE) {
        let userdata = u64::from_le_bytes(sub[0..8].try_into().expect("8 bytes"));
        let fd = i32::from_le_bytes(sub[16..20].try_into().expect("4 bytes"));
        match sub[8] {
            TAG_CLOCK => {
                let id = u32::from_le_bytes(sub[16..20].try_into().expect("4 bytes"));
                let timeout = u64::from_le_bytes(sub[24..32].try_into().expect("8 bytes"));
                let flags = u16::from_le_bytes([sub[40], sub[41]]);
                let wait = if flags & FLAG_ABSTIME == 0 {
                    timeout
                } else {
                    match now(state, id) {
                        Ok(now) => timeout.saturating_sub(now),
                        Err(e) => return Ok(e),
                    }
                };
                if earliest.is_none_or(|(w, _)| Duration::from_nanos(wait) < w) {
                    earliest = Some((Duration::from_nanos(wait), userdata));
                }
            }
            tag @ (TAG_FD_READ | TAG_FD_WRITE) => {
                let (err, avail) = match (tag, state.is_open(fd)) {
                    (TAG_FD_READ, true) if fd == STDIN => {
                        (0, (state.stdin.len() - state.read) as u64)
                    }
                    (TAG_FD_WRITE, true) if fd != STDIN => (0, 0),
                    _ => (EBADF as u16, 0),
                };
                ready.push((userdata, tag, err, avail));
            }
            _ => return Ok(EINVAL),
        }
    }
    if ready.is_empty() {
        let Some((wait, userdata)) = earliest else {
            return Ok(EINVAL);
        };
        let left = state.deadline.saturating_duration_since(Instant::now());
        if wait > left {
            // Ends when every other runtime's deadline would: at it.
            std::thread::sleep(left);
            return Err(wasmtime::Error::new(Trap::Interrupt));
        }
        std::thread::sleep(wait);
        ready.push((userdata, TAG_CLOCK, 0, 0));
    }
    let result = (|| {
        let out = bytes_mut(mem, events, ready.len() * EVENT_SIZE)?;
        for ((userdata, tag, err, avail), event) in
            ready.iter().zip(out.chunks_exact_mut(EVENT_SIZE))
        {
            event.fill(0);
            event[0..8].copy_from_slice(&userdata.to_le_bytes());
            event[8..10].copy_from_slice(&err.to_le_bytes());
            event[10] = *tag;
            event[16..24].copy_from_slice(&avail.to_le_bytes());
        }
        write_u32(mem, nevents, ready.len() as u32)
    })();
    Ok(errno(result))
}
