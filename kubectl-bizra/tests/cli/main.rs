//! Every flag that takes a value, given bad values (huge, negative, zero, empty, unicode, NaN,
//! overlong, and generated garbage), exits 2 with a message naming the flag (or the file or
//! name it was given), and never panics. The flags are read from the command definition itself,
//! so a new flag fails this test until it is given a class here.
//!
//! No cluster: the kubeconfig points at a closed port on loopback, so a value that wrongly got
//! through would exit 4 (or hang for a request timeout), not 2.

#[path = "../support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What a flag takes, and so which values are bad for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// A duration that must be longer than zero.
    Duration,
    /// `--request-timeout`: zero means none.
    DurationOrZero,
    PositiveNumber,
    NonNegativeNumber,
    /// An integer with this smallest and largest valid value.
    Integer(i128, i128),
    /// A namespace or container name (DNS label) or object name (DNS subdomain).
    Name,
    Image,
    Tag,
    Enum,
    Stages,
    Url,
    PrometheusService,
    /// A file or folder to read: bad values are paths that are not there, and a garbage file.
    Path,
    /// A kubeconfig context, cluster or user: bad values are names the kubeconfig lacks.
    KubeconfigName,
    /// Free text (the rollback reason): only emptiness and length are bad.
    Text,
}

fn class_of(flag: &str) -> Option<Class> {
    use Class::*;
    Some(match flag {
        "timeout" | "wait" | "log-window" | "interval" | "window" => Duration,
        "request-timeout" => DurationOrZero,
        "max-finality-p99" => PositiveNumber,
        "min-poi-generate" | "min-poi-verify" | "min-requests" => NonNegativeNumber,
        "replicas" => Integer(0, i32::MAX as i128),
        "metrics-port" => Integer(1, 65535),
        "to" => Integer(1, 100),
        "v" => Integer(0, 10),
        "to-revision" => Integer(1, i64::MAX as i128),
        "failure-limit" | "inconclusive-limit" => Integer(0, u32::MAX as i128),
        "history" => Integer(0, u64::MAX as i128),
        "namespace" | "deployment" | "container" | "virtual-service" | "canary-deployment" => Name,
        "image" => Image,
        "tag" => Tag,
        "output" | "dry-run" | "gate" | "skip" | "pod-security" | "action" => Enum,
        "stages" => Stages,
        "prometheus-url" => Url,
        "prometheus-service" => PrometheusService,
        "kubeconfig" | "config" | "filename" | "kustomize" | "settings" => Path,
        "context" | "cluster" | "user" => KubeconfigName,
        "reason" => Text,
        _ => return None,
    })
}

/// A small deterministic generator (xorshift), so a failure names an input that reproduces.
struct Garbage(u64);

impl Garbage {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A string that always holds a non-ASCII character, which no flag value of ours accepts
    /// (but free text), mixed with digits, units, separators and letters.
    fn value(&mut self) -> String {
        const POOL: &[&str] = &[
            "0", "9", "-", "+", ".", ":", "/", "@", "s", "m", "h", "e", "E", "inf", "NaN", "a",
            "Z", "_", " ", "€", "ü", "µ", "\u{202e}", "𝟘", "\u{feff}", "%", "sha256:", "1e308",
        ];
        let len = 1 + self.next() % 12;
        let mut text: String = (0..len)
            .map(|_| POOL[(self.next() % POOL.len() as u64) as usize])
            .collect();
        let at = (self.next() as usize % (text.chars().count() + 1)).min(text.chars().count());
        let byte = text.char_indices().nth(at).map_or(text.len(), |(i, _)| i);
        text.insert(byte, 'ß');
        text
    }
}

