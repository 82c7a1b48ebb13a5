//! `report.md`: the document as GitHub-flavoured markdown. Images link to
//! `plots/<name>.svg` relative to the run folder, so the report reads well
//! in the run folder on GitHub or in a CI artifact.

use super::document::{Align, Block, Document, Inline, Span};

pub fn render(doc: &Document) -> String {
    let mut out = format!("# {}\n", escape(&doc.title));
    for block in &doc.blocks {
        out.push('\n');
        match block {
            Block::Heading { level, text } => {
                out.push_str(&"#".repeat(usize::from((*level).clamp(2, 6))));
                out.push(' ');
                out.push_str(&escape(text));
                out.push('\n');
            }
            Block::Para(inline) => {
                out.push_str(&inline_md(inline));
                out.push('\n');
            }
            Block::List(items) => {
                for item in items {
                    out.push_str("- ");
                    out.push_str(&inline_md(item));
                    out.push('\n');
                }
            }
            Block::Table(t) => {
                out.push('|');
                for h in &t.header {
                    out.push(' ');
                    out.push_str(&cell(&escape(h)));
                    out.push_str(" |");
                }
                out.push_str("\n|");
                for a in &t.align {
                    out.push_str(match a {
                        Align::Left => " --- |",
                        Align::Right => " ---: |",
                    });
                }
                out.push('\n');
                for row in &t.rows {
                    out.push('|');
                    for c in row {
                        out.push(' ');
                        out.push_str(&cell(&inline_md(c)));
                        out.push_str(" |");
                    }
                    out.push('\n');
                }
            }
            Block::Image { name, alt } => {
                out.push_str(&format!(
                    "![{}](plots/{name}.svg)\n\n[PNG](plots/{name}.png) · [SVG](plots/{name}.svg)\n",
                    escape(alt)
                ));
            }
        }
    }
    out
}

/// Inline spans as markdown.
pub fn inline_md(inline: &Inline) -> String {
    let mut out = String::new();
    for span in inline {
        match span {
            Span::Text(t) => out.push_str(&escape(t)),
            Span::Strong(t) => {
                out.push_str("**");
                out.push_str(&escape(t));
                out.push_str("**");
            }
            Span::Code(t) => {
                let t = t.replace(['\n', '\r'], " ");
                let fence = if t.contains('`') { "``" } else { "`" };
                let pad = if t.starts_with('`') || t.ends_with('`') {
                    " "
                } else {
                    ""
                };
                out.push_str(&format!("{fence}{pad}{t}{pad}{fence}"));
            }
            Span::Link { text, href } => {
                out.push_str(&format!(
                    "[{}]({})",
                    escape(text),
                    href.replace(' ', "%20").replace(')', "%29")
                ));
            }
        }
    }
    out
}

/// A table cell: one line, pipes escaped (also inside code spans, as GitHub
/// requires).
fn cell(s: &str) -> String {
    s.replace(['\n', '\r'], " ").replace('|', "\\|")
}

/// Escape what markdown would read as markup. Underscores are escaped only
/// at word edges (`native_local` stays readable, and is not emphasis on
/// GitHub anyway); `>` and `#` only where they could start a line.
pub fn escape(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '\\' | '`' | '*' | '<' => {
                out.push('\\');
                out.push(c);
            }
            // Markup only at the start of a line.
            '>' | '#' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            '_' => {
                let word = |j: Option<&char>| j.is_some_and(|c| c.is_alphanumeric());
                let inner = i > 0 && word(chars.get(i - 1)) && word(chars.get(i + 1));
                if !inner {
                    out.push('\\');
                }
                out.push('_');
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::document::{md, text, Table};

    #[test]
    fn escapes_data_and_keeps_names_readable() {
        assert_eq!(escape("native_local"), "native_local");
        assert_eq!(escape("_x_ *y* <z>"), "\\_x\\_ \\*y\\* \\<z>");
        assert_eq!(escape("# a >= b"), "\\# a >= b");
        assert_eq!(inline_md(&md("run `a|b` **now**")), "run `a|b` **now**");
        let mut doc = Document {
            title: "T".into(),
            ..Document::default()
        };
        let mut t = Table::numeric(&["variant", "p50"]);
        t.row(vec![text("a|b\nc"), text("1")]);
        doc.table(t);
        let out = render(&doc);
        assert!(
            out.contains("| variant | p50 |\n| --- | ---: |\n| a\\|b c | 1 |\n"),
            "{out}"
        );
    }
}
