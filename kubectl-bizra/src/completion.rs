//! Shell completion through kubectl (KEP-2379): kubectl runs `kubectl_complete-bizra` with the
//! words after `bizra`, the last one being the word under the cursor (`""` for a new word). That
//! script calls the hidden entry `kubectl-bizra __complete WORD...`, which prints one candidate
//! per line and a last line `:DIRECTIVE` (Cobra's ShellCompDirective).
//!
//! Deciding what to offer is pure ([`plan`]); only namespaces and deployment names need the
//! cluster, and a cluster that does not answer quickly just yields no candidates.

use std::time::Duration;

use clap::{Arg, ArgAction, Command, ValueHint};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::ListParams;

use crate::global::{GlobalOptions, RequestTimeout};
use crate::output::OutputFormat;

/// The argument kubectl's plugin completion passes first.
pub const ENTRY: &str = "__complete";

/// Cobra's ShellCompDirective bits that we use.
pub mod directive {
    /// Let the shell complete file names.
    pub const DEFAULT: u32 = 0;
    pub const NO_FILE_COMP: u32 = 4;
}

/// Names that only the cluster knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterNames {
    Namespaces,
    Deployments,
}

/// What to offer for the word under the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Candidates already known from the command definition, filtered by the typed prefix.
    pub candidates: Vec<String>,
    /// Candidates to fetch from the cluster, then filter by `prefix`.
    pub lookup: Option<ClusterNames>,
    pub prefix: String,
    pub directive: u32,
    /// The kubeconfig selection typed so far (`--kubeconfig`, `--context`, `-n`, ...), so that
    /// looked-up names come from the cluster and namespace the command will use.
    pub connection: Vec<(String, String)>,
}

/// Does this option take a value (as opposed to a switch such as `--exec`)?
fn takes_value(arg: &Arg) -> bool {
    !matches!(
        arg.get_action(),
        ArgAction::SetTrue
            | ArgAction::SetFalse
            | ArgAction::Count
            | ArgAction::Help
            | ArgAction::HelpShort
            | ArgAction::HelpLong
            | ArgAction::Version
    )
}

/// The options valid in `command`: its own plus the root's global ones.
fn options<'a>(root: &'a Command, command: &'a Command) -> Vec<&'a Arg> {
    let mut args: Vec<&Arg> = command
        .get_arguments()
        .filter(|a| !a.is_positional())
        .collect();
    if !std::ptr::eq(root, command) {
        args.extend(
            root.get_arguments()
                .filter(|a| a.is_global_set() && !a.is_positional()),
        );
    }
    args.retain(|a| !a.is_hide_set());
    args
}

fn find_option<'a>(root: &'a Command, command: &'a Command, word: &str) -> Option<&'a Arg> {
    let all = options(root, command);
    if let Some(long) = word.strip_prefix("--") {
        all.into_iter().find(|a| a.get_long() == Some(long))
    } else if let Some(short) = word.strip_prefix('-') {
        let mut chars = short.chars();
        let (Some(c), None) = (chars.next(), chars.next()) else {
            return None;
        };
        all.into_iter().find(|a| a.get_short() == Some(c))
    } else {
        None
    }
}

