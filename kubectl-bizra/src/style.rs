//! Colours for verdicts (pass, fail, inconclusive), on a terminal only: never in a pipe or a
//! file, and never when `NO_COLOR` is set to anything but the empty string (no-color.org).

use std::io::IsTerminal;

/// A verdict's colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Pass,
    Fail,
    Inconclusive,
    Quiet,
}

impl Tone {
    /// The tone of a verdict word as the tables print it (`PASS`, `Fail`, `inconclusive`...).
    pub fn of(word: &str) -> Option<Tone> {
        match word.to_ascii_lowercase().as_str() {
            "pass" | "passed" | "ok" | "complete" | "completed" => Some(Tone::Pass),
            "fail" | "failed" | "rolledback" | "rolled-back" => Some(Tone::Fail),
            "inconclusive" => Some(Tone::Inconclusive),
            "skipped" => Some(Tone::Quiet),
            _ => None,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Tone::Pass => "32",
            Tone::Fail => "31",
            Tone::Inconclusive => "33",
            Tone::Quiet => "2",
        }
    }
}

/// Whether text written to one stream is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    pub enabled: bool,
}

impl Palette {
    pub const PLAIN: Palette = Palette { enabled: false };

    /// Colours for a stream that is a terminal, unless `NO_COLOR` says otherwise.
    pub fn for_stream(is_terminal: bool, no_color: Option<&str>) -> Palette {
        Palette {
            enabled: is_terminal && no_color.is_none_or(str::is_empty),
        }
    }

    pub fn stdout() -> Palette {
        Self::for_stream(
            std::io::stdout().is_terminal(),
            std::env::var("NO_COLOR").ok().as_deref(),
        )
    }

    pub fn stderr() -> Palette {
        Self::for_stream(
            std::io::stderr().is_terminal(),
            std::env::var("NO_COLOR").ok().as_deref(),
        )
    }

    pub fn paint(self, tone: Tone, text: &str) -> String {
        if self.enabled {
            format!("\u{1b}[{}m{text}\u{1b}[0m", tone.code())
        } else {
            text.to_owned()
        }
    }

    /// Text holding tables from [`crate::output::table`], with the verdict words of every column
    /// headed `header` coloured (a table ends at a blank line). Colour is added after the
    /// layout, so the columns stay aligned.
    pub fn column(self, text: &str, header: &str) -> String {
        if !self.enabled {
            return text.to_owned();
        }
        let header = header.to_uppercase();
        let mut start: Option<usize> = None;
        let mut out = String::with_capacity(text.len());
        for line in text.lines() {
            let is_header =
                line == line.to_uppercase() && line.split_whitespace().any(|word| word == header);
            if line.trim().is_empty() {
                start = None;
            } else if is_header {
                start = line.find(&header);
            } else if let Some(at) = start {
                let cell = line.get(at..).and_then(|rest| rest.split(' ').next());
                if let Some((word, tone)) = cell.and_then(|w| Tone::of(w).map(|t| (w, t))) {
                    out.push_str(&line[..at]);
                    out.push_str(&self.paint(tone, word));
                    out.push_str(&line[at + word.len()..]);
                    out.push('\n');
                    continue;
                }
            }
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(Palette::for_stream(true, None).enabled);
        assert!(Palette::for_stream(true, Some("")).enabled);
        assert!(!Palette::for_stream(true, Some("1")).enabled);
        assert!(!Palette::for_stream(false, None).enabled);
    }

    #[test]
    fn a_column_is_coloured_after_the_layout() {
        let table = crate::output::table(
            &["gate", "status", "message"],
            [
                vec!["pod-health".into(), "PASS".into(), "ok".into()],
                vec!["sla".into(), "INCONCLUSIVE".into(), "no data".into()],
                vec!["x".into(), "FAIL".into(), "FAIL here stays".into()],
            ],
        );
        let painted = Palette { enabled: true }.column(&table, "status");
        assert_eq!(
            painted,
            "GATE         STATUS         MESSAGE\n\
             pod-health   \u{1b}[32mPASS\u{1b}[0m           ok\n\
             sla          \u{1b}[33mINCONCLUSIVE\u{1b}[0m   no data\n\
             x            \u{1b}[31mFAIL\u{1b}[0m           FAIL here stays\n"
        );
        assert_eq!(Palette::PLAIN.column(&table, "status"), table);
        // A table after other text and before another is found by its header.
        let text = format!("Rollout: Fail\n\n{table}\nNAME   STATUS\nx      gone\n");
        let painted = Palette { enabled: true }.column(&text, "status");
        assert!(painted.starts_with("Rollout: Fail\n\nGATE"), "{painted}");
        assert_eq!(painted.matches("\u{1b}[31m").count(), 1, "{painted}");
        assert!(
            painted.ends_with("NAME   STATUS\nx      gone\n"),
            "{painted}"
        );
    }
}
