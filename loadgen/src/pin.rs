//! Pins the load generator's thread to its core for one run, and gives the
//! thread its previous CPU set back afterwards (the harness goes on to
//! start processes from it, which would otherwise inherit the pin).

use anyhow::{bail, Context, Result};

fn pin_thread(cpu: usize) -> std::io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: cpu_set_t is plain data; pid 0 is the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Restores the thread's previous CPU set on drop: the caller's thread goes
/// on to start processes, which would otherwise inherit the pin.
pub struct Pinned {
    previous: libc::cpu_set_t,
}

/// Pin the calling thread to `cpu` until the guard drops.
pub fn pin_current_thread(cpu: usize) -> Result<Pinned> {
    // SAFETY: cpu_set_t is plain data; pid 0 is the calling thread.
    let previous = unsafe {
        let mut previous: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut previous) != 0 {
            bail!(
                "reading the CPU affinity: {}",
                std::io::Error::last_os_error()
            );
        }
        previous
    };
    pin_thread(cpu).with_context(|| format!("pinning the thread to CPU {cpu}"))?;
    Ok(Pinned { previous })
}

impl Drop for Pinned {
    fn drop(&mut self) {
        // SAFETY: restoring a set the kernel gave us.
        unsafe {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.previous);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current() -> libc::cpu_set_t {
        // SAFETY: as above.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(
                libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set),
                0
            );
            set
        }
    }

    #[test]
    fn pins_then_restores() {
        // Run on a thread of its own so the test runner's thread keeps its set.
        std::thread::spawn(|| {
            let before = current();
            {
                let _pin = pin_current_thread(0).unwrap();
                let now = current();
                // SAFETY: reading a plain bitset.
                unsafe {
                    assert!(libc::CPU_ISSET(0, &now));
                    assert_eq!(libc::CPU_COUNT(&now), 1);
                }
            }
            // SAFETY: comparing plain bitsets.
            unsafe { assert_eq!(libc::CPU_COUNT(&current()), libc::CPU_COUNT(&before)) };
            assert!(pin_current_thread(1 << 20).is_err());
        })
        .join()
        .unwrap();
    }
}
