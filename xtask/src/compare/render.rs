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
    if figure.starts_with("instructions") {
        crate::report::format::thousands(v.round() as u64)
    } else if figure.ends_with("ms") || figure.contains("ms/") {
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

/// Instruction counts move by tenths of a percent: two decimals.
fn pct_of(figure: &str, v: f64) -> String {
    if figure.starts_with("instructions") {
        format!("{v:+.2}%")
    } else {
        pct(v)
    }
}

pub fn markdown(c: &Comparison) -> String {
    let mut out = String::new();
    let mut headline = match (c.regressions, c.improvements) {
        (0, 0) => "⚪ no change beyond the threshold".to_owned(),
        (0, i) => format!("🟢 {i} improvement{}, no regression", plural(i)),
        (r, 0) => format!("🔴 {r} regression{}", plural(r)),
        (r, i) => format!(
            "🔴 {r} regression{}, 🟢 {i} improvement{}",
            plural(r),
            plural(i)
        ),
    };
    if !c.failures.is_empty() {
        let f = c.failures.len();
        headline = format!(
            "🔴 {f} cell{} base measured and head did not; {headline}",
            plural(f)
        );
    }
    let _ = writeln!(out, "## {}: {headline}\n", c.title);
    let has_instructions = c.rows.iter().any(|r| r.suite == "instructions");
    let has_timing = c.rows.iter().any(|r| r.suite != "instructions");
    let mut thresholds = Vec::new();
    if has_timing || !has_instructions {
        thresholds.push(format!("threshold {}%", c.threshold_pct));
    }
    if has_instructions {
        thresholds.push(format!(
            "instructions threshold {}%",
            c.instructions_threshold_pct
        ));
    }
    let _ = writeln!(
        out,
        "head `{}` vs base `{}` · {} cells compared ({} regression{}, {} improvement{}, {} no change) · {} · {}% confidence · method: {}\n",
        short(&c.head.revision),
        short(&c.base.revision),
        c.rows.len(),
        c.regressions,
        plural(c.regressions),
        c.improvements,
        plural(c.improvements),
        c.unchanged,
        thresholds.join(" · "),
        c.confidence_pct,
        c.method,
    );
    if !c.failures.is_empty() {
        let _ = writeln!(
            out,
            "**Failed in head** (base measured these cells, head did not; each fails the check):\n"
        );
        for f in &c.failures {
            let _ = writeln!(out, "- 🔴 `{}`: {}", f.cell, f.reason.replace('\n', " "));
        }
        out.push('\n');
    }
    for line in &c.setup {
        let _ = writeln!(out, "- {line}");
    }
    if !c.setup.is_empty() {
        out.push('\n');
    }
    if c.aa && has_timing {
        let _ = writeln!(
            out,
            "**A/A (the same build on both sides):** the widest {}% interval reaches ±{:.1}%, so this runner supports `--threshold {}`: below it, noise alone can put a bound past the threshold. Any cell flagged here is a false alarm.\n",
            c.confidence_pct, c.widest_bound_pct, c.supported_threshold_pct
        );
    }
    if c.aa && has_instructions {
        let _ = writeln!(
            out,
            "**A/A, instructions:** head/base of instructions per request differs by at most {:.3}% (the count's own spread; the threshold is {}%). Any cell flagged here is a false alarm.\n",
            c.widest_instructions_pct, c.instructions_threshold_pct
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
            pct_of(r.figure, r.change_pct),
            pct_of(r.figure, r.ci_low_pct),
            pct_of(r.figure, r.ci_high_pct),
            r.base_values.len(),
            r.head_values.len(),
        );
    }
    let notes: Vec<String> = c
        .rows
        .iter()
        .filter(|r| r.suite != "instructions")
        .filter_map(|r| r.note.as_ref().map(|n| format!("`{}`: {n}", r.key.label())))
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out);
        for n in notes {
            let _ = writeln!(out, "- {n}");
        }
    }
    let _ = writeln!(
        out,
        "\n**Reading it:** change is head/base − 1 of the figure (↑ more is better, ↓ less is better), one value per repeat: throughput requests/s of the run (CPU ms per 1000 requests for a client-bound cell, where rps measures the load generator), warm and cold-start medians of the repeat. A cell is a regression (or an improvement) only when its whole {}% interval lies beyond {}% in the bad (or good) direction; an interval that straddles the threshold is \"no change\": not enough evidence either way.\n",
        c.confidence_pct, c.threshold_pct
    );
    if has_instructions {
        let _ = writeln!(
            out,
            "**Instructions per request** (callgrind: the gateway's request-handling thread after a warm-up, plus the CLI variants' runtime processes) are a count, not a timing: the same build gives the same count within 0.1% however busy the machine is. A cell is a regression when head's mean count exceeds base's by more than {}%; the interval is shown for information.\n",
            c.instructions_threshold_pct
        );
    }
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
