//! `kubectl bizra validate -o junit`: the report as JUnit XML, the test report GitLab, Jenkins
//! and GitHub's test reporters render. One testsuite for the validated Deployment, a testcase
//! per gate: a failed gate is a `<failure>`; an inconclusive one is `<skipped>` (it could not be
//! decided: neither passed nor failed), as is a gate that was not selected. The evidence
//! (message, observed, threshold, pods) is the element's text, and every gate's is in its
//! `<system-out>`. The form is the one Jenkins' `junit-10.xsd` describes (tests check it).

use std::fmt::Write as _;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use crate::validate::{GateResult, Report, Status};

/// When the validation ran, for the suite's `timestamp` and `time`.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub started: Timestamp,
    pub took: Duration,
}

/// Text as an XML 1.0 attribute value carries it: markup escaped, line breaks and tabs as
/// character references (a parser would turn them into spaces), and the control characters XML
/// 1.0 cannot hold at all replaced.
fn escape(text: &str) -> String {
    escape_with(text, true)
}

/// Text as XML 1.0 element content carries it: as [`escape`], but line breaks and tabs as they
/// are, so that the report stays readable.
fn escape_text(text: &str) -> String {
    escape_with(text, false)
}

fn escape_with(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\n' | '\t' if !attribute => out.push(c),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Seconds with at most three decimals, as the schema's `time` allows.
fn seconds(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64())
}

/// What a gate saw, as lines of text.
fn evidence(gate: &GateResult) -> String {
    let mut text = format!("{}: {}\n", gate.status.name(), gate.message);
    if let Some(observed) = &gate.observed {
        let _ = writeln!(text, "observed: {observed}");
    }
    if let Some(threshold) = &gate.threshold {
        let _ = writeln!(text, "threshold: {threshold}");
    }
    if !gate.pods.is_empty() {
        text.push_str("pods:\n");
        for pod in &gate.pods {
            let _ = writeln!(
                text,
                "  {} [{}] {}",
                pod.pod,
                pod.status.name(),
                pod.message
            );
        }
    }
    text
}

fn testcase(out: &mut String, gate: &GateResult, classname: &str) {
    let _ = writeln!(
        out,
        "    <testcase name=\"{}\" classname=\"{}\" time=\"0.000\">",
        escape(gate.gate.name()),
        escape(classname)
    );
    let evidence = escape_text(&evidence(gate));
    let message = escape(&gate.message);
    match gate.status {
        Status::Fail => {
            let _ = writeln!(
                out,
                "      <failure type=\"fail\" message=\"{message}\">{evidence}</failure>"
            );
        }
        Status::Inconclusive => {
            let _ = writeln!(
                out,
                "      <skipped type=\"inconclusive\" message=\"inconclusive: {message}\">{evidence}</skipped>"
            );
        }
        Status::Skipped => {
            let _ = writeln!(
                out,
                "      <skipped type=\"not-selected\" message=\"{message}\">{evidence}</skipped>"
            );
        }
        Status::Pass => {}
    }
    let _ = writeln!(out, "      <system-out>{evidence}</system-out>");
    out.push_str("    </testcase>\n");
}

/// The report as a JUnit XML document.
pub fn render(report: &Report, timing: &Timing) -> String {
    let count = |status: Status| report.gates.iter().filter(|g| g.status == status).count();
    let tests = report.gates.len();
    let failures = count(Status::Fail);
    let skipped = count(Status::Inconclusive) + count(Status::Skipped);
    let suite = format!("{}/{}", report.namespace, report.deployment);
    let classname = format!(
        "kubectl-bizra.validate.{}.{}",
        report.namespace, report.deployment
    );
    let time = seconds(timing.took);
    let timestamp = timing.started.strftime("%Y-%m-%dT%H:%M:%S+00:00");
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"kubectl bizra validate\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{time}\">"
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time}\" timestamp=\"{timestamp}\">",
        escape(&suite)
    );
    out.push_str("    <properties>\n");
    for (name, value) in [
        ("namespace", report.namespace.as_str()),
        ("deployment", report.deployment.as_str()),
        ("status", report.status.name()),
    ] {
        let _ = writeln!(
            out,
            "      <property name=\"{name}\" value=\"{}\"/>",
            escape(value)
        );
    }
    out.push_str("    </properties>\n");
    for gate in &report.gates {
        testcase(&mut out, gate, &classname);
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{GateId, PodDetail};

    fn report() -> Report {
        Report::new(
            "testnet",
            "bizra-apex",
            vec![
                GateResult::pass(GateId::PodHealth, "3 of 3 pods Running and Ready")
                    .measured("3/3 ready", "3"),
                GateResult::fail(GateId::ErrorLogs, "1 of 3 pods not ok: p-1").with_pods(vec![
                    PodDetail {
                        pod: "p-1".into(),
                        status: Status::Fail,
                        message: "2 lines match \"ERROR\": <ERROR> a & b \u{1b}[31m".into(),
                    },
                ]),
                GateResult::inconclusive(GateId::Sla, "Prometheus has no data yet"),
                GateResult::skipped(GateId::Security, "not selected"),
            ],
        )
    }

    #[test]
    fn gates_are_testcases_with_their_verdict_and_evidence() {
        let timing = Timing {
            started: "2026-12-07T10:00:00.5Z".parse().expect("time"),
            took: Duration::from_millis(12_345),
        };
        insta::assert_snapshot!(render(&report(), &timing));
    }

    #[test]
    fn text_that_xml_cannot_hold_is_escaped_or_replaced() {
        assert_eq!(
            escape("<a href=\"x\">&'\n\t\u{0}\u{1b}ok"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&#10;&#9;\u{FFFD}\u{FFFD}ok"
        );
        assert_eq!(
            escape_text("a <b>\n\tc\r\u{7}"),
            "a &lt;b&gt;\n\tc&#13;\u{FFFD}"
        );
    }
}
