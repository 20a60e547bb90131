#!/usr/bin/env bash
# The whole test suite: lints, unit and snapshot tests, then the tests against the local cluster.
# Run as root on Debian 12 (the cluster harness makes a network namespace). Installs what it needs.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
harness=tests/cluster/harness.sh

step() { printf '\n== %s\n' "$*" >&2; }

bash tests/setup.sh

step "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
(cd tests/nodesim && gofmt -l . | tee /dev/stderr | (! read -r) && go vet ./...)

step "node simulator tests"
(cd tests/nodesim && go test ./...)

step "unit and snapshot tests"
cargo test --workspace --exclude policy-host

step "policy builds for wasm32-wasip1"
cargo build -p policy-wasm --target wasm32-wasip1 --profile policy
wasm="${CARGO_TARGET_DIR:-$repo/target}/wasm32-wasip1/policy/policy_wasm.wasm"
printf 'policy_wasm.wasm: %s bytes\n' "$(stat -c %s "$wasm")" >&2

step "the compiled policy in wasmtime, through waPC, as Kubewarden runs it; real signatures from a local registry"
POLICY_WASM="$wasm" cargo test --profile host-test -p policy-host

step "release archive, krew manifest, offline krew install and completion"
cargo test -p kubectl-bizra --test krew -- --ignored

step "cluster smoke test (brings the cluster up and down itself)"
cargo test -p kubectl-bizra --test smoke -- --ignored

step "end-to-end tests on the local cluster"
trap 'bash "$harness" down' EXIT
bash "$harness" up
# First what needs the optional CRDs absent, then install them for the rest.
cargo test -p kubectl-bizra --test bare -- --ignored
bash "$harness" crds
cargo test -p kubectl-bizra --test e2e -- --ignored
step "disruption tests (apiserver restart, SIGKILL), one at a time"
cargo test -p kubectl-bizra --test disruption -- --ignored --test-threads=1
