//! The Docker variants' images on a server host: where the host's engine
//! lacks this machine's build of an image (compared by image id), it is
//! sent over ssh (`docker save | ssh HOST docker load`, no registry needed)
//! and removed again when the run ends, so the host keeps what it had.

use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::docker;
use crate::ssh::{shell_quote, Host};

/// The images the Docker variants run (this machine's tags).
pub fn needed() -> Vec<String> {
    vec![docker::gateway_image(), docker::UPSTREAM_IMAGE.to_owned()]
}

/// An image's id on the host, `None` when it has none (or no engine).
fn remote_id(host: &Host, image: &str) -> Option<String> {
    let line = format!(
        "docker image inspect --format '{{{{.Id}}}}' {} 2>/dev/null",
        shell_quote(image)
    );
    host.run(&line)
        .ok()
        .map(|out| out.trim().to_owned())
        .filter(|id| !id.is_empty())
}

/// Send each image the host lacks (or holds another build of); the images
/// sent, to [`remove`] after the run. An image this machine has not built
/// is left alone: the variant's availability on the host then says why.
pub fn send(host: &Host, images: &[String]) -> Result<Vec<String>> {
    let mut sent = Vec::new();
    for image in images {
        let Some(id) = docker::image_id(image) else {
            continue;
        };
        if remote_id(host, image).as_deref() == Some(id.as_str()) {
            continue;
        }
        let mut save = Command::new("docker")
            .args(["save", image])
            .stdout(Stdio::piped())
            .spawn()
            .context("running docker save")?;
        let stdout = save.stdout.take().context("docker save's stdout")?;
        let load = host
            .command(&["docker", "load", "--quiet"])
            .stdin(stdout)
            .stdout(Stdio::null())
            .output()
            .context("running ssh docker load")?;
        let saved = save.wait()?;
        if !saved.success() || !load.status.success() {
            bail!(
                "sending image {image} to {}: {}",
                host.target,
                String::from_utf8_lossy(&load.stderr).trim()
            );
        }
        sent.push(image.clone());
    }
    Ok(sent)
}

/// Remove the images [`send`] loaded on the host.
pub fn remove(host: &Host, images: &[String]) -> Result<()> {
    if images.is_empty() {
        return Ok(());
    }
    let quoted: Vec<String> = images.iter().map(|i| shell_quote(i)).collect();
    host.run(&format!(
        "docker rmi --force {} >/dev/null",
        quoted.join(" ")
    ))?;
    Ok(())
}
