//! `-o/--output` and writing results to stdout. Tables are for people; JSON and YAML are the
//! stable, machine-readable forms.

pub use bizra_offline::API_VERSION;

use std::io::Write;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// A table for people.
    Table,
    /// JSON, for scripts.
    Json,
    /// YAML, for scripts.
    Yaml,
    /// JUnit XML, for CI test reports (validate).
    Junit,
    /// SARIF 2.1.0, for code scanning (lint).
    Sarif,
}

impl OutputFormat {
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Table => "table",
            OutputFormat::Json => "json",
            OutputFormat::Yaml => "yaml",
            OutputFormat::Junit => "junit",
            OutputFormat::Sarif => "sarif",
        }
    }
}

/// The report format a command writes besides table, json and yaml.
pub fn own_format(command: &str) -> Option<OutputFormat> {
    match command {
        "validate" => Some(OutputFormat::Junit),
        "lint" => Some(OutputFormat::Sarif),
        _ => None,
    }
}

/// Every command writes table, json and yaml; one report format is its own: `extra`. Any other
/// is a usage error naming what the command writes, found before anything is done.
pub fn check_format(
    format: OutputFormat,
    command: &str,
    extra: Option<OutputFormat>,
) -> Result<(), crate::error::Error> {
    match format {
        OutputFormat::Table | OutputFormat::Json | OutputFormat::Yaml => Ok(()),
        other if Some(other) == extra => Ok(()),
        other => {
            let owner = match other {
                OutputFormat::Junit => "validate",
                _ => "lint",
            };
            let mut writes = "table, json or yaml".to_owned();
            if let Some(extra) = extra {
                writes = format!("table, json, yaml or {}", extra.name());
            }
            Err(crate::error::Error::Usage(format!(
                "-o {} is for `kubectl bizra {owner}`; `{command}` writes {writes}",
                other.name()
            )))
        }
    }
}

/// Writes `value` as JSON or YAML; for `table`, writes `render_table(value)`.
pub fn print<T: Serialize>(
    format: OutputFormat,
    value: &T,
    render_table: impl FnOnce(&T) -> String,
) -> anyhow::Result<()> {
    let text = match format {
        OutputFormat::Table => render_table(value),
        OutputFormat::Json => serde_json::to_string_pretty(value)? + "\n",
        OutputFormat::Yaml => serde_saphyr::to_string(value)?,
        // Checked before the command ran (`check_format`); the commands that write these
        // formats write them themselves.
        OutputFormat::Junit | OutputFormat::Sarif => {
            anyhow::bail!("-o {} is not written by this command", format.name())
        }
    };
    write_stdout(&text)
}

/// Writes a finished document to stdout.
pub fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// A table in kubectl's look: upper-case headers, no borders, columns three spaces apart.
pub fn table<I, R>(headers: &[&str], rows: I) -> String
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = String>,
{
    use tabled::settings::{Padding, Style};
    let mut builder = tabled::builder::Builder::default();
    builder.push_record(headers.iter().map(|h| h.to_uppercase()));
    for row in rows {
        builder.push_record(row);
    }
    let mut table = builder.build();
    table.with(Style::empty()).with(Padding::new(0, 3, 0, 0));
    let mut text: String = table
        .to_string()
        .lines()
        .map(|line| line.trim_end().to_owned() + "\n")
        .collect();
    if text.is_empty() {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_look_like_kubectl() {
        let text = table(
            &["name", "status"],
            [
                vec!["a".to_owned(), "Running".to_owned()],
                vec!["longer-name".to_owned(), "x".to_owned()],
            ],
        );
        assert_eq!(
            text,
            "NAME          STATUS\na             Running\nlonger-name   x\n"
        );
    }
}
