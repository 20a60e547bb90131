//! Per-request evaluation time of the compiled policy in wasmtime (through waPC) against the same
//! rules called natively, for a typical Pod and Deployment, without signature calls; and the
//! module's size. Prints a table for BENCHMARKS.md.
//!
//!   cargo build -p policy-wasm --target wasm32-wasip1 --profile policy
//!   cargo run --release -p policy-host --bin policy-bench [ITERATIONS]

use std::time::Instant;

use policy_host::{Compiled, GuestOutcome, default_policy_path, no_host_calls};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn measure(iterations: usize, mut run: impl FnMut()) -> (f64, f64, f64) {
    for _ in 0..iterations / 10 {
        run();
    }
    let mut times: Vec<f64> = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times.iter().sum::<f64>() / times.len() as f64,
    )
}

fn main() -> anyhow::Result<()> {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5000);
    let path = default_policy_path();
    let size = std::fs::metadata(&path)?.len();
    let compiled = Compiled::load(&path)?;
    let mut host = compiled.instantiate(no_host_calls())?;
    let settings = serde_json::json!({"rules": {"signedImages": false}});
    println!(
        "module {} ({size} bytes), {iterations} requests each after {} warm-up\n",
        path.display(),
        iterations / 10
    );
    println!(
        "| request | wasm p50 µs | wasm p99 µs | wasm mean µs | native p50 µs | native p99 µs | native mean µs | p99 ratio | mean ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for fixture in ["pod_compliant", "deployment_compliant"] {
        let file = format!(
            "{}/../policy-wasm/test_data/{fixture}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let request: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(file)?)?;
        let payload = serde_json::json!({"settings": settings, "request": request}).to_string();
        let check = |bytes: &[u8]| {
            let response: serde_json::Value = serde_json::from_slice(bytes).expect("response");
            assert_eq!(response["accepted"], true, "{fixture} must be accepted");
        };
        match host.call("validate", payload.as_bytes())? {
            GuestOutcome::Response(bytes) => check(&bytes),
            GuestOutcome::Error(e) => anyhow::bail!("guest error: {e}"),
        }
        check(
            &policy_wasm::policy::validate(payload.as_bytes())
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
        let wasm = measure(iterations, || {
            host.call("validate", payload.as_bytes()).expect("no trap");
        });
        let native = measure(iterations, || {
            policy_wasm::policy::validate(payload.as_bytes()).expect("native");
        });
        println!(
            "| {fixture} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} |",
            wasm.0,
            wasm.1,
            wasm.2,
            native.0,
            native.1,
            native.2,
            wasm.1 / native.1,
            wasm.2 / native.2
        );
    }
    Ok(())
}
