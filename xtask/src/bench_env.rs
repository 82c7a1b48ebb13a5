//! `configs/bench.env`: the study's defaults (ports, timeouts, iterations),
//! loaded by `cargo xtask run` as the study's `run_*.sh` scripts did. The
//! process environment wins over the file, so `GATEWAY_LISTEN=... cargo xtask
//! run native_local` works as expected.

use anyhow::{bail, Context, Result};

use crate::paths;

/// `KEY=VALUE` pairs from the file, with the process environment applied on
/// top, in file order.
pub fn load() -> Result<Vec<(String, String)>> {
    let path = paths::project_root().join("configs/bench.env");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut pairs = parse(&text).with_context(|| format!("in {}", path.display()))?;
    for (key, value) in &mut pairs {
        if let Ok(from_env) = std::env::var(&*key) {
            *value = from_env;
        }
    }
    Ok(pairs)
}

/// Look a key up in loaded pairs.
pub fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn parse(text: &str) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            bail!("line {}: expected KEY=VALUE, got {line:?}", n + 1);
        };
        let value = value.trim().trim_matches('"');
        pairs.push((key.trim().to_owned(), value.to_owned()));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comments_exports_and_quotes() {
        let pairs = parse("# c\nA=1\nexport B=\"x y\"\n\n").unwrap();
        assert_eq!(
            pairs,
            [("A".into(), "1".into()), ("B".into(), "x y".into())]
        );
        assert!(parse("oops").is_err());
    }

    #[test]
    fn the_shipped_file_has_the_ports() {
        let pairs = load().unwrap();
        assert!(get(&pairs, "GATEWAY_LISTEN").is_some());
        assert!(get(&pairs, "UPSTREAM_ADDR").is_some());
    }
}
