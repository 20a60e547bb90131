//! Just enough of the Prometheus text exposition format to tell valid from malformed and to list
//! the metric families a scrape holds.

use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_value(value: &str) -> bool {
    matches!(value, "NaN" | "+Inf" | "-Inf" | "Inf") || value.parse::<f64>().is_ok()
}

/// The families a scrape holds: names from `# TYPE` lines, and the names of untyped samples.
/// Histogram and summary samples (`_bucket`, `_sum`, `_count`) count for their family.
pub fn parse_families(text: &str) -> Result<BTreeSet<String>, ParseError> {
    let mut families = BTreeSet::new();
    let mut samples = 0;
    for (index, line) in text.lines().enumerate() {
        let error = |message: String| ParseError {
            line: index + 1,
            message,
        };
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.split_whitespace();
            if words.next() == Some("TYPE") {
                let name = words
                    .next()
                    .ok_or_else(|| error("TYPE without a metric name".into()))?;
                let kind = words
                    .next()
                    .ok_or_else(|| error(format!("TYPE of {name} without a type")))?;
                if !valid_metric_name(name) {
                    return Err(error(format!("invalid metric name {name:?}")));
                }
                if !matches!(
                    kind,
                    "counter" | "gauge" | "histogram" | "summary" | "untyped"
                ) {
                    return Err(error(format!("unknown metric type {kind:?}")));
                }
                families.insert(name.to_owned());
            }
            continue;
        }
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => (&line[..i], &line[i..]),
            None => return Err(error(format!("sample without a value: {line:?}"))),
        };
        if !valid_metric_name(name) {
            return Err(error(format!("invalid metric name {name:?}")));
        }
        let rest = if let Some(labels) = rest.strip_prefix('{') {
            let end = labels
                .rfind('}')
                .ok_or_else(|| error("labels not closed with '}'".into()))?;
            &labels[end + 1..]
        } else {
            rest
        };
        let mut fields = rest.split_whitespace();
        let value = fields
            .next()
            .ok_or_else(|| error(format!("sample {name} without a value")))?;
        if !valid_value(value) {
            return Err(error(format!(
                "sample {name} has a value that is not a number: {value:?}"
            )));
        }
        if let Some(timestamp) = fields.next()
            && timestamp.parse::<i64>().is_err()
        {
            return Err(error(format!(
                "sample {name} has an invalid timestamp {timestamp:?}"
            )));
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                name.strip_suffix(suffix)
                    .filter(|base| families.contains(*base))
            })
            .unwrap_or(name);
        families.insert(family.to_owned());
        samples += 1;
    }
    if samples == 0 {
        return Err(ParseError {
            line: 0,
            message: "no samples".into(),
        });
    }
    Ok(families)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_come_from_type_lines_and_samples() {
        let text = "# HELP a_seconds x\n# TYPE a_seconds histogram\na_seconds_bucket{le=\"0.1\"} 1\na_seconds_bucket{le=\"+Inf\"} 2\na_seconds_sum 0.3\na_seconds_count 2\nb_total{code=\"200\"} 5 1700000000000\nuntyped_thing 1e3\n";
        let families: Vec<String> = parse_families(text).expect("valid").into_iter().collect();
        assert_eq!(families, ["a_seconds", "b_total", "untyped_thing"]);
    }

    #[test]
    fn malformed_text_names_the_line() {
        for (text, expected) in [
            ("ok 1\n9bad 1\n", "line 2: invalid metric name \"9bad\""),
            ("a{x=\"1\" 1\n", "line 1: labels not closed with '}'"),
            (
                "a one\n",
                "line 1: sample a has a value that is not a number: \"one\"",
            ),
            ("a\n", "line 1: sample without a value: \"a\""),
            (
                "# TYPE a nonsense\na 1\n",
                "line 1: unknown metric type \"nonsense\"",
            ),
            (
                "<html>oops</html>\n",
                "line 1: sample without a value: \"<html>oops</html>\"",
            ),
            ("", "line 0: no samples"),
        ] {
            assert_eq!(parse_families(text).expect_err(text).to_string(), expected);
        }
    }
}
