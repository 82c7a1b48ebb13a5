//! The SSH transport (`xtask::ssh`) against an OpenSSH server started here on
//! a loopback port with a throwaway key (Debian `openssh-server`), reached
//! through an ssh configuration alias as a user's `~/.ssh/config` would
//! name it. Traffic stays on 127.0.0.0/8; nothing is left behind.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use xtask::ssh::Host;

pub(crate) struct Sshd {
    pub(crate) dir: PathBuf,
    child: Child,
    pub(crate) config: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "ssh-keygen");
}

/// sshd on 127.0.0.1:<free port>, this user only, the throwaway key only;
/// `None` (the test says why) where sshd or root is missing.
pub(crate) fn sshd() -> Option<Sshd> {
    let bin = Path::new("/usr/sbin/sshd");
    if !bin.exists() {
        eprintln!("skipping: /usr/sbin/sshd missing (apt-get install openssh-server)");
        return None;
    }
    // One folder per server: tests in this binary start their own at once.
    static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SERVERS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("wgb-sshd-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    keygen(&dir.join("host_key"));
    keygen(&dir.join("client_key"));
    std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
    // sshd's privilege separation folder (created by its init script).
    let _ = std::fs::create_dir_all("/run/sshd");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = dir.display();
    std::fs::write(
        dir.join("sshd_config"),
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n\
             AuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n\
             AcceptEnv WASMEDGE\n"
        ),
    )
    .unwrap();
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_owned();
    let config = dir.join("ssh_config");
    std::fs::write(
        &config,
        format!(
            "Host wgb-server\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n\
             IdentityFile {d}/client_key\n  IdentitiesOnly yes\n\
             StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n{}",
            // The host's environment as this one's, as a user's own
            // configuration would set it (`SetEnv`, accepted by its sshd).
            std::env::var("WASMEDGE")
                .map(|w| format!("  SetEnv WASMEDGE={w}\n"))
                .unwrap_or_default()
        ),
    )
    .unwrap();
    let child = Command::new(bin)
        .args(["-D", "-e", "-f"])
        .arg(dir.join("sshd_config"))
        .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
        .spawn()
        .unwrap();
    let s = Sshd { dir, child, config };
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "sshd did not listen: {}",
            std::fs::read_to_string(s.dir.join("sshd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(s)
}

struct Cleanup<'a>(&'a Host, String);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self.0.cleanup(&self.1);
    }
}

#[test]
fn a_process_started_over_ssh_runs_is_stopped_and_leaves_nothing() {
    let Some(server) = sshd() else { return };
    // server_host.rs counts the agent folders on this host.
    let _turn = crate::support::one_bench_at_a_time();
    let host = Host {
        target: "wgb-server".to_owned(),
        config: Some(server.config.clone()),
    };
    assert_eq!(host.run("echo hello").unwrap(), "hello\n");

    // The machine facts are this machine's (the server is this machine).
    let (machine, kernel) = host.machine().unwrap();
    let local = xtask::rundata::manifest::machine();
    assert_eq!(machine.cpu_model, local.cpu_model);
    assert_eq!(machine.cpus, local.cpus);
    assert_eq!(machine.hostname, local.hostname);
    assert!(kernel.starts_with("Linux "), "{kernel}");
    let rtt = host.round_trip(5).unwrap();
    assert!(rtt < Duration::from_millis(50), "loopback rtt {rtt:?}");

    // A file copied there runs; a process started there is stopped with
    // its children; the temporary folder goes.
    let dir = host.tempdir().unwrap();
    // Removed even if an assertion below fails.
    let _guard = Cleanup(&host, dir.clone());
    let script = server.dir.join("child.sh");
    std::fs::write(&script, "#!/bin/sh\nsleep 300 &\necho started\nwait\n").unwrap();
    let remote = format!("{dir}/child.sh");
    host.copy(&script, &remote).unwrap();
    let pid = host.spawn(&[&remote], &format!("{dir}/log")).unwrap();
    let start = Instant::now();
    while host.run(&format!("cat {dir}/log")).unwrap().trim() != "started" {
        assert!(start.elapsed() < Duration::from_secs(10), "never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(host.alive(pid).unwrap());
    host.stop(pid).unwrap();
    assert!(!host.alive(pid).unwrap());
    host.cleanup(&dir).unwrap();
    assert_eq!(
        host.run(&format!("test -e {dir} && echo left || echo gone"))
            .unwrap()
            .trim(),
        "gone"
    );
    assert!(host.cleanup("/home").is_err(), "only its own folders");
}