/// Decides what to complete for `words` (the words after `bizra`; the last is the one being typed).
pub fn plan(root: &Command, words: &[String]) -> Plan {
    let (current, typed) = match words.split_last() {
        Some((last, before)) => (last.as_str(), before),
        None => ("", &[][..]),
    };
    let mut command = root;
    let mut connection = Vec::new();
    let mut pending_value: Option<&Arg> = None;
    let mut only_positionals = false;
    for word in typed {
        if let Some(option) = pending_value.take() {
            connection.push((option.get_id().to_string(), word.clone()));
            continue;
        }
        if only_positionals {
            continue;
        }
        if word == "--" {
            only_positionals = true;
        } else if word.starts_with('-') {
            let (name, inline_value) = match word.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (word.as_str(), None),
            };
            if let Some(option) = find_option(root, command, name).filter(|a| takes_value(a)) {
                match inline_value {
                    Some(value) => {
                        connection.push((option.get_id().to_string(), value.to_string()))
                    }
                    None => pending_value = Some(option),
                }
            }
        } else if let Some(sub) = command.find_subcommand(word) {
            command = sub;
        }
    }
    connection.retain(|(id, _)| CONNECTION_OPTIONS.contains(&id.as_str()));

    let mut plan = Plan {
        candidates: Vec::new(),
        lookup: None,
        prefix: current.to_string(),
        directive: directive::NO_FILE_COMP,
        connection,
    };
    if let Some(option) = pending_value {
        complete_value(&mut plan, command, option, "");
    } else if let Some((name, value)) = current.split_once('=').filter(|(n, _)| n.starts_with("--"))
    {
        if let Some(option) = find_option(root, command, name).filter(|a| takes_value(a)) {
            complete_value(&mut plan, command, option, &format!("{name}="));
            plan.prefix = value.to_string();
            plan.candidates
                .retain(|c| c[name.len() + 1..].starts_with(value));
            return plan;
        }
    } else if current.starts_with('-') {
        let mut flags: Vec<String> = options(root, command)
            .into_iter()
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .collect();
        flags.extend(["--help".to_string()]);
        flags.sort();
        flags.dedup();
        plan.candidates = flags;
    } else {
        plan.candidates = command
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| s.get_name().to_string())
            .collect();
    }
    let prefix = plan.prefix.clone();
    plan.candidates.retain(|c| c.starts_with(&prefix));
    plan
}

/// The options that select the cluster and namespace for lookups.
const CONNECTION_OPTIONS: &[&str] = &["kubeconfig", "context", "cluster", "user", "namespace"];

fn complete_value(plan: &mut Plan, command: &clap::Command, option: &Arg, insert_before: &str) {
    match option.get_id().as_str() {
        "namespace" => plan.lookup = Some(ClusterNames::Namespaces),
        "deployment" | "canary_deployment" => plan.lookup = Some(ClusterNames::Deployments),
        _ => {}
    }
    let values = option.get_possible_values();
    // `-o` offers the report formats the command writes, not every command's.
    let written = |name: &str| {
        option.get_id() != "output"
            || <OutputFormat as clap::ValueEnum>::from_str(name, false).is_ok_and(|format| {
                crate::output::check_format(
                    format,
                    command.get_name(),
                    crate::output::own_format(command.get_name()),
                )
                .is_ok()
            })
    };
    if !values.is_empty() {
        plan.candidates = values
            .iter()
            .filter(|v| !v.is_hide_set() && written(v.get_name()))
            .map(|v| format!("{insert_before}{}", v.get_name()))
            .collect();
    } else if matches!(
        option.get_value_hint(),
        ValueHint::AnyPath | ValueHint::FilePath | ValueHint::DirPath
    ) {
        plan.directive = directive::DEFAULT;
    }
}

/// The lines kubectl expects: candidates, then `:DIRECTIVE`.
pub fn render(candidates: &[String], directive: u32) -> String {
    let mut out = String::new();
    for candidate in candidates {
        out.push_str(candidate);
        out.push('\n');
    }
    out.push_str(&format!(":{directive}\n"));
    out
}

fn connection_options(plan: &Plan) -> GlobalOptions {
    let value = |id: &str| {
        plan.connection
            .iter()
            .rev()
            .find(|(k, _)| k == id)
            .map(|(_, v)| v.clone())
    };
    GlobalOptions {
        kubeconfig: value("kubeconfig").map(Into::into),
        context: value("context"),
        cluster: value("cluster"),
        user: value("user"),
        namespace: value("namespace").unwrap_or_else(|| crate::global::DEFAULT_NAMESPACE.into()),
        output: OutputFormat::Table,
        // A completion must never hang the shell.
        request_timeout: RequestTimeout(Some(LOOKUP_TIMEOUT)),
        verbosity: 0,
        no_progress: true,
    }
}

const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

async fn lookup(plan: &Plan, names: ClusterNames) -> Vec<String> {
    let global = connection_options(plan);
    let Ok(kube) = global.client().await else {
        return Vec::new();
    };
    match names {
        ClusterNames::Namespaces => names_of(Api::<Namespace>::all(kube.client)).await,
        ClusterNames::Deployments => {
            names_of(Api::<Deployment>::namespaced(
                kube.client,
                &global.namespace,
            ))
            .await
        }
    }
}

async fn names_of<K>(api: Api<K>) -> Vec<String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match tokio::time::timeout(LOOKUP_TIMEOUT, api.list_metadata(&ListParams::default())).await {
        Ok(Ok(list)) => list
            .items
            .into_iter()
            .filter_map(|item| item.metadata.name)
            .collect(),
        _ => Vec::new(),
    }
}

