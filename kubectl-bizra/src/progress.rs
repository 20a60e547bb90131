//! Progress on stderr while a command waits. On a terminal each thing waited for (a Deployment,
//! a gate, the canary) is one live line, rewritten in place, with a spinner, the time it has
//! been waited for and its current state. Off a terminal (a CI log), or with `--no-progress`, it
//! is one plain line each time that state changes, never one per poll. Lines that stay (a stage
//! reached, a retry) are printed above the live ones, and so is `-v` logging.

use std::io::{IsTerminal, Write};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::style::{Palette, Tone};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Live lines rewritten in place (stderr is a terminal).
    Live,
    /// One line per change of state (a log, or `--no-progress`).
    Lines,
}

impl Mode {
    /// Live on a terminal that can redraw, unless asked not to be.
    pub fn choose(stderr_is_terminal: bool, term: Option<&str>, no_progress: bool) -> Mode {
        if stderr_is_terminal && !no_progress && term != Some("dumb") {
            Mode::Live
        } else {
            Mode::Lines
        }
    }
}

pub struct Progress {
    mode: Mode,
    palette: Palette,
    live: MultiProgress,
}

static PROGRESS: OnceLock<Progress> = OnceLock::new();

/// Chooses the mode once, from stderr, `TERM`, `NO_COLOR` and `--no-progress`.
pub fn init(no_progress: bool) {
    let stderr_is_terminal = std::io::stderr().is_terminal();
    let term = std::env::var("TERM").ok();
    let mode = Mode::choose(stderr_is_terminal, term.as_deref(), no_progress);
    let _ = PROGRESS.set(Progress::new(mode, Palette::stderr()));
}

/// The process's progress (plain lines when [`init`] was not called, as in tests).
pub fn progress() -> &'static Progress {
    PROGRESS.get_or_init(|| Progress::new(Mode::Lines, Palette::PLAIN))
}

impl Progress {
    pub fn new(mode: Mode, palette: Palette) -> Self {
        let live = match mode {
            Mode::Live => MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)),
            Mode::Lines => MultiProgress::with_draw_target(ProgressDrawTarget::hidden()),
        };
        Progress {
            mode,
            palette,
            live,
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn palette(&self) -> Palette {
        self.palette
    }

    /// A line that stays, above the live ones.
    pub fn println(&self, line: &str) {
        self.live.suspend(|| {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "{line}");
        });
    }

    /// Writes text that already ends in a newline (a log record), above the live lines.
    pub fn write_raw(&self, text: &[u8]) {
        self.live.suspend(|| {
            let mut stderr = std::io::stderr().lock();
            let _ = stderr.write_all(text);
        });
    }

    /// One thing waited for, named e.g. `deployment bizra-apex` or `gate pod-health`.
    pub fn task(&'static self, name: impl Into<String>) -> Task {
        let name = name.into();
        let bar = (self.mode == Mode::Live).then(|| {
            let bar = self.live.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix} [{elapsed}] {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(name.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Task {
            progress: self,
            name,
            bar,
            last: Mutex::new(None),
            printed: Mutex::new(None),
        }
    }
}

/// A live line, or the source of a plain line per change.
pub struct Task {
    progress: &'static Progress,
    name: String,
    bar: Option<ProgressBar>,
    /// What the last plain line was keyed by, and the state it said.
    last: Mutex<Option<String>>,
    printed: Mutex<Option<String>>,
}

impl Task {
    /// The current state. `detail` is shown live only (it changes with every poll, e.g. time
    /// held); a plain line is written only when `state` differs from the last one written.
    pub fn set(&self, state: &str, detail: &str) {
        self.update(state, state, detail);
    }

    /// As [`set`](Self::set), for a state that quotes measurements: a plain line is written
    /// only when its words change, not when only its numbers do (an SLA gate's rates move with
    /// every poll while its reason stays the same).
    pub fn set_measured(&self, state: &str, detail: &str) {
        self.update(&words(state), state, detail);
    }

    /// As [`set_measured`](Self::set_measured) for the state `fixed` + `measured`, where every
    /// change of `fixed` counts, numbers included (a canary's stage: `at 25%: `).
    pub fn set_measured_in(&self, fixed: &str, measured: &str, detail: &str) {
        self.update(
            &measured_key(fixed, measured),
            &format!("{fixed}{measured}"),
            detail,
        );
    }

    fn update(&self, key: &str, state: &str, detail: &str) {
        match &self.bar {
            Some(bar) => {
                let message = if detail.is_empty() {
                    state.to_owned()
                } else {
                    format!("{state} ({detail})")
                };
                bar.set_message(message);
            }
            None => {
                let Ok(mut last) = self.last.lock() else {
                    return;
                };
                if last.as_deref() != Some(key) {
                    self.progress.println(&format!("{}: {state}", self.name));
                    *last = Some(key.to_owned());
                    if let Ok(mut printed) = self.printed.lock() {
                        *printed = Some(state.to_owned());
                    }
                }
            }
        }
    }

    /// The end: the live line becomes a line that stays, with the outcome's mark and colour; a
    /// plain line is written unless the last one said the same.
    pub fn finish(mut self, tone: Tone, state: &str) {
        let palette = self.progress.palette;
        match self.bar.take() {
            Some(bar) => {
                let mark = match tone {
                    Tone::Pass => "✓",
                    Tone::Fail => "✗",
                    Tone::Inconclusive => "?",
                    Tone::Quiet => "-",
                };
                let elapsed = crate::duration::format(Duration::from_secs(bar.elapsed().as_secs()));
                bar.finish_and_clear();
                self.progress.live.remove(&bar);
                self.progress.println(&format!(
                    "{} {}: {} [{elapsed}]",
                    palette.paint(tone, mark),
                    self.name,
                    palette.paint(tone, state)
                ));
            }
            None => {
                // The end is said unless the last line said exactly it.
                let said = self
                    .printed
                    .lock()
                    .map(|printed| printed.as_deref() == Some(state))
                    .unwrap_or(false);
                if !said {
                    self.progress.println(&format!("{}: {state}", self.name));
                }
            }
        }
    }
}

impl Drop for Task {
    /// A task dropped without an end (an error ended the wait) leaves no live line behind.
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            self.progress.live.remove(&bar);
        }
    }
}