fn bad_values(class: Class, garbage: &mut Garbage, scratch: &Path) -> Vec<String> {
    use Class::*;
    let huge = "9".repeat(30);
    let overlong = "a".repeat(100_000);
    let mut values: Vec<String> = match class {
        Duration => vec![
            "99999999999999999999s".into(),
            format!("{huge}h"),
            "-5s".into(),
            "0".into(),
            "0s".into(),
            "".into(),
            "5€".into(),
            "NaN".into(),
            "inf".into(),
            format!("{}s", "1".repeat(100_000)),
            "5".into(),
        ],
        DurationOrZero => vec![
            "99999999999999999999s".into(),
            huge.clone(),
            "-5s".into(),
            "".into(),
            "NaN".into(),
            "1e3".into(),
        ],
        PositiveNumber => vec![
            "0".into(),
            "-1".into(),
            "NaN".into(),
            "inf".into(),
            "-inf".into(),
            "1e999".into(),
            "".into(),
            "1€".into(),
            "9".repeat(1000),
        ],
        NonNegativeNumber => vec![
            "-1".into(),
            "-0.001".into(),
            "NaN".into(),
            "inf".into(),
            "1e999".into(),
            "".into(),
            "½".into(),
        ],
        Integer(min, max) => {
            let mut v = vec![
                huge.clone(),
                (max + 1).to_string(),
                (min - 1).to_string(),
                "".into(),
                "1.5".into(),
                "NaN".into(),
                "٣".into(),
                "9".repeat(10_000),
            ];
            v.dedup();
            v
        }
        Name => vec![
            "".into(),
            "Bad_Name".into(),
            "-x".into(),
            "ü".into(),
            overlong.clone(),
            "a b".into(),
        ],
        Image => vec![
            "x@sha256:a€€€€".into(),
            "".into(),
            "x:tag€".into(),
            overlong.clone(),
            "Repo:v1".into(),
            "x@sha256:short".into(),
            "ghcr.io:0/x".into(),
        ],
        Tag => vec!["".into(), "-x".into(), "a€".into(), "t".repeat(129)],
        Enum => vec!["".into(), "xml".into(), "€".into(), overlong.clone()],
        Stages => vec![
            "5:0s".into(),
            "5:99999999999999999999s".into(),
            "".into(),
            "0:1m".into(),
            "100:1m".into(),
            "5:1m,5:1m".into(),
            "5".into(),
            "€:1m".into(),
        ],
        Url => vec![
            "".into(),
            "ftp://x".into(),
            "http://".into(),
            "http://€".into(),
            format!("http://{overlong}"),
            "localhost:9090".into(),
        ],
        PrometheusService => vec![
            "".into(),
            "a/b".into(),
            "A/b:1".into(),
            "ns/name:0".into(),
            "ns/name:€".into(),
            "/name:80".into(),
        ],
        Path => {
            let garbage_file = scratch.join("garbage.yaml");
            std::fs::write(&garbage_file, "kind: [\n\u{0}\u{1}").expect("write garbage");
            vec![
                "/nonexistent/bizra/path".into(),
                scratch.join("missing €.yaml").display().to_string(),
                garbage_file.display().to_string(),
            ]
        }
        KubeconfigName => vec!["ghost".into(), "ü".into(), overlong.clone()],
        Text => vec!["".into(), "x".repeat(1025), "   ".into()],
    };
    if class != Text {
        values.extend((0..4).map(|_| garbage.value()));
    }
    values
}

/// A kubeconfig naming a cluster at a closed loopback port.
fn kubeconfig(scratch: &Path) -> PathBuf {
    let path = scratch.join("kubeconfig");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\nusers: [{name: u, user: {token: t}}]\n",
    )
    .expect("write kubeconfig");
    path
}

/// The value-taking flags of each subcommand, nested ones too (`policy vap`), as the words that
/// name the subcommand and the flag (globals under `status`, which needs a cluster).
fn flags() -> Vec<(Vec<String>, String)> {
    fn collect(command: &clap::Command, path: &[String], all: &mut Vec<(Vec<String>, String)>) {
        for sub in command.get_subcommands() {
            let mut words = path.to_vec();
            words.push(sub.get_name().to_owned());
            for arg in sub.get_arguments() {
                let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values());
                let Some(long) = arg.get_long() else { continue };
                // Global flags are tried once, below.
                if !takes_value || arg.is_hide_set() || arg.is_global_set() {
                    continue;
                }
                all.push((words.clone(), long.to_owned()));
            }
            collect(sub, &words, all);
        }
    }
    let command = kubectl_bizra::cli::command();
    let mut all = Vec::new();
    collect(&command, &[], &mut all);
    for arg in command.get_arguments().filter(|a| a.is_global_set()) {
        if let Some(long) = arg.get_long()
            && arg.get_num_args().is_some_and(|n| n.takes_values())
        {
            all.push((vec!["status".into()], long.to_owned()));
        }
    }
    all.sort();
    all.dedup();
    all
}

/// The words a message must hold: the flag, or the value it was given (a path, a name).
fn named_in(stderr: &str, flag: &str, class: Class, value: &str) -> bool {
    let shown: String = value.chars().take(40).collect();
    stderr.contains(&format!("--{flag}"))
        || (class == Class::Path && stderr.contains(&shown))
        || (class == Class::KubeconfigName && stderr.contains(&format!("{flag} \"")))
}