/// The hidden entry: completes `words` and prints kubectl's protocol on stdout.
pub fn run(root: &Command, words: &[String]) -> std::process::ExitCode {
    let plan = plan(root, words);
    let mut candidates = plan.candidates.clone();
    if let Some(names) = plan.lookup {
        let fetched = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|runtime| runtime.block_on(lookup(&plan, names)))
            .unwrap_or_default();
        candidates.extend(fetched.into_iter().filter(|n| n.starts_with(&plan.prefix)));
    }
    print!("{}", render(&candidates, plan.directive));
    std::process::ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::cli::Cli;

    fn plan_for(words: &[&str]) -> Plan {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        plan(&Cli::command(), &words)
    }

    #[test]
    fn a_new_word_offers_the_subcommands() {
        let plan = plan_for(&[""]);
        for sub in ["deploy", "validate", "version"] {
            assert!(plan.candidates.contains(&sub.to_string()), "{plan:?}");
        }
        assert!(!plan.candidates.iter().any(|c| c.starts_with("__")));
        assert_eq!(plan.directive, directive::NO_FILE_COMP);
        assert_eq!(plan.lookup, None);
    }

    #[test]
    fn a_prefix_filters_the_subcommands() {
        assert_eq!(plan_for(&["va"]).candidates, vec!["validate"]);
        assert!(plan_for(&["zz"]).candidates.is_empty());
    }

    #[test]
    fn flags_of_the_subcommand_and_the_global_ones() {
        let plan = plan_for(&["validate", "--"]);
        for flag in [
            "--gate",
            "--prometheus-url",
            "--namespace",
            "--context",
            "--output",
        ] {
            assert!(
                plan.candidates.contains(&flag.to_string()),
                "{flag}: {plan:?}"
            );
        }
        assert!(!plan.candidates.contains(&"--image".to_string()));
        assert_eq!(plan_for(&["deploy", "--ima"]).candidates, vec!["--image"]);
    }

    #[test]
    fn enumerated_values_are_offered() {
        assert_eq!(
            plan_for(&["validate", "-o", ""]).candidates,
            vec!["table", "json", "yaml", "junit"]
        );
        assert_eq!(
            plan_for(&["lint", "-o", ""]).candidates,
            vec!["table", "json", "yaml", "sarif"]
        );
        assert_eq!(
            plan_for(&["status", "-o", ""]).candidates,
            vec!["table", "json", "yaml"]
        );
        assert_eq!(
            plan_for(&["validate", "--gate", "se"]).candidates,
            vec!["service-connectivity", "security"]
        );
        assert_eq!(
            plan_for(&["version", "--output=j"]).candidates,
            vec!["--output=json"]
        );
    }

    #[test]
    fn namespaces_and_deployments_come_from_the_cluster_it_will_use() {
        let plan = plan_for(&["--context", "kind-x", "validate", "-n", "te"]);
        assert_eq!(plan.lookup, Some(ClusterNames::Namespaces));
        assert_eq!(plan.prefix, "te");
        assert_eq!(plan.connection, vec![("context".into(), "kind-x".into())]);

        let plan = plan_for(&["validate", "--namespace=prod", "--deployment", ""]);
        assert_eq!(plan.lookup, Some(ClusterNames::Deployments));
        let options = connection_options(&plan);
        assert_eq!(options.namespace, "prod");
        assert_eq!(options.context, None);
    }

    #[test]
    fn a_path_value_falls_back_to_file_completion() {
        let plan = plan_for(&["deploy", "-f", ""]);
        assert_eq!(plan.directive, directive::DEFAULT);
        assert!(plan.candidates.is_empty());
    }

    #[test]
    fn option_values_are_not_taken_for_subcommands() {
        // `-n deploy` is a namespace called "deploy", not the subcommand.
        let plan = plan_for(&["-n", "deploy", ""]);
        assert!(plan.candidates.contains(&"validate".to_string()));
    }

    #[test]
    fn protocol_ends_with_the_directive() {
        assert_eq!(
            render(&["deploy".into(), "validate".into()], 4),
            "deploy\nvalidate\n:4\n"
        );
        assert_eq!(render(&[], 0), ":0\n");
    }
}
