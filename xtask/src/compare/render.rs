//! The markdown verdict: a table with regressions first, readable in a
//! GitHub job summary.

use std::fmt::Write as _;

use super::{Comparison, Verdict};

fn short(rev: &str) -> &str {
    rev.get(..12).unwrap_or(rev)
}

fn badge(v: Verdict) -> &'static str {
    match v {
        Verdict::Regression => "🔴 regression",
        Verdict::Improvement => "🟢 improvement",
        Verdict::NoChange => "⚪ no change",
    }
}

fn value(figure: &str, v: f64) -> String {
    if figure.ends_with("ms") {
        format!("{v:.2}")
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn pct(v: f64) -> String {
    format!("{v:+.1}%")
}

pub fn markdown(c: &Comparison) -> String {
    let mut out = String::new();
    let headline = match (c.regressions, c.improvements) {
        (0, 0) => "⚪ no change beyond the threshold".to_owned(),
        (0, i) => format!("🟢 {i} improvement{}, no regression", plural(i)),
        (r, 0) => format!("🔴 {r} regression{}", plural(r)),
        (r, i) => format!(
            "🔴 {r} regression{}, 🟢 {i} improvement{}",
            plural(r),
            plural(i)
        ),
    };
    let _ = writeln!(out, "## {}: {headline}\n", c.title);
    let _ = writeln!(
        out,
        "head `{}` vs base `{}` · {} cells compared ({} regression{}, {} improvement{}, {} no change) · threshold {}% · {}% confidence · method: {}\n",
        short(&c.head.revision),
        short(&c.base.revision),
        c.rows.len(),
        c.regressions,
        plural(c.regressions),
        c.improvements,
        plural(c.improvements),
        c.unchanged,
        c.threshold_pct,
        c.confidence_pct,
        c.method,
    );
    for line in &c.setup {
        let _ = writeln!(out, "- {line}");
    }
    if !c.setup.is_empty() {
        out.push('\n');
    }
    if c.aa {
        let _ = writeln!(
            out,
            "**A/A (the same build on both sides):** the widest {}% interval reaches ±{:.1}%, so this runner supports `--threshold {}`: below it, noise alone can put a bound past the threshold. Any cell flagged here is a false alarm.\n",
            c.confidence_pct, c.widest_bound_pct, c.supported_threshold_pct
        );
    }
    let _ = writeln!(
        out,
        "| verdict | suite | variant | workload | level | figure | base | head | change | {}% CI | repeats (base/head) |",
        c.confidence_pct
    );
    let _ = writeln!(
        out,
        "| --- | --- | --- | --- | --- | --- | ---: | ---: | ---: | --- | ---: |"
    );
    for r in &c.rows {
        let arrow = if r.higher_is_better { "↑" } else { "↓" };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} {arrow} | {} | {} | {} | [{}, {}] | {}/{} |",
            badge(r.verdict),
            r.suite,
            r.variant,
            r.workload,
            if r.level.is_empty() { "-" } else { &r.level },
            r.figure,
            value(r.figure, r.base),
            value(r.figure, r.head),
            pct(r.change_pct),
            pct(r.ci_low_pct),
            pct(r.ci_high_pct),
            r.base_values.len(),
            r.head_values.len(),
        );
    }
    let _ = writeln!(
        out,
        "\n**Reading it:** change is head/base − 1 of the figure (↑ more is better, ↓ less is better), one value per repeat: throughput requests/s of the run, warm and cold-start medians of the repeat. A cell is a regression (or an improvement) only when its whole {}% interval lies beyond {}% in the bad (or good) direction; an interval that straddles the threshold is \"no change\": not enough evidence either way.\n",
        c.confidence_pct, c.threshold_pct
    );
    let _ = writeln!(out, "**Method:** {}\n", c.method_note);
    let _ = writeln!(
        out,
        "base: `{}` ({}, profile {}, {})  \nhead: `{}` ({}, profile {}, {})\n",
        c.base.run,
        short(&c.base.revision),
        c.base.profile,
        c.base.status,
        c.head.run,
        short(&c.head.revision),
        c.head.profile,
        c.head.status
    );
    if !c.not_compared.is_empty() {
        let _ = writeln!(
            out,
            "<details><summary>{} not compared</summary>\n",
            c.not_compared.len()
        );
        for n in &c.not_compared {
            let _ = writeln!(out, "- {n}");
        }
        let _ = writeln!(out, "\n</details>");
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
