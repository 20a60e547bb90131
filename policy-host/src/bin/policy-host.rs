//! The test bed's admission tools: the admission server (`serve`), the webhook configurations and
//! `policies.yml` derived from ClusterAdmissionPolicy manifests (`webhooks`, `policies`), and
//! really signed images in a local registry (`keygen`, `push`, `sign`). tests/cluster/harness.sh
//! (`admission up|down`) drives it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use policy_host::cosign::{CosignKey, Tamper, sign};
use policy_host::kubewarden::{
    Endpoint, PolicyMode, policies_entry, policy_id, read_policies, webhook_configuration,
};
use policy_host::server::{
    LoadedPolicy, load, policy_id_of_path, read_policies_file, review_response,
};
use policy_host::sigstore_verify::SigstoreVerifier;
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "policy-host",
    about = "The test bed's admission server and tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the policies of a policies.yml over HTTPS, as Kubewarden's policy-server does.
    Serve {
        #[arg(long)]
        policies: PathBuf,
        #[arg(long)]
        cert_file: PathBuf,
        #[arg(long)]
        key_file: PathBuf,
        #[arg(long, default_value = "127.0.0.1:9443")]
        addr: String,
    },
    /// Print the webhook configurations kubewarden-controller makes of the ClusterAdmissionPolicy
    /// manifests in a folder (a JSON List), pointed at URL.
    Webhooks {
        #[arg(long)]
        policies_dir: PathBuf,
        #[arg(long)]
        url: String,
        #[arg(long)]
        ca_bundle: PathBuf,
        #[arg(long, default_value = "kubewarden")]
        deployments_namespace: String,
    },
    /// Print the policies.yml for those manifests, running MODULE.
    Policies {
        #[arg(long)]
        policies_dir: PathBuf,
        #[arg(long)]
        module: PathBuf,
        /// A JSON array of signature rules put first in every policy's `signatures` (the local
        /// registry's key).
        #[arg(long)]
        signatures: Option<PathBuf>,
        /// A JSON object: policy name → JSON merge patch for its settings.
        #[arg(long)]
        settings_patch: Option<PathBuf>,
        /// Override every policy's mode.
        #[arg(long, value_parser = ["protect", "monitor"])]
        mode: Option<String>,
    },
    /// Generate a cosign key pair (cosign.key, cosign.pub) in DIR; the password is
    /// $COSIGN_PASSWORD.
    Keygen {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Push a small test image and print its digest.
    Push {
        #[arg(long)]
        image: String,
        #[arg(long, default_value = "bizra test image")]
        content: String,
    },
    /// Sign an image with a cosign key (DIR/cosign.key, DIR/cosign.pub, $COSIGN_PASSWORD).
    Sign {
        #[arg(long)]
        image: String,
        #[arg(long)]
        key_dir: PathBuf,
    },
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("policy-host: {e:#}");
        std::process::exit(1);
    }
}

fn password() -> anyhow::Result<String> {
    std::env::var("COSIGN_PASSWORD").context("set COSIGN_PASSWORD")
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            policies,
            cert_file,
            key_file,
            addr,
        } => serve(&policies, &cert_file, &key_file, &addr),
        Command::Webhooks {
            policies_dir,
            url,
            ca_bundle,
            deployments_namespace,
        } => {
            let endpoint = Endpoint {
                base_url: url,
                ca_bundle: std::fs::read(&ca_bundle)
                    .with_context(|| format!("cannot read {}", ca_bundle.display()))?,
                deployments_namespace,
            };
            let items: Vec<Value> = read_policies(&policies_dir)?
                .iter()
                .map(|p| serde_json::to_value(webhook_configuration(p, &endpoint)))
                .collect::<Result<_, _>>()?;
            println!(
                "{}",
                json!({"apiVersion": "v1", "kind": "List", "items": items})
            );
            Ok(())
        }
        Command::Policies {
            policies_dir,
            module,
            signatures,
            settings_patch,
            mode,
        } => {
            let module = std::fs::canonicalize(&module)
                .with_context(|| format!("module {}", module.display()))?;
            let extra = signatures.as_deref().map(read_json).transpose()?;
            let patches = settings_patch.as_deref().map(read_json).transpose()?;
            let mut file = serde_json::Map::new();
            for policy in read_policies(&policies_dir)? {
                let name = policy.metadata.name.clone().unwrap_or_default();
                let mut entry = policies_entry(&policy, &format!("file://{}", module.display()));
                if let Some(Value::Array(extra)) = &extra {
                    let own = entry["settings"]["signatures"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    entry["settings"]["signatures"] =
                        Value::Array(extra.iter().cloned().chain(own).collect());
                }
                if let Some(patch) = patches.as_ref().and_then(|p| p.get(&name)) {
                    json_patch::merge(&mut entry["settings"], patch);
                }
                if let Some(mode) = &mode {
                    entry["policyMode"] = json!(mode);
                }
                file.insert(policy_id(&policy), entry);
            }
            println!("{}", Value::Object(file));
            Ok(())
        }
        Command::Keygen { dir } => {
            let key = CosignKey::generate(&password()?).map_err(anyhow::Error::msg)?;
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("cosign.key"), key.encrypted_private_pem.as_bytes())?;
            std::fs::write(dir.join("cosign.pub"), &key.public_pem)?;
            Ok(())
        }
        Command::Push { image, content } => {
            let digest = runtime()?
                .block_on(policy_host::oci::push_image(&image, &content))
                .map_err(anyhow::Error::msg)?;
            println!("{digest}");
            Ok(())
        }
        Command::Sign { image, key_dir } => {
            let key = CosignKey::from_pem(
                std::fs::read_to_string(key_dir.join("cosign.key"))?,
                std::fs::read_to_string(key_dir.join("cosign.pub"))?,
                &password()?,
            );
            runtime()?
                .block_on(sign(&image, &key, &[], Tamper::Nothing))
                .map_err(anyhow::Error::msg)
        }
    }
}

