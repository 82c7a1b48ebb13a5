//! The stack a module's calls run on, mapped before the first request. An
//! in-process runtime runs Wasm on the gateway's own thread stack, whose
//! pages stay mapped once touched: without this, a request that recursed
//! deep would leave the pages it reached mapped, and a later request could
//! time its own calls to learn how deep any earlier one went (the same
//! channel as memory pages, see `residency`). Mapping the whole reach up
//! front makes every depth answer alike, for every request.

/// How far below the server loop's frame Wasm calls can reach: Wasmtime's
/// `max_wasm_stack` (512 KiB), the host calls they make below it, and the
/// server's frames between here and the call, with room to spare.
pub const REACH: usize = 2 << 20;

/// Mapped per frame of [`touch`].
const CHUNK: usize = 64 << 10;

/// Maps [`REACH`] bytes of this thread's stack below the caller (less, if
/// `RLIMIT_STACK` is lower: never past the limit). Returns the bytes mapped.
pub fn map_reach() -> usize {
    let limit = stack_limit().unwrap_or(usize::MAX);
    // Leave half a megabyte of the limit to the frames above and below.
    let bytes = REACH.min(limit.saturating_sub(512 << 10));
    let chunks = bytes / CHUNK;
    if chunks > 0 {
        touch(chunks);
    }
    chunks * CHUNK
}

/// One [`CHUNK`]-sized frame written through, then the next below it.
#[inline(never)]
fn touch(chunks: usize) {
    let mut chunk = [0u8; CHUNK];
    std::hint::black_box(&mut chunk);
    if chunks > 1 {
        touch(chunks - 1);
    }
    // Used after the call: the frame cannot be reused for the next one.
    std::hint::black_box(&chunk);
}

/// The soft `RLIMIT_STACK`, if finite.
fn stack_limit() -> Option<usize> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the pointer it is given.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut limit) };
    (rc == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_what_it_says_within_the_limit() {
        // A test thread's stack is its own 2 MiB: map less than that.
        let mapped = std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(map_reach)
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(mapped % CHUNK, 0);
        assert!(mapped <= REACH);
        if stack_limit().is_none_or(|l| l >= REACH + (512 << 10)) {
            assert_eq!(mapped, REACH);
        }
    }
}
