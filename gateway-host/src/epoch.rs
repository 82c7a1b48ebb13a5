//! The clock behind the embedded runtime's deadline: Wasmtime's epoch
//! interruption only checks a counter, so something has to advance it.

use std::time::{Duration, Instant};
use wasmtime::{Engine, EngineWeak};

/// How often the epoch advances; the deadline's granularity.
pub const TICK: Duration = Duration::from_millis(10);

/// Starts a thread that increments `engine`'s epoch every [`TICK`]. It holds
/// only a weak reference, so it ends by itself once the engine is dropped.
///
/// Tick `k` is due `k` ticks after the start, not a tick after the previous
/// one: on a busy machine every wake-up is late, and a relative sleep would
/// add those delays up over a deadline's hundred ticks (a 1 s deadline fired
/// at 1.17 s on 2 busy cores). A late thread catches up at once instead.
pub fn start_ticker(engine: &Engine) -> std::io::Result<()> {
    let weak: EngineWeak = engine.weak();
    std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            let mut next = Instant::now();
            loop {
                next += TICK;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })?;
    Ok(())
}

/// Epoch ticks for a timeout, rounded up and at least one. The interrupt lands
/// between `ticks - 1` and `ticks` intervals after the call starts, since the
/// call may begin just before a tick.
pub fn ticks_for(timeout: Duration) -> u64 {
    let ticks = timeout.as_nanos().div_ceil(TICK.as_nanos()).max(1);
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_round_up() {
        assert_eq!(ticks_for(Duration::from_millis(1000)), 100);
        assert_eq!(ticks_for(Duration::from_millis(205)), 21);
        assert_eq!(ticks_for(Duration::from_millis(1)), 1);
        assert_eq!(ticks_for(Duration::ZERO), 1);
    }
}
