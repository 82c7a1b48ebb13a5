//! Was a cell disturbed? On a shared VM another tenant (steal time) or
//! another process on the gateway's core takes CPU the gateway should have
//! had, and the cell then measures its neighbour. The load thread reads the
//! machine's per-CPU times (`/proc/stat`) at each edge of a cell's window,
//! beside the gateway's own CPU time; from the two readings:
//!
//! - steal: time the hypervisor ran someone else on the gateway's or the
//!   load generator's core, as a share of the window;
//! - foreign: busy time (user, nice, system) on the gateway's core that the
//!   gateway's own processes did not spend, as a share of the window
//!   (interrupt time is left out: it is the kernel's work for the traffic);
//! - the load generator's share of its core's busy time.
//!
//! The rule ([`Rule::judge`]): steal above [`STEAL_PCT`] on either core, or
//! foreign load above [`FOREIGN_PCT`] on the gateway's core, disturbs the
//! cell. A third test compares a cell with its own earlier repeats:
//! [`outlier`].

use crate::rundata::raw::Disturbance;

/// Steal on either core above this share of the window disturbs a cell.
pub const STEAL_PCT: f64 = 5.0;
/// Busy time on the gateway's core not spent by the gateway above this share
/// of the window disturbs a cell (an undisturbed pinned cell shows 0-3%:
/// kernel threads and the sampler's reads).
pub const FOREIGN_PCT: f64 = 10.0;
/// A cell whose CPU per request lies further than this many (normal-scaled)
/// median absolute deviations from its earlier repeats' median ...
pub const OUTLIER_MADS: f64 = 3.0;
/// ... and further than this share of that median is an outlier.
pub const OUTLIER_MIN_PCT: f64 = 10.0;
/// How often a disturbed cell is measured again before it is recorded as
/// `disturbed` and left out of every summary.
pub const RETRIES: usize = 2;

/// The per-CPU times of `/proc/stat` at one moment, in clock ticks.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuTimes {
    /// Per CPU: user, nice, system, idle, iowait, irq, softirq, steal.
    cpus: Vec<[u64; 8]>,
}

impl CpuTimes {
    /// Reads `/proc/stat`; `None` where there is none.
    pub fn read() -> Option<CpuTimes> {
        CpuTimes::parse(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    fn parse(text: &str) -> Option<CpuTimes> {
        let mut cpus = Vec::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("cpu") else {
                continue;
            };
            let mut fields = rest.split_whitespace();
            let Some(Ok(index)) = fields.next().map(str::parse::<usize>) else {
                continue; // the all-CPU line
            };
            let mut times = [0u64; 8];
            for t in times.iter_mut() {
                *t = fields.next()?.parse().ok()?;
            }
            if cpus.len() <= index {
                cpus.resize(index + 1, [0; 8]);
            }
            cpus[index] = times;
        }
        (!cpus.is_empty()).then_some(CpuTimes { cpus })
    }
}

/// The cores and the rule a run judges its cells by.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub gateway_core: usize,
    pub load_core: usize,
}

impl Rule {
    /// Judges a window from the readings at its edges and the CPU time the
    /// gateway (its process tree or container, relay included) and the load
    /// generator's thread spent in it.
    pub fn judge(
        &self,
        start: &CpuTimes,
        end: &CpuTimes,
        window_s: f64,
        gateway_cpu_ms: f64,
        loadgen_cpu_ms: f64,
    ) -> Option<Disturbance> {
        let tick_ms = 1000.0 / clock_ticks_per_s();
        let delta = |cpu: usize, field: usize| -> Option<f64> {
            let (a, b) = (start.cpus.get(cpu)?, end.cpus.get(cpu)?);
            Some(b[field].saturating_sub(a[field]) as f64 * tick_ms)
        };
        let busy =
            |cpu: usize| -> Option<f64> { Some(delta(cpu, 0)? + delta(cpu, 1)? + delta(cpu, 2)?) };
        let window_ms = window_s * 1000.0;
        if window_ms <= 0.0 {
            return None;
        }
        let pct = |ms: f64| (ms / window_ms * 100.0 * 10.0).round() / 10.0;
        let steal_gateway_pct = pct(delta(self.gateway_core, 7)?);
        let steal_load_pct = pct(delta(self.load_core, 7)?);
        let foreign_pct = pct((busy(self.gateway_core)? - gateway_cpu_ms).max(0.0));
        let load_busy = busy(self.load_core)?;
        let loadgen_share_pct = if load_busy > 0.0 {
            ((loadgen_cpu_ms / load_busy * 100.0).min(100.0) * 10.0).round() / 10.0
        } else {
            0.0
        };
        let mut why = Vec::new();
        if steal_gateway_pct > STEAL_PCT || steal_load_pct > STEAL_PCT {
            why.push(format!(
                "steal {steal_gateway_pct}% on CPU {} and {steal_load_pct}% on CPU {} (over {STEAL_PCT}%)",
                self.gateway_core, self.load_core
            ));
        }
        if foreign_pct > FOREIGN_PCT {
            why.push(format!(
                "foreign load {foreign_pct}% on the gateway's CPU {} (over {FOREIGN_PCT}%)",
                self.gateway_core
            ));
        }
        Some(Disturbance {
            gateway_core: self.gateway_core,
            load_core: self.load_core,
            window_s,
            steal_gateway_pct,
            steal_load_pct,
            foreign_pct,
            loadgen_share_pct,
            why: (!why.is_empty()).then(|| why.join("; ")),
        })
    }
}

