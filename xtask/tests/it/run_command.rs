//! `cargo xtask run VARIANT` serves until SIGTERM and then leaves nothing
//! behind: no gateway or upstream process, no container.

use crate::support::{alive, assert_no_containers, exit_within, run_listening};

use std::process::Command;
use std::time::Duration;

use xtask::probe;

/// Pids whose parent is `pid`, from /proc.
fn children_of(pid: u32) -> Vec<u32> {
    let mut kids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // Fields after the `(comm)`: state, ppid, ...
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let ppid: u32 = after.split(' ').nth(1).unwrap().parse().unwrap();
        if ppid == pid {
            kids.push(child);
        }
    }
    kids
}

fn run_then_terminate(variant: &str, expected_hello: &str) {
    let mut cmd = Command::new(crate::support::xtask_exe());
    cmd.args(["run", variant, "--listen"])
        .arg(if variant == "native_docker" {
            format!("127.0.0.1:{}", probe::free_port().unwrap())
        } else {
            "127.0.0.1:0".to_owned()
        })
        .args(["--upstream", "127.0.0.1:0"]);
    let (mut xtask, addr, _) = run_listening(cmd, variant);
    let pid = xtask.id();
    let reply = probe::get(addr, "/", Duration::from_secs(5)).unwrap();
    assert_eq!(
        (reply.status, reply.body_text().as_str()),
        (200, expected_hello)
    );
    let kids = children_of(pid);
    if variant != "native_docker" {
        assert!(
            kids.len() >= 2,
            "gateway and upstream expected, got {kids:?}"
        );
    }

    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let status = exit_within(
        &mut xtask,
        Duration::from_secs(20),
        "xtask run ignored SIGTERM",
    );
    assert!(status.success(), "{status}");
    for kid in kids {
        assert!(!alive(kid), "child {kid} outlived `xtask run`");
    }
    assert!(probe::get(addr, "/", Duration::from_millis(500)).is_err());
    assert_no_containers(pid);
}

#[test]
fn run_native_local_stops_cleanly_on_sigterm() {
    run_then_terminate("native_local", "hello");
}

#[test]
fn run_embedded_stops_cleanly_on_sigterm() {
    run_then_terminate("wasm_host_wasmtime_embedded", "wasm:hello");
}

#[test]
fn run_native_docker_stops_cleanly_on_sigterm() {
    run_then_terminate("native_docker", "hello");
}

#[test]
fn run_an_unknown_variant_says_which_exist() {
    let out = Command::new(crate::support::xtask_exe())
        .args(["run", "native"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown variant") && err.contains("native_local"),
        "{err}"
    );
}