fn now() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:03}", since.as_secs(), since.subsec_millis())
}

/// One request to `/validate/<id>`: the module's verdict as an AdmissionReview, and a log line.
fn handle(
    policies: &[LoadedPolicy],
    verifier: &Arc<SigstoreVerifier>,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, Vec<u8>) {
    if method == "GET" && path == "/readiness" {
        return (200, b"{\"status\":\"ready\"}".to_vec());
    }
    let Some(id) = policy_id_of_path(path).filter(|_| method == "POST") else {
        return (
            404,
            json!({"message": format!("no such endpoint: {method} {path}"), "status": 404})
                .to_string()
                .into_bytes(),
        );
    };
    let Some(policy) = policies.iter().find(|p| p.id == id) else {
        return (
            404,
            json!({"message": format!("policy {id} not found"), "status": 404})
                .to_string()
                .into_bytes(),
        );
    };
    let review: Value = match serde_json::from_slice(body) {
        Ok(review) => review,
        Err(e) => {
            return (
                400,
                json!({"message": format!("not an AdmissionReview: {e}"), "status": 400})
                    .to_string()
                    .into_bytes(),
            );
        }
    };
    let Some(request) = review.get("request").filter(|r| r.is_object()) else {
        return (
            400,
            json!({"message": "the AdmissionReview has no request", "status": 400})
                .to_string()
                .into_bytes(),
        );
    };
    let started = Instant::now();
    let outcome = policy.evaluate(request, verifier.handler());
    let eval_us = started.elapsed().as_micros();
    let (answer, monitor) = review_response(&policy.id, &policy.entry, request, outcome);
    let response = &answer["response"];
    let mut line = format!(
        "{} policy={id} uid={} operation={} kind={} object={}/{} dryRun={} allowed={} mutated={} eval_us={eval_us}",
        now(),
        request["uid"].as_str().unwrap_or(""),
        request["operation"].as_str().unwrap_or(""),
        request["kind"]["kind"].as_str().unwrap_or(""),
        request["namespace"].as_str().unwrap_or(""),
        request["name"].as_str().unwrap_or(""),
        request["dryRun"].as_bool().unwrap_or(false),
        response["allowed"],
        response.get("patch").is_some(),
    );
    if let Some(message) = response["status"]["message"].as_str() {
        line.push_str(&format!(" message={message:?}"));
    }
    if let Some(monitor) = monitor {
        line.push_str(&format!(" {monitor}"));
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
    (200, answer.to_string().into_bytes())
}

fn serve(policies: &Path, cert: &Path, key: &Path, addr: &str) -> anyhow::Result<()> {
    let loaded = load(read_policies_file(policies)?)?;
    if loaded.is_empty() {
        bail!("{} holds no policy", policies.display());
    }
    for policy in &loaded {
        let mode = match policy.entry.policy_mode {
            PolicyMode::Protect => "protect",
            PolicyMode::Monitor => "monitor",
        };
        eprintln!(
            "{} loaded policy {} ({mode}, allowedToMutate {})",
            now(),
            policy.id,
            policy.entry.allowed_to_mutate
        );
    }
    let tls = policy_host::https::acceptor(
        &std::fs::read(cert).with_context(|| format!("cannot read {}", cert.display()))?,
        &std::fs::read(key).with_context(|| format!("cannot read {}", key.display()))?,
    )?;
    let loaded = Arc::new(loaded);
    let verifier = Arc::new(SigstoreVerifier::new().map_err(anyhow::Error::msg)?);
    let handler: policy_host::https::Handler =
        Arc::new(move |method, path, body| handle(&loaded, &verifier, method, path, body));
    runtime()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        eprintln!("{} listening on https://{addr}", now());
        policy_host::https::serve(listener, tls, handler).await
    })
}
