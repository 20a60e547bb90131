#!/usr/bin/env bash
# The demo: installs what is needed, starts the local cluster (with the Prometheus Operator, Istio
# and Kubewarden CRDs), deploys bizra-apex with `kubectl bizra deploy` and shows the gates' table,
# then releases a new image as a canary with `kubectl bizra promote --auto` (stages shortened to
# 20 s each) and shows `kubectl bizra status`; then the admission policies are enforced and a Pod
# running as root is refused by the apiserver with the policy's message.
# Run as root on Debian 12. Leaves the cluster running; stop it with tests/cluster/harness.sh down.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

bash tests/setup.sh
cargo build --release -p kubectl-bizra
bash tests/cluster/harness.sh up
bash tests/cluster/harness.sh crds

bin_dir=$(mktemp -d)
ln -s "$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys;print(json.load(sys.stdin)["target_directory"])')/release/kubectl-bizra" "$bin_dir/kubectl-bizra"
export PATH="$bin_dir:$PATH"
eval "$(bash tests/cluster/harness.sh env)"

echo "+ kubectl bizra version" >&2
kubectl bizra version
echo "+ kubectl bizra deploy --prometheus-url http://127.0.0.1:9090" >&2
status=0
kubectl bizra deploy --prometheus-url http://127.0.0.1:9090 || status=$?

if [ "$status" -eq 0 ]; then
  echo "+ kubectl bizra promote --auto --image ghcr.io/bizra/node:v2.3.0 --stages 5:20s,25:20s,50:20s ..." >&2
  kubectl bizra promote --auto --image ghcr.io/bizra/node:v2.3.0 --stages 5:20s,25:20s,50:20s \
    --interval 10s --window 30s --min-requests 50 --prometheus-url http://127.0.0.1:9090 || status=$?
  echo "+ kubectl bizra status" >&2
  kubectl bizra status || status=$?

  # The shipped ClusterAdmissionPolicies enforced by the apiserver (tests/cluster/admission.sh:
  # webhooks derived as kubewarden-controller derives them, the compiled policy served as
  # policy-server serves it); a Pod running as root is refused with the policy's message.
  echo "+ bash tests/cluster/harness.sh admission up" >&2
  bash tests/cluster/harness.sh admission up || status=$?
  # testnet also enforces Pod Security "restricted" through the apiserver's own Pod Security
  # Admission, which runs before any webhook and would refuse the Pod first; a namespace without
  # that label shows the policy's own refusal.
  echo "+ kubectl create namespace demo-admission" >&2
  kubectl create namespace demo-admission --dry-run=client -o yaml | kubectl apply -f - >/dev/null || status=$?
  echo "+ kubectl apply -n demo-admission -f - <<< '{\"kind\": \"Pod\", ... \"runAsUser\": 0 ...}'" >&2
  root_pod='{"apiVersion":"v1","kind":"Pod","metadata":{"name":"root-shell","namespace":"demo-admission"},"spec":{"containers":[{"name":"shell","image":"busybox:1.36","securityContext":{"runAsUser":0}}]}}'
  refusal=$(kubectl apply -f - <<<"$root_pod" 2>&1) && refusal=admitted
  echo "$refusal" >&2
  case "$refusal" in
    *"denied the request"*"[runAsNonRoot]"*) ;;
    *) echo "the apiserver did not refuse the root Pod with the policy's message" >&2; status=1 ;;
  esac
fi

cat >&2 <<MSG

The demo exited with $status. The cluster is still running. To use it:
  $(bash tests/cluster/harness.sh env)
  export PATH=$bin_dir:\$PATH
  kubectl bizra validate --prometheus-url http://127.0.0.1:9090
  kubectl bizra rollback --reason "demo"   # stable back to the previous revision
The admission edge is on (bash tests/cluster/harness.sh admission down turns it off).
Stop it with: bash tests/cluster/harness.sh down
MSG
exit "$status"
