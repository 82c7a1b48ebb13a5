//! The Docker engine: is it there, building the `FROM scratch` images, and
//! containers that are removed whatever happens (labelled with our pid so a
//! sweep can find any that a crash left behind).

use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

pub const GATEWAY_IMAGE: &str = "wasm-gateway-bench/gateway-native:latest";
pub const UPSTREAM_IMAGE: &str = "wasm-gateway-bench/upstream-echo:latest";
/// The gateway image the variants run: `WGB_GATEWAY_IMAGE` when set (`bench
/// compare` tags each revision's image apart), else [`GATEWAY_IMAGE`].
pub fn gateway_image() -> String {
    std::env::var("WGB_GATEWAY_IMAGE")
        .ok()
        .filter(|tag| !tag.is_empty())
        .unwrap_or_else(|| GATEWAY_IMAGE.to_owned())
}

/// Every image we build carries the SHA-256 of the static binary it was
/// built from under this label, so a run can tell its own build's image from
/// one another checkout left in the engine under the same tag.
pub const BINARY_LABEL: &str = "wasm-gateway-bench.binary-sha256";

/// SHA-256 of a file, hex.
pub fn file_sha256(path: &std::path::Path) -> Result<String> {
    use sha2::Digest;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex::encode(sha2::Sha256::digest(&bytes)))
}

/// An image's label value, `None` when the image or the label is absent.
pub fn image_label(image: &str, label: &str) -> Option<String> {
    let mut cmd = docker();
    cmd.args([
        "image",
        "inspect",
        "--format",
        &format!("{{{{index .Config.Labels \"{label}\"}}}}"),
        image,
    ]);
    run_quiet(cmd)
        .ok()
        .filter(|v| !v.is_empty() && v != "<no value>")
}

/// Is `image` built from the static binary at `binary`? `Err` says why not.
pub fn image_matches(image: &str, binary: &std::path::Path) -> Result<(), String> {
    if !image_exists(image) {
        return Err(format!(
            "image {image} is not built (run `cargo xtask build`)"
        ));
    }
    let want = file_sha256(binary).map_err(|e| {
        format!("{e:#}: the image {image} cannot be checked (run `cargo xtask build`)")
    })?;
    match image_label(image, BINARY_LABEL) {
        Some(have) if have == want => Ok(()),
        Some(_) => Err(format!(
            "image {image} was built from another binary than {} (run `cargo xtask build`)",
            binary.display()
        )),
        None => Err(format!(
            "image {image} has no {BINARY_LABEL} label: not built by this checkout's `cargo xtask build`"
        )),
    }
}

/// Every container we start carries this label, with our pid as its value.
pub const OWNER_LABEL: &str = "wasm-gateway-bench.owner";

fn docker() -> Command {
    let mut cmd = Command::new("docker");
    cmd.stdin(Stdio::null());
    cmd
}

fn run_quiet(mut cmd: Command) -> Result<String> {
    let out = cmd
        .output()
        .context("running docker (is the CLI installed?)")?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The engine's version, or why no engine answers.
pub fn engine_version() -> Result<String> {
    if crate::tools::which("docker").is_none() {
        bail!("no docker CLI on PATH");
    }
    let mut cmd = docker();
    cmd.args(["version", "--format", "{{.Server.Version}}"]);
    run_quiet(cmd).map_err(|e| {
        let host = std::env::var("DOCKER_HOST")
            .unwrap_or_else(|_| "unix:///var/run/docker.sock".to_owned());
        anyhow::anyhow!("no Docker engine answers at {host}: {e}")
    })
}

pub fn image_exists(image: &str) -> bool {
    image_id(image).is_some()
}

/// The image's id on this machine's engine, `None` when it has none (or no
/// engine answers).
pub fn image_id(image: &str) -> Option<String> {
    let mut cmd = docker();
    cmd.args(["image", "inspect", "--format", "{{.Id}}", image]);
    run_quiet(cmd).ok()
}

/// `docker build` with a context folder; never pulls (there is no registry).
pub fn build_image(
    tag: &str,
    dockerfile: &std::path::Path,
    context: &std::path::Path,
    labels: &[(&str, &str)],
) -> Result<()> {
    let mut cmd = docker();
    cmd.args(["build", "--pull=false", "--quiet", "-t", tag]);
    for (k, v) in labels {
        cmd.arg("--label").arg(format!("{k}={v}"));
    }
    cmd.arg("-f").arg(dockerfile).arg(context);
    run_quiet(cmd).with_context(|| format!("docker build {tag}"))?;
    Ok(())
}

/// The host pid of a running container's main process.
pub fn main_pid(id: &str) -> Option<u32> {
    let mut cmd = docker();
    cmd.args(["inspect", "--format", "{{.State.Pid}}", id]);
    run_quiet(cmd).ok()?.parse().ok().filter(|&pid| pid > 0)
}

/// A detached container, force-removed on drop.
pub struct Container {
    pub name: String,
    pub id: String,
}

impl Container {
    /// `docker run -d --name NAME --label owner=<pid> ARGS...`.
    pub fn run(name: &str, args: &[String]) -> Result<Container> {
        let mut cmd = docker();
        cmd.args(["run", "-d", "--pull=never", "--name", name, "--label"])
            .arg(format!("{OWNER_LABEL}={}", std::process::id()))
            .args(args);
        let id = run_quiet(cmd).with_context(|| format!("docker run {name}"))?;
        Ok(Container {
            name: name.to_owned(),
            id,
        })
    }

    /// Is it still running?
    pub fn running(&self) -> bool {
        let mut cmd = docker();
        cmd.args(["inspect", "--format", "{{.State.Running}}", &self.id]);
        run_quiet(cmd).is_ok_and(|s| s == "true")
    }

    /// The container's last log lines, for error messages.
    pub fn logs_tail(&self) -> String {
        let mut cmd = docker();
        cmd.args(["logs", "--tail", "20", &self.id]);
        match cmd.output() {
            Ok(out) => format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => e.to_string(),
        }
    }

    pub fn remove(&self) {
        let mut cmd = docker();
        cmd.args(["rm", "-f", &self.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = cmd.status();
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Remove every container this process started (belt and braces after a
/// signal; Drop already removes them on the normal path).
pub fn sweep_own() {
    let mut cmd = docker();
    cmd.args(["ps", "-aq", "--filter"])
        .arg(format!("label={OWNER_LABEL}={}", std::process::id()));
    if let Ok(ids) = run_quiet(cmd) {
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut rm = docker();
            rm.args(["rm", "-f"]).args(&ids).stdout(Stdio::null());
            let _ = rm.status();
        }
    }
}
