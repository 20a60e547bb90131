//! The plugin's fuzz targets. Each function takes one fuzzer input, runs it through the code under
//! test and panics when an invariant does not hold; text parsers ignore input that is not UTF-8
//! (the plugin reads flags and files as UTF-8 before they reach them).

use bizra_offline::lint::{LintReport, LintRules, lint_text};
use policy_wasm::rules::PodRules;

use crate::replay::Target;

/// `(name, function)`: the name is the fuzz target's, and its corpus folder's.
pub const TARGETS: &[Target] = &[
    ("lint", lint),
    ("promtext", promtext),
    ("quantity", quantity),
    ("duration", duration),
];

/// The input for a panic message: lossy, and cut so a huge input does not drown it.
fn show(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let cut: String = text.chars().take(400).collect();
    if cut.len() < text.len() {
        format!("{cut:?}... ({} bytes)", data.len())
    } else {
        format!("{cut:?}")
    }
}

/// `lint_text` (the multi-document parser and the policy's pod rules) on one manifest file.
/// Every place it reports is inside the file, and the report serializes.
pub fn lint(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let rules = LintRules {
        pod: PodRules {
            require_requests: true,
            ..PodRules::default()
        },
        exempt_namespaces: Vec::new(),
    };
    let mut report = LintReport {
        files: 1,
        ..LintReport::default()
    };
    lint_text("fuzz.yaml", text, &rules, &mut report);
    // Lines end at '\n', "\r\n" or a lone '\r', as YAML (and so lint) counts them; a place may
    // be the line after the last one (an error at the end of the text).
    let lines = text.replace("\r\n", "\n").split(['\n', '\r']).count();
    let places = report
        .findings
        .iter()
        .map(|f| (f.document, Some(f.line), "finding"))
        .chain(
            report
                .skipped
                .iter()
                .map(|s| (s.document, Some(s.line), "skipped")),
        )
        .chain(
            report
                .errors
                .iter()
                .map(|e| (e.document.unwrap_or(1), e.line, "error")),
        );
    for (document, line, what) in places {
        assert!(
            (1..=lines + 1).contains(&document),
            "{what} in document {document} of a text of {lines} line(s): {}",
            show(data)
        );
        assert!(
            line.is_some_and(|l| (1..=lines + 1).contains(&l)),
            "{what} at line {line:?} of a text of {lines} line(s): {}",
            show(data)
        );
    }
    for finding in &report.findings {
        assert!(
            !finding.message.is_empty(),
            "finding without a message: {}",
            show(data)
        );
    }
    for error in &report.errors {
        assert!(
            !error.message.is_empty(),
            "error without a message: {}",
            show(data)
        );
    }
    assert!(
        report.workloads > 0 || report.findings.is_empty(),
        "findings without a checked workload: {}",
        show(data)
    );
    serde_json::to_string(&report).expect("a lint report serializes");
}

fn metric_name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// The Prometheus text parser: a valid scrape names only valid metric families; an error names
/// a line of the text (0 only for "no samples"); trailing comments change nothing.
pub fn promtext(data: &[u8]) {
    use kubectl_bizra::validate::promtext::parse_families;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let result = parse_families(text);
    match &result {
        Ok(families) => {
            assert!(!families.is_empty(), "valid but empty: {}", show(data));
            for family in families {
                assert!(
                    metric_name_ok(family),
                    "family {family:?} is not a metric name: {}",
                    show(data)
                );
            }
        }
        Err(e) => {
            assert!(
                !e.message.is_empty(),
                "error without a message: {}",
                show(data)
            );
            assert!(
                e.line <= text.lines().count(),
                "error at line {} of a {}-line text: {}",
                e.line,
                text.lines().count(),
                show(data)
            );
            assert!(
                e.line > 0 || e.message == "no samples",
                "error at line 0: {e}: {}",
                show(data)
            );
        }
    }
    let commented = format!("{text}\n# HELP trailing comment\n\n");
    assert_eq!(
        parse_families(&commented).map_err(|e| e.to_string()),
        result.map_err(|e| e.to_string()),
        "a trailing comment changed the result: {}",
        show(data)
    );
}

/// Kubernetes quantities: never NaN, whitespace around the value does not matter, and a binary
/// suffix scales the plain number exactly.
pub fn quantity(data: &[u8]) {
    use kubectl_bizra::validate::quantity::parse;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let value = parse(text);
    if let Some(v) = value {
        assert!(!v.is_nan(), "{} parsed as NaN", show(data));
    }
    let padded = format!(" \t{text}\n");
    assert_eq!(
        parse(&padded).map(f64::to_bits),
        value.map(f64::to_bits),
        "whitespace changed the value: {}",
        show(data)
    );
    for (suffix, factor) in [("Ki", 1024.0), ("Mi", 1024.0 * 1024.0)] {
        if let (Some(number), Some(v)) = (text.trim().strip_suffix(suffix), value) {
            let plain = parse(number)
                .unwrap_or_else(|| panic!("{} parses but {number:?} does not", show(data)));
            assert_eq!(
                (plain * factor).to_bits(),
                v.to_bits(),
                "{} is not {number} x {factor}",
                show(data)
            );
        }
    }
}

/// Go durations: a parsed duration is within Go's range, prints as kubectl does and parses back
/// to the same value, and `parse_positive` agrees with `parse`.
pub fn duration(data: &[u8]) {
    use kubectl_bizra::duration::{MAX, format, parse, parse_positive};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse(text);
    let positive = parse_positive(text);
    match &parsed {
        Ok(d) => {
            assert!(*d <= MAX, "{} parsed beyond Go's range: {d:?}", show(data));
            let printed = format(*d);
            assert_eq!(
                parse(&printed).as_ref(),
                Ok(d),
                "{} parsed as {d:?}, printed as {printed:?}",
                show(data)
            );
            assert_eq!(
                positive.is_ok(),
                !d.is_zero(),
                "parse_positive disagrees on {}",
                show(data)
            );
        }
        Err(e) => {
            assert_eq!(
                positive.as_ref(),
                Err(e),
                "parse_positive disagrees on {}",
                show(data)
            );
            assert!(!e.to_string().is_empty());
        }
    }
}
