//! The report as a small document model (headings, paragraphs, lists,
//! tables, images), built once (content.rs) and written twice: as GitHub
//! markdown (markdown.rs) and as one static HTML page (html.rs), so both
//! always say the same thing.

/// A piece of inline text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Span {
    /// Plain text, from anywhere (escaped by each writer).
    Text(String),
    /// Monospace: names, commands, paths.
    Code(String),
    /// Bold.
    Strong(String),
    /// A link (the history's commits): `text` pointing at `href`.
    Link { text: String, href: String },
}

pub type Inline = Vec<Span>;

/// Plain text (data, error messages): never interpreted as markup.
pub fn text(s: impl Into<String>) -> Inline {
    vec![Span::Text(s.into())]
}

/// The report's own wording with a little markup: `code` and **bold**.
/// For literal text written in this crate, never for data.
pub fn md(s: &str) -> Inline {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let tick = rest.find('`');
        let star = rest.find("**");
        let (at, code) = match (tick, star) {
            (Some(t), Some(b)) if t < b => (t, true),
            (Some(t), None) => (t, true),
            (_, Some(b)) => (b, false),
            (None, None) => {
                out.push(Span::Text(rest.to_owned()));
                break;
            }
        };
        let (open, close) = if code { ("`", "`") } else { ("**", "**") };
        let after = &rest[at + open.len()..];
        let Some(end) = after.find(close) else {
            out.push(Span::Text(rest.to_owned()));
            break;
        };
        if at > 0 {
            out.push(Span::Text(rest[..at].to_owned()));
        }
        let inner = after[..end].to_owned();
        out.push(if code {
            Span::Code(inner)
        } else {
            Span::Strong(inner)
        });
        rest = &after[end + close.len()..];
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub align: Vec<Align>,
    pub rows: Vec<Vec<Inline>>,
}

impl Table {
    /// A table whose first column is left-aligned and the rest right-aligned
    /// (names, then numbers).
    pub fn numeric(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            align: (0..header.len())
                .map(|i| if i == 0 { Align::Left } else { Align::Right })
                .collect(),
            rows: Vec::new(),
        }
    }

    /// A table with every column left-aligned.
    pub fn text(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            align: vec![Align::Left; header.len()],
            rows: Vec::new(),
        }
    }

    /// Left-align the first `n` columns.
    pub fn left(mut self, n: usize) -> Table {
        for a in self.align.iter_mut().take(n) {
            *a = Align::Left;
        }
        self
    }

    pub fn row(&mut self, cells: Vec<Inline>) {
        self.rows.push(cells);
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Heading {
        level: u8,
        text: String,
    },
    Para(Inline),
    List(Vec<Inline>),
    Table(Table),
    /// A chart: `plots/<name>.svg` (and `.png`), relative to the run folder.
    Image {
        name: String,
        alt: String,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document {
    pub title: String,
    pub blocks: Vec<Block>,
}

impl Document {
    /// Put `section`'s blocks just before the level-2 heading `heading`, or
    /// at the end when there is none (a suite's section before "Files").
    pub fn insert_before(&mut self, heading: &str, section: Document) {
        let at = self
            .blocks
            .iter()
            .position(|b| matches!(b, Block::Heading { level: 2, text } if text == heading))
            .unwrap_or(self.blocks.len());
        self.blocks.splice(at..at, section.blocks);
    }

    pub fn heading(&mut self, level: u8, text: impl Into<String>) {
        self.blocks.push(Block::Heading {
            level,
            text: text.into(),
        });
    }

    pub fn para(&mut self, inline: Inline) {
        self.blocks.push(Block::Para(inline));
    }

    pub fn list(&mut self, items: Vec<Inline>) {
        if !items.is_empty() {
            self.blocks.push(Block::List(items));
        }
    }

    pub fn table(&mut self, table: Table) {
        self.blocks.push(Block::Table(table));
    }

    pub fn image(&mut self, name: impl Into<String>, alt: impl Into<String>) {
        self.blocks.push(Block::Image {
            name: name.into(),
            alt: alt.into(),
        });
    }
}

/// An anchor for a heading: lowercase, runs of other characters as `-`
/// (GitHub's habit for plain ASCII headings).
pub fn slug(heading: &str) -> String {
    let mut out = String::new();
    for c in heading.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if c == ' ' || c == '-' || c == '_' {
            out.push(if c == '_' { '_' } else { '-' });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md_parses_code_and_bold_only() {
        assert_eq!(
            md("a `b` and **c** d"),
            vec![
                Span::Text("a ".into()),
                Span::Code("b".into()),
                Span::Text(" and ".into()),
                Span::Strong("c".into()),
                Span::Text(" d".into()),
            ]
        );
        assert_eq!(md("no markup"), text("no markup"));
        assert_eq!(md("odd ` tick"), text("odd ` tick"));
        assert_eq!(slug("Cold start (ms)"), "cold-start-ms");
    }
}
