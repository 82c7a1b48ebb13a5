//! The clock behind the embedded runtime's deadline: Wasmtime's epoch
//! interruption only checks a counter, so something has to advance it.

use std::time::Duration;
use wasmtime::{Engine, EngineWeak};

/// How often the epoch advances; the deadline's granularity.
pub const TICK: Duration = Duration::from_millis(10);

/// Starts a thread that increments `engine`'s epoch every [`TICK`]. It holds
/// only a weak reference, so it ends by itself once the engine is dropped.
pub fn start_ticker(engine: &Engine) -> std::io::Result<()> {
    let weak: EngineWeak = engine.weak();
    std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => break,
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
