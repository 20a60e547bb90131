//! Manifest streams: a YAML file of `---`-separated documents (or one JSON document) split into
//! documents that are parsed one by one, so that one broken document is reported with its index
//! and line and does not hide the others. `kind: *List` objects are flattened into their items.
//! `deploy` and `lint` both read manifests through here.

use std::sync::Arc;

use serde_json::Value;

use crate::positions::Source;

/// One object of a stream, with where it stands for messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The document's position in the stream, from 1.
    pub document: usize,
    /// The line (from 1) where the document's content starts.
    pub line: usize,
    /// For an item of a `*List` document, its position in `items`, from 0.
    pub item: Option<usize>,
    pub value: Value,
    /// The document's text, to find a field's line in (shared by the items of a `*List`).
    pub source: Arc<Source>,
}

impl Object {
    pub fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or("")
    }

    pub fn name(&self) -> &str {
        self.value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// A document that could not be read, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("document {document}, line {line}{}: {message}", column.map(|c| format!(", column {c}")).unwrap_or_default())]
pub struct DocumentError {
    pub document: usize,
    /// The line of the fault in the file (from 1), or the document's first line.
    pub line: usize,
    pub column: Option<usize>,
    pub message: String,
}

/// Every object in `text`, in order, and every document that could not be read. Empty
/// documents (only comments or nothing) are skipped.
pub fn parse_stream(text: &str) -> (Vec<Object>, Vec<DocumentError>) {
    // YAML breaks lines at CR too: one line ending, so lines here count as the parser's do.
    let normalized;
    let text = if text.contains('\r') {
        normalized = text.replace("\r\n", "\n").replace('\r', "\n");
        normalized.as_str()
    } else {
        text
    };
    let mut objects = Vec::new();
    let mut errors = Vec::new();
    let trimmed = text.trim_start_matches(['\u{feff}', ' ', '\t', '\n']);
    if trimmed.starts_with(['{', '[']) && parse_json_stream(text, &mut objects, &mut errors) {
        // A stream of JSON values, as kubectl reads them.
    } else {
        parse_yaml_documents(text, &mut objects, &mut errors);
    }
    (objects, errors)
}

/// JSON values one after another (`{...}{...}` or one per line). Returns false, having kept
/// nothing, when the first value is not JSON, so that the text is read as YAML instead (a YAML
/// flow mapping starts with '{' too).
fn parse_json_stream(
    text: &str,
    objects: &mut Vec<Object>,
    errors: &mut Vec<DocumentError>,
) -> bool {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut document = 0;
    loop {
        let start = stream.byte_offset();
        match stream.next() {
            None => return true,
            Some(Ok(value)) => {
                document += 1;
                let skipped = text[start..].len() - text[start..].trim_start().len();
                let begin = start + skipped;
                let line = 1 + text[..begin].matches('\n').count();
                let line_start = text[..begin].rfind('\n').map_or(0, |at| at + 1);
                let source = Arc::new(Source {
                    text: text[begin..stream.byte_offset()].to_owned(),
                    first_line: line,
                    first_column_offset: text[line_start..begin].chars().count(),
                });
                let at = Place {
                    document,
                    line,
                    item: None,
                };
                push_value(objects, errors, &at, &source, value);
            }
            Some(Err(_)) if document == 0 => return false,
            Some(Err(e)) => {
                errors.push(DocumentError {
                    document: document + 1,
                    line: e.line(),
                    column: Some(e.column()),
                    message: format!("not valid JSON: {e}")
                        .replace(&format!(" at line {} column {}", e.line(), e.column()), ""),
                });
                return true;
            }
        }
    }
}

fn parse_yaml_documents(text: &str, objects: &mut Vec<Object>, errors: &mut Vec<DocumentError>) {
    for (index, (body_line, body)) in split_documents(text).into_iter().enumerate() {
        let document = index + 1;
        // The document's line is where its content starts, after the marker and comments.
        let Some(offset) = body.lines().position(is_content_line) else {
            continue;
        };
        let line = body_line + offset;
        match serde_saphyr::from_str::<Value>(&body) {
            Ok(Value::Null) => {}
            Ok(value) => {
                let source = Arc::new(Source {
                    text: body,
                    first_line: body_line,
                    first_column_offset: 0,
                });
                let at = Place {
                    document,
                    line,
                    item: None,
                };
                push_value(objects, errors, &at, &source, value);
            }
            Err(e) => errors.push(yaml_error(document, body_line, &e)),
        }
    }
}

/// Splits at YAML's document markers: a line that is `---` (possibly followed by content) or
/// `...`. The YAML spec forbids such a line inside a scalar, so this split is exact. Each body
/// keeps the text after `---` on its line, padded so columns stay right.
fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut documents = Vec::new();
    let mut start_line = 1;
    let mut body = String::new();
    let mut started = false;
    for (i, line) in text.split('\n').enumerate() {
        let number = i + 1;
        let marker = |m: &str| {
            line.strip_prefix(m)
                .filter(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
        };
        if let Some(rest) = marker("---") {
            // Before the first marker, only comments and directives (`%YAML 1.2`) are the next
            // document's prologue, not a document of their own.
            if started || has_content(&body) {
                documents.push((start_line, std::mem::take(&mut body)));
            }
            body.clear();
            started = true;
            start_line = number;
            body.push_str("   ");
            body.push_str(rest);
            body.push('\n');
        } else if marker("...").is_some() {
            documents.push((start_line, std::mem::take(&mut body)));
            started = false;
            start_line = number + 1;
        } else {
            if body.is_empty() && !started {
                start_line = number;
            }
            body.push_str(line);
            body.push('\n');
        }
    }
    if started || has_content(&body) {
        documents.push((start_line, body));
    }
    documents
}

fn has_content(body: &str) -> bool {
    body.lines().any(is_content_line)
}

/// Not blank, a comment or a directive (`%YAML 1.2`).
fn is_content_line(line: &str) -> bool {
    let line = line.trim();
    !(line.is_empty() || line.starts_with('#') || line.starts_with('%'))
}

/// Where a value of a stream stands: its document, the document's line, its `*List` item.
struct Place {
    document: usize,
    line: usize,
    item: Option<usize>,
}

/// An object, or the items of a `*List` (a list inside a list too), each an object.
fn push_value(
    objects: &mut Vec<Object>,
    errors: &mut Vec<DocumentError>,
    at: &Place,
    source: &Arc<Source>,
    value: Value,
) {
    let Place {
        document,
        line,
        item,
    } = *at;
    let is_list = value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"));
    match value {
        Value::Object(mut map) if is_list && map.get("items").is_some_and(Value::is_array) => {
            let Some(Value::Array(items)) = map.remove("items") else {
                return;
            };
            for (index, value) in items.into_iter().enumerate() {
                // Items of a nested list are numbered within the outermost one.
                let at = Place {
                    document,
                    line,
                    item: Some(item.unwrap_or(index)),
                };
                push_value(objects, errors, &at, source, value);
            }
        }
        Value::Object(map) => objects.push(Object {
            document,
            line,
            item,
            value: Value::Object(map),
            source: Arc::clone(source),
        }),
        other => errors.push(DocumentError {
            document,
            line,
            column: None,
            message: format!(
                "expected a Kubernetes object (a mapping with apiVersion and kind){}, found {}",
                item.map(|i| format!(" as item {i}")).unwrap_or_default(),
                describe(&other)
            ),
        }),
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A YAML error in words for a person, at its place in the file.
fn yaml_error(document: usize, start_line: usize, error: &serde_saphyr::Error) -> DocumentError {
    use serde_saphyr::{Error, MessageFormatter, UserMessageFormatter};
    let error = error.without_snippet();
    let message = match error {
        Error::DuplicateMappingKey { key: Some(key), .. } => {
            format!("the key {key:?} appears twice in the same mapping")
        }
        Error::DuplicateMappingKey { key: None, .. } => {
            "a key appears twice in the same mapping".to_owned()
        }
        Error::Budget { breach, .. } => {
            let what = format!("{breach:?}");
            let what = what.split([' ', '{']).next().unwrap_or("").to_lowercase();
            format!(
                "the document is too large or too deeply nested to read (more {what} than allowed)"
            )
        }
        other => UserMessageFormatter.format_message(other).into_owned(),
    };
    // Limits breached while expanding an alias come wrapped in the alias error's text.
    let message = if message.contains("budget breached") || message.contains("limits breached") {
        "the document is too large or too deeply nested to read (an alias expands beyond the limits)"
            .to_owned()
    } else {
        message
    };
    let (line, column) = match error.location() {
        Some(location) if location.line() > 0 => (
            start_line + usize::try_from(location.line()).unwrap_or(1) - 1,
            usize::try_from(location.column()).ok().filter(|c| *c > 0),
        ),
        _ => (start_line, None),
    };
    DocumentError {
        document,
        line,
        column,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (document, line, item, name) of each object.
    type Place = (usize, usize, Option<usize>, String);

    fn places(text: &str) -> (Vec<Place>, Vec<DocumentError>) {
        let (objects, errors) = parse_stream(text);
        (
            objects
                .iter()
                .map(|o| (o.document, o.line, o.item, o.name().to_owned()))
                .collect(),
            errors,
        )
    }

    #[test]
    fn documents_keep_their_index_and_first_line() {
        let text = "# leading comment\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\n---\n# only a comment\n--- \nkind: ConfigMap\nmetadata: {name: b}\n...\n---\nkind: List\nitems:\n- {kind: Pod, metadata: {name: c}}\n- {kind: Pod, metadata: {name: d}}\n";
        let (objects, errors) = places(text);
        assert_eq!(errors, []);
        assert_eq!(
            objects,
            [
                (1, 2, None, "a".into()),
                (4, 9, None, "b".into()),
                (5, 13, Some(0), "c".into()),
                (5, 13, Some(1), "d".into()),
            ]
        );
    }

    #[test]
    fn a_broken_document_does_not_hide_the_others() {
        let text = "kind: Pod\nmetadata: {name: a}\n---\nkind: Pod\nmetadata: [\n---\nkind: Pod\nmetadata: {name: c}\n";
        let (objects, errors) = places(text);
        assert_eq!(objects.len(), 2);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].document, 2);
        assert!((4..=6).contains(&errors[0].line), "{:?}", errors[0]);
    }

    #[test]
    fn yaml_errors_are_in_words_with_their_line() {
        let (_, errors) = places("kind: Pod\nmetadata:\n  name: a\n  name: b\n");
        assert_eq!(errors.len(), 1);
        let text = errors[0].to_string();
        assert!(text.contains("the key \"name\" appears twice"), "{text}");
        assert!(!text.contains("DuplicateKeyPolicy"), "{text}");
        assert_eq!(errors[0].line, 4, "{text}");

        let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        let (_, errors) = places(&deep);
        assert_eq!(errors.len(), 1);
        assert!(!errors[0].message.contains("breached"), "{}", errors[0]);
        assert!(!errors[0].message.contains('{'), "{}", errors[0]);
    }

    #[test]
    fn lone_carriage_returns_break_lines_as_yaml_does() {
        let (objects, errors) =
            places("kind: Pod\rmetadata: {name: a}\r---\rkind: Pod\rmetadata: [\r");
        assert_eq!(objects, [(1, 1, None, "a".into())]);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].document, 2);
        assert!((4..=6).contains(&errors[0].line), "{:?}", errors[0]);
        let (_, errors) = places("\r\r[");
        assert!(errors[0].line <= 3, "{:?}", errors[0]);
    }

    #[test]
    fn a_header_comment_or_directive_is_not_a_document() {
        let (objects, errors) =
            places("# header\n%YAML 1.2\n---\nkind: Pod\nmetadata: {name: a}\n");
        assert_eq!(errors, []);
        assert_eq!(objects, [(1, 4, None, "a".into())]);
    }

    #[test]
    fn json_streams_and_nested_lists_keep_every_object() {
        let (objects, errors) = places(
            "{\"kind\": \"Pod\", \"metadata\": {\"name\": \"a\"}}\n{\"kind\": \"Pod\", \"metadata\": {\"name\": \"b\"}}\n",
        );
        assert_eq!(errors, []);
        assert_eq!(
            objects,
            [(1, 1, None, "a".into()), (2, 2, None, "b".into())]
        );
        let (objects, errors) =
            places("{\"kind\": \"Pod\", \"metadata\": {\"name\": \"a\"}}\n{\"kind\": oops}\n");
        assert_eq!(objects.len(), 1);
        assert_eq!((errors[0].document, errors[0].line), (2, 2), "{:?}", errors);
        let (objects, errors) = places(
            "kind: List\nitems:\n- kind: List\n  items:\n  - {kind: Pod, metadata: {name: inner}}\n- 5\n",
        );
        assert_eq!(objects, [(1, 1, Some(0), "inner".into())]);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].message.contains("as item 1, found a number"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn an_alias_bomb_is_refused_in_words() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..8 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            text.push_str(&format!(
                "l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        let (_, errors) = places(&text);
        assert_eq!(errors.len(), 1);
        assert!(!errors[0].message.contains("breached"), "{}", errors[0]);
        assert!(!errors[0].message.contains('{'), "{}", errors[0]);
    }

    #[test]
    fn non_objects_and_json_are_handled() {
        let (_, errors) = places("just a string\n");
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].message.contains("found a string"),
            "{}",
            errors[0]
        );
        let (objects, errors) = places("{\"kind\": \"Pod\", \"metadata\": {\"name\": \"j\"}}");
        assert_eq!((objects.len(), errors.len()), (1, 0));
        let (objects, errors) = places("{\"kind\": \"Pod\",\n \"metadata\": [}");
        assert_eq!(objects.len(), 0);
        assert_eq!(errors.len(), 1);
    }
}
