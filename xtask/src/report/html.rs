//! `index.html`: the document as one static page that loads nothing from
//! the network: minimal inline CSS, tables as HTML, every chart's SVG markup
//! inline (so the page is a single self-contained file), with links to the
//! PNG and SVG files next to it.

use std::path::Path;

use anyhow::Result;

use super::document::{slug, Align, Block, Document, Inline, Span};

const CSS: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1180px;margin:2em auto;\
padding:0 1em;color:#1b1b1b;line-height:1.45}\
h1{font-size:1.7em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}\
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}\
th,td{border:1px solid #d0d0d0;padding:.3em .6em;vertical-align:top}\
th{background:#f3f3f3}td.r,th.r{text-align:right;font-variant-numeric:tabular-nums}\
tr:nth-child(even) td{background:#fafafa}\
code{background:#f2f2f2;padding:0 .25em;border-radius:3px;font-size:.95em}\
figure{margin:1em 0}figure svg{max-width:100%;height:auto;border:1px solid #eee}\
figcaption{font-size:.85em;color:#555}\
nav ul{columns:2;font-size:.95em}\
";

pub fn render(doc: &Document, run: &Path) -> Result<String> {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str(&format!("<title>{}</title>\n", esc(&doc.title)));
    out.push_str(&format!("<style>{CSS}</style>\n</head>\n<body>\n"));
    out.push_str(&format!("<h1>{}</h1>\n", esc(&doc.title)));

    let sections: Vec<&String> = doc
        .blocks
        .iter()
        .filter_map(|b| match b {
            Block::Heading { level: 2, text } => Some(text),
            _ => None,
        })
        .collect();
    if !sections.is_empty() {
        out.push_str("<nav><ul>\n");
        for s in sections {
            out.push_str(&format!(
                "<li><a href=\"#{}\">{}</a></li>\n",
                slug(s),
                esc(s)
            ));
        }
        out.push_str("</ul></nav>\n");
    }

    for block in &doc.blocks {
        match block {
            Block::Heading { level, text } => {
                let l = (*level).clamp(2, 6);
                out.push_str(&format!(
                    "<h{l} id=\"{}\">{}</h{l}>\n",
                    slug(text),
                    esc(text)
                ));
            }
            Block::Para(inline) => out.push_str(&format!("<p>{}</p>\n", inline_html(inline))),
            Block::List(items) => {
                out.push_str("<ul>\n");
                for item in items {
                    out.push_str(&format!("<li>{}</li>\n", inline_html(item)));
                }
                out.push_str("</ul>\n");
            }
            Block::Table(t) => {
                let class = |a: &Align| match a {
                    Align::Left => "",
                    Align::Right => " class=\"r\"",
                };
                out.push_str("<table>\n<thead><tr>");
                for (h, a) in t.header.iter().zip(&t.align) {
                    out.push_str(&format!("<th{}>{}</th>", class(a), esc(h)));
                }
                out.push_str("</tr></thead>\n<tbody>\n");
                for row in &t.rows {
                    out.push_str("<tr>");
                    for (c, a) in row.iter().zip(&t.align) {
                        out.push_str(&format!("<td{}>{}</td>", class(a), inline_html(c)));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</tbody>\n</table>\n");
            }
            Block::Image { name, alt } => {
                let path = run.join("plots").join(format!("{name}.svg"));
                let svg = std::fs::read_to_string(&path).unwrap_or_default();
                out.push_str("<figure>\n");
                out.push_str(&inline_svg(&svg, alt));
                out.push_str(&format!(
                    "\n<figcaption>{} (<a href=\"plots/{name}.png\">PNG</a>, \
                     <a href=\"plots/{name}.svg\">SVG</a>)</figcaption>\n</figure>\n",
                    esc(alt)
                ));
            }
        }
    }
    out.push_str("</body>\n</html>\n");
    Ok(out)
}

/// The SVG markup for inline use: no XML prolog, a viewBox so it scales,
/// and an accessible name.
fn inline_svg(svg: &str, alt: &str) -> String {
    let start = svg.find("<svg").unwrap_or(0);
    let body = svg[start..].trim_end();
    if !body.starts_with("<svg") {
        return format!("<p>(chart missing: {})</p>", esc(alt));
    }
    let (w, h) = (attr(body, "width"), attr(body, "height"));
    let mut extra = format!(" role=\"img\" aria-label=\"{}\"", esc(alt));
    if let (Some(w), Some(h)) = (w, h) {
        if !body.contains("viewBox") {
            extra.push_str(&format!(" viewBox=\"0 0 {w} {h}\""));
        }
    }
    format!("<svg{extra}{}", &body[4..])
}

/// The value of `name="..."` in the first tag of `svg`.
fn attr(svg: &str, name: &str) -> Option<String> {
    let tag = &svg[..svg.find('>')?];
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    let end = tag[at..].find('"')?;
    Some(tag[at..at + end].to_owned())
}

fn inline_html(inline: &Inline) -> String {
    inline
        .iter()
        .map(|span| match span {
            Span::Text(t) => esc(t),
            Span::Code(t) => format!("<code>{}</code>", esc(t)),
            Span::Strong(t) => format!("<strong>{}</strong>", esc(t)),
            Span::Link { text, href } => format!("<a href=\"{}\">{}</a>", esc(href), esc(text)),
        })
        .collect()
}

pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_gets_a_viewbox_and_a_name() {
        let svg =
            "<?xml version=\"1.0\"?>\n<svg width=\"10\" height=\"20\" xmlns=\"x\"><g/></svg>\n";
        let out = inline_svg(svg, "a <b>");
        assert!(
            out.starts_with(
                "<svg role=\"img\" aria-label=\"a &lt;b&gt;\" viewBox=\"0 0 10 20\" width=\"10\""
            ),
            "{out}"
        );
        assert!(out.ends_with("</svg>"));
        assert!(inline_svg("", "x").contains("chart missing"));
        assert_eq!(esc("a&b<'\""), "a&amp;b&lt;&#39;&quot;");
    }
}
