//! Completion of names only the cluster knows, through kubectl's plugin completion.

use crate::support::*;

fn complete(words: &[&str]) -> Vec<String> {
    let completions = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("completion-path");
    std::fs::create_dir_all(&completions).expect("create dir");
    let script = completions.join("kubectl_complete-bizra");
    if !script.exists() {
        std::os::unix::fs::symlink(repo_root().join("release/kubectl_complete-bizra"), &script)
            .expect("link completion script");
    }
    let mut args = vec!["__complete", "bizra"];
    args.extend(words);
    let out = command("kubectl")
        .args(&args)
        .env(
            "PATH",
            format!("{}:{}", completions.display(), path_with_plugin()),
        )
        .output()
        .expect("run kubectl __complete");
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).lines().map(str::to_owned).collect()
}

#[test]
#[ignore = "needs the local cluster"]
fn namespaces_and_deployments_complete_from_the_cluster() {
    let ns = deployed("complete");
    let prefix = &ns.name[..ns.name.len() - 3];
    let namespaces = complete(&["validate", "-n", prefix]);
    assert!(namespaces.contains(&ns.name), "{namespaces:?}");
    assert!(
        namespaces
            .iter()
            .all(|n| n.starts_with(prefix) || n.starts_with(':')),
        "{namespaces:?}"
    );

    let deployments = complete(&["validate", "-n", &ns.name, "--deployment", ""]);
    assert!(
        deployments.contains(&"bizra-apex".to_string()),
        "{deployments:?}"
    );
    assert!(
        deployments.contains(&"bizra-apex-canary".to_string()),
        "{deployments:?}"
    );
    assert_eq!(deployments.last().map(String::as_str), Some(":4"));

    // A kubeconfig that reaches no cluster: no names, but still a well-formed answer.
    let nowhere = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("nowhere.kubeconfig");
    std::fs::write(
        &nowhere,
        "apiVersion: v1\nkind: Config\nclusters: [{name: x, cluster: {server: 'https://127.0.0.1:1'}}]\nusers: [{name: x, user: {}}]\ncontexts: [{name: x, context: {cluster: x, user: x}}]\ncurrent-context: x\n",
    )
    .expect("write kubeconfig");
    let none = complete(&[
        "--kubeconfig",
        nowhere.to_str().expect("utf-8"),
        "validate",
        "-n",
        "",
    ]);
    assert_eq!(none, vec![":4"]);
}