#[test]
fn every_flag_refuses_bad_values_with_exit_2_and_names_the_flag() {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-bad-values");
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let kubeconfig = kubeconfig(&scratch);
    let mut garbage = Garbage(0x9e37_79b9_7f4a_7c15);
    let flags = flags();
    assert!(
        flags.len() >= 30,
        "only {} flags found: {flags:?}",
        flags.len()
    );
    let unclassified: BTreeSet<&str> = flags
        .iter()
        .filter(|(_, f)| class_of(f).is_none())
        .map(|(_, f)| f.as_str())
        .collect();
    assert!(
        unclassified.is_empty(),
        "give these flags a class in tests/cli/main.rs: {unclassified:?}"
    );
    let mut failures = Vec::new();
    let mut runs = 0;
    for (sub, flag) in &flags {
        let class = class_of(flag).expect("classified");
        for value in bad_values(class, &mut garbage, &scratch) {
            // Both spellings: `--flag=value` and `--flag value` (a value may start with '-').
            for apart in [false, true] {
                let mut args = sub.clone();
                if sub[0] == "lint" && flag != "filename" {
                    let manifests = support::repo_root().join("manifests");
                    args.extend(["-f".into(), manifests.display().to_string()]);
                }
                if apart {
                    args.extend([format!("--{flag}"), value.clone()]);
                } else {
                    args.push(format!("--{flag}={value}"));
                }
                let out = Command::new(env!("CARGO_BIN_EXE_kubectl-bizra"))
                    .args(&args)
                    .env("KUBECONFIG", &kubeconfig)
                    .env("HOME", &scratch)
                    .env_remove("RUST_BACKTRACE")
                    .output()
                    .expect("kubectl-bizra runs");
                runs += 1;
                let stderr = String::from_utf8_lossy(&out.stderr);
                let shown: String = value.chars().take(60).collect();
                let spelled = if apart { " " } else { "=" };
                if stderr.contains("panicked") || out.status.code() != Some(2) {
                    failures.push(format!(
                        "{} --{flag}{spelled}{shown:?}: exit {:?}: {}",
                        sub.join(" "),
                        out.status.code(),
                        stderr.chars().take(300).collect::<String>()
                    ));
                } else if !named_in(&stderr, flag, class, &value) {
                    failures.push(format!(
                        "{} --{flag}{spelled}{shown:?}: the message does not name the flag: {}",
                        sub.join(" "),
                        stderr.chars().take(300).collect::<String>()
                    ));
                }
            }
        }
    }
    assert!(runs > 1000, "{runs} runs");
    assert!(
        failures.is_empty(),
        "{} of {runs} bad values were not refused as they must be:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn arguments_that_are_not_utf8_are_refused_not_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    let bad = std::ffi::OsStr::from_bytes(b"/tmp/\xff.yaml");
    for args in [
        vec![
            std::ffi::OsStr::new("lint"),
            std::ffi::OsStr::new("-f"),
            bad,
        ],
        vec![
            std::ffi::OsStr::new("status"),
            std::ffi::OsStr::new("-n"),
            bad,
        ],
        vec![
            std::ffi::OsStr::new("__complete"),
            std::ffi::OsStr::new("lint"),
            bad,
        ],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_kubectl-bizra"))
            .args(&args)
            .env("KUBECONFIG", "/nonexistent")
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            matches!(out.status.code(), Some(0 | 2)),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn a_kubeconfig_that_is_garbage_empty_or_points_at_missing_files_is_a_usage_error_naming_it() {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-kubeconfig");
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let write = |name: &str, text: &str| {
        let path = scratch.join(name);
        std::fs::write(&path, text).expect("write");
        path
    };
    let with_user = |name: &str, user: &str| {
        write(
            name,
            &format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{{name: k, cluster: {{server: 'https://127.0.0.1:1'}}}}]\ncontexts: [{{name: c, context: {{cluster: k, user: u}}}}]\nusers: [{{name: u, user: {user}}}]\n"
            ),
        )
    };
    let cases = [
        (
            write("garbage", "{{{ not yaml"),
            vec![],
            "failed to parse kubeconfig YAML",
        ),
        (write("empty", ""), vec![], "is the file empty?"),
        (
            with_user(
                "cert",
                "{client-certificate: /nonexistent/c.pem, client-key: /nonexistent/k.pem}",
            ),
            vec![],
            "client-certificate /nonexistent/c.pem cannot be read",
        ),
        (
            with_user("token", "{tokenFile: /nonexistent/token}"),
            vec![],
            "tokenFile /nonexistent/token",
        ),
        (
            with_user(
                "exec",
                "{exec: {apiVersion: client.authentication.k8s.io/v1, command: no-such-bizra-plugin}}",
            ),
            vec![],
            "exec plugin \"no-such-bizra-plugin\" is not installed",
        ),
        (
            with_user("ghost", "{token: t}"),
            vec!["--user", "ghost"],
            "user \"ghost\" is not in it",
        ),
        (
            with_user("ctx", "{token: t}"),
            vec!["--context", "ghost"],
            "context \"ghost\" is not in it",
        ),
        (
            with_user("cl", "{token: t}"),
            vec!["--cluster", "ghost"],
            "cluster \"ghost\" is not in it",
        ),
    ];
    for (path, extra, expected) in cases {
        // Through KUBECONFIG, the way most users point at a file, and through --kubeconfig.
        for by_flag in [false, true] {
            let mut command = Command::new(env!("CARGO_BIN_EXE_kubectl-bizra"));
            command.arg("status").args(&extra).env("HOME", &scratch);
            if by_flag {
                command
                    .arg("--kubeconfig")
                    .arg(&path)
                    .env_remove("KUBECONFIG");
            } else {
                command.env("KUBECONFIG", &path);
            }
            let out = command.output().expect("runs");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{} {extra:?}: {stderr}",
                path.display()
            );
            assert!(
                stderr.contains(&path.display().to_string()) && stderr.contains(expected),
                "{} {extra:?} (flag: {by_flag}): {stderr}",
                path.display()
            );
        }
    }
}
