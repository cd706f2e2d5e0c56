//! Printing results: the `--output` mode, JSON printing, aligned text tables
//! and writing to stdout.
//!
//! It owns how things look on stdout, and that a closed pipe
//! (`leash export | head -1`) ends quietly instead of panicking. It must
//! never decide what to print: commands pass it finished values.

use std::io::{self, Write};

use anyhow::Context as _;
use serde::Serialize;

/// How a command prints: human-readable text, or the API's JSON object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputMode {
    #[default]
    Text,
    Json,
}

/// `--output`: text, JSON, or CSV (offered only by the commands whose answer
/// is one table, `access what-can`; `main` refuses it for the others).
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
    Csv,
}

/// One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break.
pub fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// One CSV record, with its line ending.
pub fn csv_record(fields: &[&str]) -> String {
    let mut line = fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

/// Writes `text` to stdout as is. A closed pipe is not an error.
pub fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    let result = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

/// Prints `value` as pretty JSON followed by a newline.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value).context("cannot encode JSON")?;
    text.push('\n');
    write_stdout(&text)
}

/// Prints `value` as JSON in JSON mode, else the text `render` makes of it.
pub fn emit<T: Serialize>(mode: OutputMode, value: &T, render: impl FnOnce(&T) -> String) -> anyhow::Result<()> {
    match mode {
        OutputMode::Json => print_json(value),
        OutputMode::Text => write_stdout(&render(value)),
    }
}

/// A text table with a header row and left-aligned columns separated by two spaces.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as lines; cells are flattened to one line each.
    pub fn render(&self) -> String {
        let flat: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|row| row.iter().map(|c| one_line(c)).collect())
            .collect();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &flat {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(flat.iter()) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                let width = widths.get(i).copied().unwrap_or(0);
                line.extend(std::iter::repeat_n(' ', width.saturating_sub(cell.chars().count())));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Newlines and tabs as visible escapes, so one cell stays on one line.
fn one_line(s: &str) -> String {
    s.replace('\n', "\\n").replace('\t', " ").replace('\r', "\\r")
}

/// `Some(x)` as text, `None` as `-`.
pub fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let mut t = Table::new(&["NAME", "VERSION"]);
        t.row(vec!["DATABASE_URL".into(), "3".into()]);
        t.row(vec!["A\nB".into(), "12".into()]);
        assert_eq!(
            t.render(),
            "NAME          VERSION\nDATABASE_URL  3\nA\\nB          12\n"
        );
    }
}
