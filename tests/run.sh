#!/usr/bin/env bash
# The whole test suite: lints, unit and snapshot tests, then the tests against the local cluster.
# Run as root on Debian 12 (the cluster harness makes a network namespace). Installs what it needs.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
harness=tests/cluster/harness.sh

step() { printf '\n== [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*" >&2; }

bash tests/setup.sh --no-tools

# The cluster's Go binaries build while Rust compiles: cold, they took 18 minutes either way
# (measured), so beside Rust they no longer add to the run.
tools_log=$(mktemp)
bash tests/cluster/build-tools.sh >"$tools_log" 2>&1 &
tools_pid=$!
trap 'kill "$tools_pid" 2>/dev/null || true; rm -f "$tools_log"' EXIT
wait_for_tools() {
  step "the cluster's Go binaries (built in the background)"
  local status=0
  wait "$tools_pid" || status=$?
  cat "$tools_log" >&2
  rm -f "$tools_log"
  [ "$status" -eq 0 ] || { echo "building the cluster's Go binaries failed" >&2; exit "$status"; }
}

step "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
(cd tests/nodesim && gofmt -l . | tee /dev/stderr | (! read -r) && go vet ./...)

step "node simulator tests"
(cd tests/nodesim && go test -race ./...)

step "policy builds for wasm32-wasip1"
cargo build -p policy-wasm --target wasm32-wasip1 --profile policy
wasm="${CARGO_TARGET_DIR:-$repo/target}/wasm32-wasip1/policy/policy_wasm.wasm"
printf 'policy_wasm.wasm: %s bytes\n' "$(stat -c %s "$wasm")" >&2

# policy-host's tests run the compiled policy in wasmtime through waPC, as Kubewarden runs it,
# with real signatures from a local registry.
step "unit, snapshot and compiled-policy tests"
POLICY_WASM="$wasm" cargo test --workspace

# `validate -o junit` and `lint -o sarif` against the formats' published schemas (setup.sh
# fetched them from PyPI), and the validators shown to refuse a broken document.
step "CI report formats against their published schemas"
cargo test --workspace --test reports -- --ignored

# The browser playground (wasm-bindgen) built as the release publishes it, then driven in
# Debian's headless Chromium through chromedriver: the page must say what `lint` says.
step "the browser playground in headless Chromium"
bash playground/build.sh
cargo test --workspace --test playground -- --ignored --skip benchmark --test-threads=1 --nocapture

wait_for_tools

# Every cargo call below selects the whole workspace, like the one above: selecting one package
# would resolve other features for shared crates (tokio, tower) and rebuild half the tree.
step "release archive, krew manifest, offline krew install and completion"
# The archive is built by the release command itself; only its code generation is tuned for a
# 2-core CI (no LTO, parallel codegen), which changes nothing the test checks.
CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  cargo test --workspace --test krew -- --ignored

# The windows/amd64 archive the release command builds, run under Debian's wine64 beside the
# Linux binary; `validate` through the kubeconfig runs later, with the cluster up.
step "the Windows binary under wine64"
CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  cargo test --workspace --test windows -- --ignored --skip validate_through_the_kubeconfig

step "cluster smoke test (brings the cluster up and down itself)"
cargo test --workspace --test smoke -- --ignored

step "end-to-end tests on the local cluster"
trap 'bash "$harness" down' EXIT
bash "$harness" up
# First what needs the optional CRDs absent, then install them for the rest.
cargo test --workspace --test bare -- --ignored
bash "$harness" crds
# The e2e tests mostly wait (rollouts, Prometheus windows) in namespaces of their own; four at a
# time keeps the two cores busy without crowding them.
cargo test --workspace --test e2e -- --ignored --test-threads=4
# Live progress on a pseudo-terminal, one line per change off it, NO_COLOR, -v 6 and 8, and
# status --watch following a release.
step "operator experience: progress, colours, request tracing, status --watch"
cargo test --workspace --test operator -- --ignored --test-threads=2
step "the Windows binary validates through the kubeconfig"
CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  cargo test --workspace --test windows -- --ignored validate_through_the_kubeconfig
step "disruption tests (apiserver restart, SIGKILL, status --watch across a restart and a 410), one at a time"
cargo test --workspace --test disruption -- --ignored --test-threads=1
# Before the webhooks exist: the oracle namespaces must carry no admission but Pod Security.
step "Pod Security Standards against the apiserver's Pod Security Admission"
cargo test --workspace --test pod_security -- --ignored --test-threads=1 --nocapture
# Still before the webhooks: the VAP's namespaces must carry no other admission either.
step "the CEL ValidatingAdmissionPolicy against the Rust rules"
cargo test --workspace --test vap -- --ignored --test-threads=1 --nocapture
# Last, because the webhooks refuse what the other tests create (unsigned images): the shipped
# ClusterAdmissionPolicies enforced by the apiserver through the test bed's admission server.
step "admission edge: the apiserver enforcing manifests/policy through the compiled policy"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
export POLICY_HOST="$target_dir/debug/policy-host" POLICY_WASM="$wasm"
bash "$harness" admission up
cargo test --workspace --test admission -- --ignored --test-threads=1
bash "$harness" admission down