/// What a state `fixed` + `measured` is told apart by: all of `fixed`, the words of `measured`.
fn measured_key(fixed: &str, measured: &str) -> String {
    format!("{fixed}{}", words(measured))
}

/// A state's words: every number in it (`5s`, `2056/s`, `0.3`) as `#`.
fn words(state: &str) -> String {
    let mut out = String::with_capacity(state.len());
    let mut in_number = false;
    for c in state.chars() {
        let numeric = c.is_ascii_digit() || (in_number && c == '.');
        if numeric {
            if !in_number {
                out.push('#');
            }
        } else {
            out.push(c);
        }
        in_number = numeric;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_s_words_leave_its_numbers_out() {
        assert_eq!(
            words("inconclusive: the youngest pod started 15s ago; PoI generation 2399.5/s"),
            "inconclusive: the youngest pod started #s ago; PoI generation #/s"
        );
        assert_eq!(
            words("inconclusive: the youngest pod started 5s ago"),
            words("inconclusive: the youngest pod started 56s ago")
        );
    }

    #[test]
    fn a_new_stage_is_a_new_state_however_alike_its_analysis() {
        let failing = "analysis Fail; error-rate: canary error rate 0.4%";
        assert_ne!(
            measured_key("at 5%: ", "analysis Pass"),
            measured_key("at 25%: ", "analysis Pass")
        );
        assert_eq!(
            measured_key("at 25%: ", failing),
            measured_key(
                "at 25%: ",
                "analysis Fail; error-rate: canary error rate 0.7%"
            )
        );
    }

    #[test]
    fn live_only_on_a_terminal_that_can_redraw_and_when_not_turned_off() {
        assert_eq!(
            Mode::choose(true, Some("xterm-256color"), false),
            Mode::Live
        );
        assert_eq!(Mode::choose(true, Some("xterm"), true), Mode::Lines);
        assert_eq!(Mode::choose(true, Some("dumb"), false), Mode::Lines);
        assert_eq!(Mode::choose(false, Some("xterm"), false), Mode::Lines);
    }
}
