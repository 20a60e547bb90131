//! Gate 5: no ERROR, FATAL, panic or consensus error line in any pod's recent log; the evidence
//! quotes the first offending lines of each pod.

use regex::RegexSet;

use crate::validate::collect::{Fetch, Input, Snapshot};
use crate::validate::config::Expectations;
use crate::validate::{GateId, GateResult, PodDetail, Status, from_pods};

const GATE: GateId = GateId::ErrorLogs;

/// What the gate reads beside the Deployment and its pods.
pub const INPUTS: &[Input] = &[Input::Logs];
const QUOTED_LINES: usize = 3;
const QUOTE_WIDTH: usize = 200;

fn quote(line: &str) -> String {
    let line = line.trim();
    match line.char_indices().nth(QUOTE_WIDTH) {
        Some((cut, _)) => format!("{:?}...", &line[..cut]),
        None => format!("{line:?}"),
    }
}

pub fn error_logs(snapshot: &Snapshot, expectations: &Expectations) -> GateResult {
    let logs = &expectations.logs;
    let window = crate::duration::format(logs.window);
    let patterns = match RegexSet::new(&logs.patterns) {
        Ok(set) => set,
        Err(e) => return GateResult::inconclusive(GATE, format!("invalid log pattern: {e}")),
    };
    if snapshot.pods.ok().is_none_or(|p| p.is_empty()) {
        return GateResult::inconclusive(GATE, "no pods to read logs from");
    }
    let mut offending_total = 0;
    let details = snapshot
        .logs
        .iter()
        .map(|(pod, fetched)| {
            let (status, message) = match fetched {
                Fetch::Ok(log) => {
                    let offending: Vec<&str> = log.text.lines().filter(|l| patterns.is_match(l)).collect();
                    offending_total += offending.len();
                    if offending.is_empty() && log.truncated {
                        let read = log.text.len() / (1024 * 1024);
                        (
                            Status::Inconclusive,
                            format!("the log of the last {window} is larger than logs.maxBytes; its first {read} MiB are clean, the rest was not read"),
                        )
                    } else if offending.is_empty() {
                        (Status::Pass, "clean".into())
                    } else {
                        let quoted: Vec<String> = offending
                            .iter()
                            .take(QUOTED_LINES)
                            .map(|l| quote(l))
                            .collect();
                        (
                            Status::Fail,
                            format!("{} matching lines: {}", offending.len(), quoted.join(", ")),
                        )
                    }
                }
                other => (
                    Status::Inconclusive,
                    format!(
                        "cannot read the log: {}",
                        other.problem().unwrap_or_default()
                    ),
                ),
            };
            PodDetail {
                pod: pod.clone(),
                status,
                message,
            }
        })
        .collect();
    from_pods(
        GATE,
        details,
        &format!("logged no errors in the last {window}"),
    )
    .measured(
        format!("{offending_total} matching lines"),
        format!("0 in the last {window}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::collect::PodLog;
    use crate::validate::gates::fixtures::healthy;

    fn with_log(pod: &str, text: &str) -> GateResult {
        let mut snapshot = healthy();
        snapshot.logs.insert(
            pod.into(),
            Fetch::Ok(PodLog {
                text: text.into(),
                truncated: false,
            }),
        );
        error_logs(&snapshot, &Expectations::default())
    }

    #[test]
    fn a_truncated_clean_log_cannot_pass_but_a_truncated_bad_one_fails() {
        let mut snapshot = healthy();
        snapshot.logs.insert(
            "bizra-apex-abc-1".into(),
            Fetch::Ok(PodLog {
                text: "INFO x\n".repeat(10),
                truncated: true,
            }),
        );
        let result = error_logs(&snapshot, &Expectations::default());
        assert_eq!(result.status, Status::Inconclusive);
        assert!(
            result.pods[0].message.contains("larger than logs.maxBytes"),
            "{}",
            result.pods[0].message
        );
        snapshot.logs.insert(
            "bizra-apex-abc-1".into(),
            Fetch::Ok(PodLog {
                text: "ERROR x\n".into(),
                truncated: true,
            }),
        );
        assert_eq!(
            error_logs(&snapshot, &Expectations::default()).status,
            Status::Fail
        );
    }

    #[test]
    fn clean_logs_pass() {
        assert_eq!(
            error_logs(&healthy(), &Expectations::default()).status,
            Status::Pass
        );
        let result = with_log(
            "bizra-apex-abc-1",
            "INFO bizra::consensus: finalized block height=3\nDEBUG poi: errors_total=0\n",
        );
        assert_eq!(result.status, Status::Pass, "{result:?}");
    }

    #[test]
    fn each_kind_of_bad_line_fails_case_insensitively() {
        for line in [
            "ERROR bizra: disk full",
            "fatal: cannot bind",
            "thread 'main' panicked at src/main.rs",
            "WARN Consensus round failed with Error 7",
        ] {
            let result = with_log("bizra-apex-abc-2", &format!("INFO ok\n{line}\n"));
            assert_eq!(result.status, Status::Fail, "{line}");
            assert_eq!(
                result.pods[0].message,
                format!("1 matching lines: {line:?}")
            );
        }
    }

    #[test]
    fn only_the_first_lines_are_quoted_and_long_lines_are_cut() {
        let long = format!("ERROR {}", "x".repeat(500));
        let text = format!("{long}\nERROR b\nERROR c\nERROR d\n");
        let result = with_log("bizra-apex-abc-1", &text);
        let message = &result.pods[0].message;
        assert!(message.starts_with("4 matching lines: "), "{message}");
        assert!(
            message.contains("...") && !message.contains("ERROR d"),
            "{message}"
        );
    }

    #[test]
    fn an_unreadable_log_is_inconclusive() {
        let mut snapshot = healthy();
        snapshot.logs.insert(
            "bizra-apex-abc-1".into(),
            Fetch::Forbidden("pods/log".into()),
        );
        assert_eq!(
            error_logs(&snapshot, &Expectations::default()).status,
            Status::Inconclusive
        );
    }
}
