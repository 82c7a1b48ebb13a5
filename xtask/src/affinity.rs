//! CPU pinning of the gateway's processes (at spawn, or every thread of one
//! already running, such as `docker-proxy`), so the load generator (which
//! pins its own thread: `loadgen`) and the gateway never share a core.

/// Pin the calling thread (and what it spawns later) to one CPU. Only
/// async-signal-safe calls, so `pre_exec` can use it too.
pub fn pin_thread(cpu: usize) -> std::io::Result<()> {
    pin_tid(0, cpu)
}

/// Pin every thread of another process (e.g. Go's `docker-proxy`, whose
/// threads each have their own affinity; new ones inherit it).
pub fn pin_pid(pid: u32, cpu: usize) -> std::io::Result<()> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))?;
    for task in tasks.flatten() {
        if let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) {
            pin_tid(tid, cpu)?;
        }
    }
    Ok(())
}

fn pin_tid(tid: libc::pid_t, cpu: usize) -> std::io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: cpu_set_t is plain data; tid 0 is the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
