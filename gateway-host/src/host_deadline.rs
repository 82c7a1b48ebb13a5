//! The embedded deadline over host calls. Epoch interruption only fires while
//! Wasm code runs, so a module sleeping in a host call would hold the
//! single-threaded gateway for as long as it asks. With in-memory stdio and no
//! preopened files or sockets, WASI preview1's `poll_oneoff` on clocks is the
//! only host call here that can block; this wraps it so a sleep that would end
//! past the deadline ends at the deadline, as an interrupt (a 500).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wasmtime::{Caller, Extern, Linker, Trap};

const MODULE: &str = "wasi_snapshot_preview1";
const POLL_ONEOFF: &str = "poll_oneoff";

/// WASI preview1's `subscription`: 48 bytes; the tag at 8, the clock's id at
/// 16, its timeout (ns) at 24, its flags at 40.
const SUBSCRIPTION_SIZE: usize = 48;
const TAG_CLOCK: u8 = 0;
const CLOCK_REALTIME: u32 = 0;
const CLOCK_MONOTONIC: u32 = 1;
const FLAG_ABSTIME: u16 = 1;

/// Replaces `poll_oneoff` in `linker` (which must already have WASI preview1)
/// by a wrapper that checks the subscriptions against `deadline(store data)`
/// first. `started` gives the instant the request's WASI context was built,
/// which is the origin of its monotonic clock (used for absolute timeouts).
pub fn bound_poll_oneoff<T: 'static>(
    linker: &mut Linker<T>,
    deadline: fn(&T) -> Instant,
    started: fn(&T) -> Instant,
) -> wasmtime::Result<()> {
    // The original definition stays reachable through this copy.
    let wasi = linker.clone();
    linker.allow_shadowing(true);
    linker.func_wrap(
        MODULE,
        POLL_ONEOFF,
        move |mut caller: Caller<'_, T>,
              subs: i32,
              events: i32,
              nsubs: i32,
              nevents: i32|
              -> wasmtime::Result<i32> {
            let deadline = deadline(caller.data());
            let started = started(caller.data());
            if let Some(wait) = clock_wait(&mut caller, subs, nsubs, started) {
                let left = deadline.saturating_duration_since(Instant::now());
                if wait > left {
                    // Ends when every other runtime's deadline would: at it.
                    std::thread::sleep(left);
                    return Err(wasmtime::Error::new(Trap::Interrupt));
                }
            }
            let Extern::Func(inner) = wasi.get(&mut caller, MODULE, POLL_ONEOFF)? else {
                return Err(wasmtime::Error::msg("WASI poll_oneoff is not a function"));
            };
            inner
                .typed::<(i32, i32, i32, i32), i32>(&caller)?
                .call(&mut caller, (subs, events, nsubs, nevents))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// How long a `poll_oneoff` call would block: the earliest clock's wait, when
/// every subscription is a clock. `None` (no blocking to bound) when one is
/// not a clock (stdio is in memory, always ready), or the subscriptions
/// cannot be read (WASI itself then answers with an error).
fn clock_wait<T>(
    caller: &mut Caller<'_, T>,
    subs: i32,
    nsubs: i32,
    started: Instant,
) -> Option<Duration> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return None;
    };
    let data = memory.data(&caller);
    let start = usize::try_from(subs as u32).ok()?;
    let count = usize::try_from(nsubs as u32).ok()?;
    let bytes = data.get(start..start.checked_add(count.checked_mul(SUBSCRIPTION_SIZE)?)?)?;
    bytes
        .chunks_exact(SUBSCRIPTION_SIZE)
        .map(|sub| clock_subscription_wait(sub, started))
        .try_fold(None, |earliest: Option<Duration>, wait| {
            let wait = wait?;
            Some(Some(earliest.map_or(wait, |e| e.min(wait))))
        })
        .flatten()
}

/// One subscription's wait, if it is a clock this can read.
fn clock_subscription_wait(sub: &[u8], started: Instant) -> Option<Duration> {
    let u32_at = |at: usize| u32::from_le_bytes(sub[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(sub[at..at + 8].try_into().unwrap());
    if sub[8] != TAG_CLOCK {
        return None;
    }
    let (id, timeout) = (u32_at(16), u64_at(24));
    let flags = u16::from_le_bytes([sub[40], sub[41]]);
    if flags & FLAG_ABSTIME == 0 {
        return Some(Duration::from_nanos(timeout));
    }
    let now = match id {
        CLOCK_REALTIME => SystemTime::now().duration_since(UNIX_EPOCH).ok()?,
        // The context's monotonic clock counts from its creation, which is
        // just after `started`: this errs on the short side by microseconds.
        CLOCK_MONOTONIC => started.elapsed(),
        _ => return None,
    };
    Some(Duration::from_nanos(timeout).saturating_sub(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(id: u32, timeout: u64, flags: u16) -> [u8; SUBSCRIPTION_SIZE] {
        let mut sub = [0u8; SUBSCRIPTION_SIZE];
        sub[8] = TAG_CLOCK;
        sub[16..20].copy_from_slice(&id.to_le_bytes());
        sub[24..32].copy_from_slice(&timeout.to_le_bytes());
        sub[40..42].copy_from_slice(&flags.to_le_bytes());
        sub
    }

    #[test]
    fn relative_clocks_wait_their_timeout() {
        let sub = clock(CLOCK_MONOTONIC, 10_000_000_000, 0);
        assert_eq!(
            clock_subscription_wait(&sub, Instant::now()),
            Some(Duration::from_secs(10))
        );
    }

    #[test]
    fn absolute_clocks_wait_until_their_time() {
        let in_an_hour =
            SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(3600);
        let sub = clock(CLOCK_REALTIME, in_an_hour.as_nanos() as u64, FLAG_ABSTIME);
        let wait = clock_subscription_wait(&sub, Instant::now()).unwrap();
        assert!(wait > Duration::from_secs(3590), "{wait:?}");
        let sub = clock(CLOCK_MONOTONIC, 5_000_000_000, FLAG_ABSTIME);
        let wait = clock_subscription_wait(&sub, Instant::now()).unwrap();
        assert!(wait > Duration::from_secs(4) && wait <= Duration::from_secs(5));
    }

    #[test]
    fn fd_subscriptions_and_cpu_clocks_are_not_bounded_here() {
        let mut fd = [0u8; SUBSCRIPTION_SIZE];
        fd[8] = 1;
        assert_eq!(clock_subscription_wait(&fd, Instant::now()), None);
        let cpu = clock(2, 1, FLAG_ABSTIME);
        assert_eq!(clock_subscription_wait(&cpu, Instant::now()), None);
    }
}
