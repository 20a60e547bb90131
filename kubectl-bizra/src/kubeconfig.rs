//! Which kubeconfig applies and whether what it selects can be used: the files kubectl reads
//! (`--kubeconfig`, `$KUBECONFIG`, `~/.kube/config`), merged as kubectl merges them, and the
//! context, cluster and user checked before any request, so that a local fault is a
//! configuration error naming the file instead of a failed connection.

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::error::Error;

/// The kubeconfig to use and how to name it in messages; `None` when there is none (in a pod).
pub fn load(flag: Option<&Path>) -> Result<Option<(Kubeconfig, String)>, Error> {
    let read = |path: &Path| {
        Kubeconfig::read_from(path).map_err(|source| Error::KubeconfigFile {
            path: path.to_owned(),
            source,
        })
    };
    let (kubeconfig, source) = if let Some(path) = flag {
        (read(path)?, path.display().to_string())
    } else if let Some(value) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let existing: Vec<PathBuf> = std::env::split_paths(&value)
            .filter(|p| !p.as_os_str().is_empty() && p.exists())
            .collect();
        if existing.is_empty() {
            return Err(Error::KubeconfigInvalid {
                source_name: format!("KUBECONFIG={}", value.to_string_lossy()),
                reason: "none of the files it names exists".into(),
            });
        }
        let mut merged = Kubeconfig::default();
        for path in &existing {
            merged = merged
                .merge(read(path)?)
                .map_err(|source| Error::KubeconfigFile {
                    path: path.clone(),
                    source,
                })?;
        }
        let names: Vec<String> = existing.iter().map(|p| p.display().to_string()).collect();
        (merged, names.join(", "))
    } else {
        match home_kubeconfig().filter(|p| p.exists()) {
            Some(path) => (read(&path)?, path.display().to_string()),
            None => return Ok(None),
        }
    };
    if kubeconfig.contexts.is_empty() && kubeconfig.clusters.is_empty() {
        return Err(Error::KubeconfigInvalid {
            source_name: source,
            reason: "it defines no cluster and no context (is the file empty?)".into(),
        });
    }
    Ok(Some((kubeconfig, source)))
}

/// `~/.kube/config`; the home folder as the platform knows it (`USERPROFILE` on Windows).
fn home_kubeconfig() -> Option<PathBuf> {
    std::env::home_dir().map(|home| home.join(".kube").join("config"))
}

/// The context, cluster and user that will be used exist, and the files they point to are
/// there: kube would otherwise fail later, at the first request, with an error that reads like
/// an unreachable cluster.
pub fn check_selection(
    kubeconfig: &Kubeconfig,
    options: &KubeConfigOptions,
    source: &str,
) -> Result<(), Error> {
    let invalid = |reason: String| Error::KubeconfigInvalid {
        source_name: source.to_owned(),
        reason,
    };
    let context_name = options
        .context
        .clone()
        .or_else(|| kubeconfig.current_context.clone());
    let context = match &context_name {
        Some(name) => Some(
            kubeconfig
                .contexts
                .iter()
                .find(|c| &c.name == name)
                .ok_or_else(|| {
                    invalid(format!(
                        "context {name:?} is not in it (contexts: {}); pick one with --context",
                        listed(kubeconfig.contexts.iter().map(|named| named.name.as_str()))
                    ))
                })?
                .context
                .clone()
                .unwrap_or_default(),
        ),
        None if options.cluster.is_none() => {
            return Err(invalid(
                "it sets no current-context; pick one with --context".into(),
            ));
        }
        None => None,
    };
    let cluster_name = options
        .cluster
        .clone()
        .or_else(|| context.as_ref().map(|c| c.cluster.clone()));
    if let Some(name) = &cluster_name {
        let cluster = kubeconfig
            .clusters
            .iter()
            .find(|c| &c.name == name)
            .ok_or_else(|| {
                invalid(format!(
                    "cluster {name:?} is not in it (clusters: {})",
                    listed(kubeconfig.clusters.iter().map(|named| named.name.as_str()))
                ))
            })?;
        if let Some(ca) = cluster
            .cluster
            .as_ref()
            .and_then(|c| c.certificate_authority.as_deref())
        {
            check_file(ca, &format!("cluster {name:?}'s certificate-authority"))
                .map_err(invalid)?;
        }
    }
    let user_name = options
        .user
        .clone()
        .or_else(|| context.as_ref().and_then(|c| c.user.clone()));
    let Some(user_name) = user_name else {
        return Ok(());
    };
    let user = kubeconfig.auth_infos.iter().find(|u| u.name == user_name);
    let auth = match (user, &options.user) {
        (Some(user), _) => user.auth_info.clone().unwrap_or_default(),
        (None, Some(_)) => {
            return Err(invalid(format!(
                "user {user_name:?} is not in it (users: {})",
                listed(
                    kubeconfig
                        .auth_infos
                        .iter()
                        .map(|named| named.name.as_str())
                )
            )));
        }
        // A context naming a user that is not there is used without credentials, as kubectl does.
        (None, None) => return Ok(()),
    };
    let what = |field: &str| format!("user {user_name:?}'s {field}");
    for (field, path) in [
        ("client-certificate", &auth.client_certificate),
        ("client-key", &auth.client_key),
        ("tokenFile", &auth.token_file),
    ] {
        if let Some(path) = path {
            check_file(path, &what(field)).map_err(invalid)?;
        }
    }
    if let Some(exec) = &auth.exec {
        let command = exec.command.as_deref().unwrap_or_default();
        if command.is_empty() {
            return Err(invalid(format!("{} has no command", what("exec plugin"))));
        }
        if find_program(command).is_none() {
            return Err(invalid(format!(
                "{} {command:?} is not installed (not found on PATH)",
                what("exec plugin")
            )));
        }
    }
    Ok(())
}

fn check_file(path: &str, what: &str) -> Result<(), String> {
    std::fs::File::open(path)
        .map(drop)
        .map_err(|e| format!("{what} {path} cannot be read: {e}"))
}

/// A command as a process would find it: a path, or a name on PATH; on Windows also with each
/// of `PATHEXT`'s extensions (`kubelogin` is `kubelogin.exe`).
fn find_program(command: &str) -> Option<PathBuf> {
    let extensions: Vec<String> = if cfg!(windows) {
        let pathext = std::env::var("PATHEXT").unwrap_or_else(|_| ".COM;.EXE;.BAT;.CMD".into());
        std::iter::once(String::new())
            .chain(
                pathext
                    .split(';')
                    .filter(|e| !e.is_empty())
                    .map(str::to_owned),
            )
            .collect()
    } else {
        vec![String::new()]
    };
    let existing = |base: &Path| {
        extensions
            .iter()
            .map(|ext| PathBuf::from(format!("{}{ext}", base.display())))
            .find(|candidate| candidate.is_file())
    };
    let path = Path::new(command);
    if path.components().count() > 1 {
        return existing(path);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).find_map(|dir| existing(&dir.join(command)))
}

/// `a, b, c`, or `none`.
fn listed<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}