/// Whether `value` (a cell's CPU per request) is an outlier against its
/// earlier repeats (at least two): further than [`OUTLIER_MADS`] scaled
/// median absolute deviations and [`OUTLIER_MIN_PCT`] from their median.
/// The reason, or `None`.
pub fn outlier(value: f64, earlier: &[f64]) -> Option<String> {
    if earlier.len() < 2 || !value.is_finite() {
        return None;
    }
    let median = crate::stats::median(earlier);
    let deviations: Vec<f64> = earlier.iter().map(|x| (x - median).abs()).collect();
    // 1.4826: the MAD of a normal sample as its standard deviation.
    let spread = 1.4826 * crate::stats::median(&deviations);
    let off = (value - median).abs();
    (off > OUTLIER_MADS * spread && off > median.abs() * OUTLIER_MIN_PCT / 100.0).then(|| {
        format!(
            "CPU per request {value:.3} against {median:.3} in its {} earlier repeats \
             (over {OUTLIER_MADS} MADs and {OUTLIER_MIN_PCT}% off)",
            earlier.len()
        )
    })
}

fn clock_ticks_per_s() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(cpu0: [u64; 8], cpu1: [u64; 8]) -> CpuTimes {
        CpuTimes::parse(&format!(
            "cpu 1 2 3 4 5 6 7 8 0 0\ncpu0 {}\ncpu1 {}\nintr 5\n",
            cpu0.map(|t| t.to_string()).join(" "),
            cpu1.map(|t| t.to_string()).join(" ")
        ))
        .unwrap()
    }

    const RULE: Rule = Rule {
        gateway_core: 0,
        load_core: 1,
    };

    #[test]
    fn reads_this_machine() {
        let now = CpuTimes::read().expect("/proc/stat");
        assert!(!now.cpus.is_empty());
    }

    #[test]
    fn a_quiet_window_is_not_disturbed() {
        let ticks = clock_ticks_per_s() as u64; // one second
        let start = times([0; 8], [0; 8]);
        // The gateway spent 0.9 s of CPU 0's 0.92 busy s; CPU 1 half busy.
        let end = times(
            [
                ticks * 80 / 100,
                0,
                ticks * 12 / 100,
                ticks * 8 / 100,
                0,
                0,
                0,
                0,
            ],
            [ticks / 4, 0, ticks / 4, ticks / 2, 0, 0, 0, 0],
        );
        let d = RULE.judge(&start, &end, 1.0, 900.0, 400.0).unwrap();
        assert_eq!(d.why, None, "{d:?}");
        assert!(d.foreign_pct < FOREIGN_PCT);
        assert_eq!(d.loadgen_share_pct, 80.0);
    }

    #[test]
    fn a_hog_on_the_gateways_core_or_steal_disturbs() {
        let ticks = clock_ticks_per_s() as u64;
        let start = times([0; 8], [0; 8]);
        let hog = times(
            [ticks, 0, 0, 0, 0, 0, 0, 0],
            [ticks / 2, 0, 0, ticks / 2, 0, 0, 0, 0],
        );
        let d = RULE.judge(&start, &hog, 1.0, 500.0, 400.0).unwrap();
        assert!(d
            .why
            .as_deref()
            .unwrap()
            .contains("foreign load 50% on the gateway's CPU 0"));
        let stolen = times(
            [ticks * 9 / 10, 0, 0, 0, 0, 0, 0, ticks / 10],
            [ticks / 2, 0, 0, ticks / 2, 0, 0, 0, 0],
        );
        let d = RULE.judge(&start, &stolen, 1.0, 900.0, 400.0).unwrap();
        assert!(
            d.why.as_deref().unwrap().starts_with("steal 10% on CPU 0"),
            "{d:?}"
        );
    }

    #[test]
    fn an_outlier_stands_far_from_its_repeats() {
        assert_eq!(
            outlier(500.0, &[100.0]),
            None,
            "one earlier repeat decides nothing"
        );
        assert_eq!(outlier(104.0, &[100.0, 101.0, 102.0]), None);
        assert!(outlier(160.0, &[100.0, 101.0, 102.0]).is_some());
        // Identical repeats: the share-of-median floor keeps noise in.
        assert_eq!(outlier(105.0, &[100.0, 100.0]), None);
        assert!(outlier(130.0, &[100.0, 100.0]).is_some());
    }
}
