//! Where a field of a manifest stands in its file: a finding's field path
//! (`spec.template.spec.containers[0].securityContext.privileged`,
//! `metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]`) turned into a line
//! and column, so that code scanning and the playground point at the field, not at the document.
//! A field that is missing (the rule wanted it set) points at the nearest enclosing one that is
//! there.

use std::collections::HashMap;

use granit_parser::{Event, Parser};

/// A place in a file, both from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// The text a document was read from, and where it starts in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub text: String,
    /// The file's line of the text's first line.
    pub first_line: usize,
    /// Characters before the text on its first line (a JSON value after another on one line).
    pub first_column_offset: usize,
}

/// Where every key and sequence item of a document starts, by path (see [`key`]).
#[derive(Debug)]
pub struct DocumentPositions {
    places: HashMap<String, Position>,
}

/// One step of a field path.
#[derive(Debug, PartialEq, Eq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// A path as the map keys it: steps joined by a separator no key holds.
fn key(parent: &str, step: &str) -> String {
    if parent.is_empty() {
        step.to_owned()
    } else {
        format!("{parent}\u{1f}{step}")
    }
}

fn key_step(name: &str) -> String {
    format!("k:{name}")
}

fn index_step(index: usize) -> String {
    format!("i:{index}")
}

/// What the parser is inside of.
enum Frame {
    Mapping {
        path: String,
        /// The key of the value that comes next; `None` while a key is awaited.
        key: Option<String>,
    },
    Sequence {
        path: String,
        next: usize,
    },
    /// A complex key (a collection as a key): its insides have no field path.
    Ignored,
}

impl DocumentPositions {
    /// Reads the document's structure with the parser's places; `None` when it cannot be read
    /// (it was read once already, so only for text the two readings take differently).
    pub fn read(source: &Source) -> Option<Self> {
        let mut places = HashMap::new();
        let mut frames: Vec<Frame> = Vec::new();
        for event in Parser::new_from_str(&source.text) {
            let (event, span) = event.ok()?;
            let here = Position {
                line: source.first_line + span.start.line().saturating_sub(1),
                column: span.start.col()
                    + 1
                    + if span.start.line() <= 1 {
                        source.first_column_offset
                    } else {
                        0
                    },
            };
            let opens = match event {
                Event::MappingStart(..) => Some(true),
                Event::SequenceStart(..) => Some(false),
                Event::Scalar(..) | Event::Alias(..) => None,
                Event::MappingEnd | Event::SequenceEnd => {
                    frames.pop();
                    continue;
                }
                Event::DocumentEnd => break,
                _ => continue,
            };
            // The path of this node, or `None` when it is a key or has none.
            let path = match frames.last_mut() {
                None => Some(String::new()),
                Some(Frame::Ignored) => None,
                Some(Frame::Mapping { path, key: slot }) => match slot.take() {
                    Some(value_path) => Some(value_path),
                    None => {
                        if let Event::Scalar(text, ..) = &event {
                            let child = key(path, &key_step(text));
                            places.insert(child.clone(), here);
                            *slot = Some(child);
                        } else {
                            // A key that is not a scalar: its value has no path either.
                            *slot = Some(String::from("\u{0}"));
                        }
                        if opens.is_some() {
                            frames.push(Frame::Ignored);
                        }
                        continue;
                    }
                },
                Some(Frame::Sequence { path, next }) => {
                    let child = key(path, &index_step(*next));
                    *next += 1;
                    places.insert(child.clone(), here);
                    Some(child)
                }
            };
            let path = path.filter(|p| !p.starts_with('\u{0}'));
            match (opens, path) {
                (Some(true), Some(path)) => frames.push(Frame::Mapping { path, key: None }),
                (Some(false), Some(path)) => frames.push(Frame::Sequence { path, next: 0 }),
                (Some(_), None) => frames.push(Frame::Ignored),
                (None, _) => {}
            }
        }
        Some(DocumentPositions { places })
    }

    /// The place of the field at `path`, or of the nearest enclosing field present.
    pub fn locate(&self, path: &str) -> Option<Position> {
        let mut at = String::new();
        let mut found = None;
        for step in steps(path) {
            let candidates = match step {
                Step::Key(name) => vec![key(&at, &key_step(name))],
                Step::Index(index) => vec![
                    key(&at, &index_step(index)),
                    key(&at, &key_step(&index.to_string())),
                ],
            };
            let Some((next, place)) = candidates
                .into_iter()
                .find_map(|c| self.places.get(&c).map(|p| (c, *p)))
            else {
                break;
            };
            found = Some(place);
            at = next;
        }
        found
    }
}

/// `a.b[0].c[some.key/x]` → `a`, `b`, 0, `c`, `some.key/x`.
fn steps(path: &str) -> Vec<Step<'_>> {
    let mut steps = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('[') {
            let end = inner.find(']').unwrap_or(inner.len());
            let key = &inner[..end];
            steps.push(match key.parse::<usize>() {
                Ok(index) => Step::Index(index),
                Err(_) => Step::Key(key),
            });
            rest = inner.get(end + 1..).unwrap_or("");
        } else {
            let rest_trimmed = rest.strip_prefix('.').unwrap_or(rest);
            let end = rest_trimmed.find(['.', '[']).unwrap_or(rest_trimmed.len());
            if end > 0 {
                steps.push(Step::Key(&rest_trimmed[..end]));
            }
            rest = &rest_trimmed[end..];
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str, first_line: usize) -> Source {
        Source {
            text: text.to_owned(),
            first_line,
            first_column_offset: 0,
        }
    }

    #[test]
    fn paths_split_into_keys_and_indexes() {
        assert_eq!(
            steps("items[2].spec.containers[0].securityContext"),
            [
                Step::Key("items"),
                Step::Index(2),
                Step::Key("spec"),
                Step::Key("containers"),
                Step::Index(0),
                Step::Key("securityContext")
            ]
        );
        assert_eq!(
            steps("metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]"),
            [
                Step::Key("metadata"),
                Step::Key("annotations"),
                Step::Key("container.apparmor.security.beta.kubernetes.io/app")
            ]
        );
    }

    #[test]
    fn a_field_is_found_at_its_key_and_a_missing_one_at_its_nearest_parent() {
        let text = "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    metadata:\n      annotations: {container.apparmor.security.beta.kubernetes.io/app: unconfined}\n    spec:\n      containers:\n      - name: app\n        securityContext:\n          privileged: true\n      - name: second\n        image: x\n";
        let positions = DocumentPositions::read(&source(text, 10)).expect("readable");
        let at = |path| positions.locate(path).map(|p| (p.line, p.column));
        assert_eq!(
            at("spec.template.spec.containers[0].securityContext.privileged"),
            Some((20, 11))
        );
        // The second container's securityContext is missing: its item is the nearest.
        assert_eq!(
            at("spec.template.spec.containers[1].securityContext.runAsNonRoot"),
            Some((21, 9))
        );
        assert_eq!(
            at(
                "spec.template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]"
            ),
            Some((15, 21))
        );
        assert_eq!(at("metadata.name"), None);
        assert_eq!(at("kind"), Some((11, 1)));
    }

    #[test]
    fn the_first_line_of_a_value_after_another_on_one_line_keeps_its_offset() {
        let positions = DocumentPositions::read(&Source {
            text: "{\"kind\": \"Pod\", \"spec\": {\"hostPID\": true}}".to_owned(),
            first_line: 3,
            first_column_offset: 40,
        })
        .expect("readable");
        let spec = positions.locate("spec.hostPID").expect("found");
        assert_eq!(spec.line, 3);
        assert!(spec.column > 40, "{spec:?}");
    }
}
