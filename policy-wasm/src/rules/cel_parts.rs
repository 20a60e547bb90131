//! The pieces every rule's CEL twin is built from (see [`crate::cel`]): the variables the
//! ValidatingAdmissionPolicy declares first (the CEL twin of [`super::containers`] and
//! [`super::pod_template_pointer`]) and helpers that write a violation as [`super::Violation`]
//! displays it, so a rule's CEL messages are the policy's own, word for word.

/// The shared variables, in the order the policy declares them. `object` is read through `dyn()`
/// so the apiserver's type checker, which knows each kind's schema, does not warn about the
/// fields other kinds have. Each container is an entry `{'kind', 'label', 'c'}`: its
/// [`super::ContainerKind`] as serialized, its label as a violation displays it
/// (`container "app"`), and the container itself.
pub const VARIABLES: [(&str, &str); 8] = [
    (
        "template",
        "object.kind == 'Pod' ? dyn(object)
  : object.kind == 'CronJob' ? dyn(object).spec.jobTemplate.spec.template
  : dyn(object).spec.template",
    ),
    ("spec", "variables.template.spec"),
    (
        "podSecurityContext",
        "variables.spec.?securityContext.orValue({})",
    ),
    (
        "annotations",
        "variables.template.?metadata.?annotations.orValue({})",
    ),
    (
        "windows",
        "variables.spec.?os.?name.orValue('') == 'windows'",
    ),
    (
        "userNamespace",
        "variables.spec.?hostUsers.orValue(true) == false",
    ),
    (
        "containers",
        "variables.spec.?containers.orValue([])
  .map(c, {'kind': dyn('container'), 'label': dyn('container \"' + c.name + '\"'), 'c': c})
+ variables.spec.?initContainers.orValue([])
  .map(c, {'kind': dyn('initContainer'), 'label': dyn('init container \"' + c.name + '\"'), 'c': c})
+ variables.spec.?ephemeralContainers.orValue([])
  .map(c, {'kind': dyn('ephemeralContainer'), 'label': dyn('ephemeral container \"' + c.name + '\"'), 'c': c})",
    ),
    (
        // Ephemeral containers cannot carry resources: the limits rule skips them.
        "resourceContainers",
        "variables.containers.filter(e, e.kind != 'ephemeralContainer')",
    ),
];

/// A CEL string literal holding `text`.
pub fn text(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A CEL list literal of strings: `['a', 'b']`.
pub fn list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| text(item)).collect();
    format!("[{}]", quoted.join(", "))
}

/// The CEL string `expression` written as Rust's `{:?}` writes a string: in double quotes, with
/// `\`, `"`, and newline, carriage return and tab escaped (other control characters are left
/// as they are, where Rust would write `\u{..}`). Escaping also keeps a value from breaking the
/// message: the apiserver drops a message holding a newline, and a quote could fake a clause.
pub fn quoted(expression: &str) -> String {
    format!(
        r#"'"' + ({expression}).replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n').replace('\r', '\\r').replace('\t', '\\t') + '"'"#
    )
}

/// A violation of the pod: `pod: <message> [<rule>]`, `message` being a CEL string expression.
pub fn pod_says(message: &str, rule: &str) -> String {
    format!("'pod: ' + {message} + ' [{rule}]'")
}

/// A violation of the container entry `e`: `container "app": <message> [<rule>]`.
pub fn container_says(message: &str, rule: &str) -> String {
    format!("e.label + ': ' + {message} + ' [{rule}]'")
}

/// The messages `inner` (a list for the container entry `e`) gives for every container, as one
/// flat list. CEL before Kubernetes 1.34 has no `flatten()`, so the lists are joined into one
/// string and split again at a separator no message can hold (values are [`quoted`] or names).
pub fn per_container(inner: &str) -> String {
    format!(
        "variables.containers.map(e, ({inner}).join('\\u001e')).filter(s, s != '').join('\\u001e')
  .split('\\u001e').filter(m, m != '')"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_what_cel_needs() {
        assert_eq!(text(r"host's \ path"), r"'host\'s \\ path'");
        assert_eq!(list(&["a", "b'c"]), r"['a', 'b\'c']");
    }
}
