#!/usr/bin/env bash
# Benchmark: the admission latency our webhooks add to a Pod create through the real apiserver.
# Three arms in one run, each N sequential server-side dry-run creates (the whole admission chain,
# webhooks included, nothing stored) of a compliant Pod through `kubectl proxy` on loopback:
#   baseline    no webhooks registered
#   no-sigs     both webhooks, signature rule off in bizra-secure-pods and an image no signature
#               rule names (so bizra-pin-digests has nothing to verify): no host calls
#   signed      both webhooks as shipped, an image pushed and signed in the local registry, warm
#               (both policies verify it: pinning, then checking the pinned digest)
# Prints median, p99 and mean per arm, the added latency against the baseline, and the admission
# server's own evaluation time per request (from its log). Needs the local cluster (started if
# absent); policy-host is built in release unless POLICY_HOST names a binary.
#
#   bash tests/bench/admission-bench.sh [N]     (default 1000)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
harness=tests/cluster/harness.sh
n=${1:-1000}
state=${BIZRA_CLUSTER_DIR:-/var/tmp/bizra-cluster}
log() { printf '[bench] %s\n' "$*" >&2; }

bash "$harness" status >/dev/null 2>&1 || bash "$harness" up >&2
eval "$(bash "$harness" env)"
if [ -z "${POLICY_HOST:-}" ]; then
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo build --release -p policy-host --bin policy-host >&2
  POLICY_HOST="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys;print(json.load(sys.stdin)["target_directory"])')/release/policy-host"
fi
export POLICY_HOST
kubectl create namespace bench >/dev/null 2>&1 || true

port=18001
kubectl proxy --address 127.0.0.1 --port "$port" >/dev/null 2>&1 &
proxy=$!
trap 'kill $proxy 2>/dev/null || true; bash "$harness" admission down >/dev/null 2>&1 || true' EXIT
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

server_log="$state/admission/server.log"
results=$(mktemp -d)
measure() { # arm image
  local lines=0
  [ -f "$server_log" ] && lines=$(wc -l <"$server_log")
  python3 - "$port" "$n" "$2" "$results/$1.json" <<'PY'
import http.client, json, statistics, sys, time
port, n, image, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
pod = json.dumps({
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bench", "namespace": "bench"},
    "spec": {"securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
             "containers": [{"name": "bizra-node", "image": image,
                             "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                             "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}})
conn = http.client.HTTPConnection("127.0.0.1", port)
def create():
    start = time.perf_counter()
    conn.request("POST", "/api/v1/namespaces/bench/pods?dryRun=All", pod, {"Content-Type": "application/json"})
    response = conn.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - start) * 1000
    if response.status != 201:
        sys.exit(f"create refused ({response.status}): {body[:400]!r}")
    return elapsed
for _ in range(50):
    create()
samples = sorted(create() for _ in range(n))
json.dump({"median": statistics.median(samples), "p99": samples[int(0.99 * (len(samples) - 1))],
           "mean": statistics.fmean(samples), "n": n}, open(out, "w"))
PY
  if [ -f "$server_log" ]; then
    tail -n +"$((lines + 1))" "$server_log" | grep -o 'eval_us=[0-9]*' | cut -d= -f2 >"$results/$1.eval" || true
  else
    : >"$results/$1.eval"
  fi
}

log "baseline: no webhooks"
bash "$harness" admission down >&2
measure baseline quay.io/bizra/node:bench

log "no-sigs: webhooks, signature rule off"
patch=$(mktemp)
echo '{"bizra-secure-pods": {"rules": {"signedImages": false}}}' >"$patch"
BIZRA_ADMISSION_SETTINGS_PATCH=$patch bash "$harness" admission up >&2
measure no-sigs quay.io/bizra/node:bench

log "signed: webhooks as shipped, a signed image"
bash "$harness" admission up >&2
eval "$(bash "$harness" admission env)"
image="$BIZRA_REGISTRY/bizra/node:bench"
"$POLICY_HOST" push --image "$image" >/dev/null
"$POLICY_HOST" sign --image "$image" --key-dir "$BIZRA_ADMISSION_DIR"
measure signed "$image"

python3 - "$results" <<'PY'
import json, statistics, sys, os
d = sys.argv[1]
arms = ["baseline", "no-sigs", "signed"]
r = {a: json.load(open(os.path.join(d, a + ".json"))) for a in arms}
base = r["baseline"]
print(f"{'arm':<10} {'n':>5} {'median ms':>10} {'p99 ms':>8} {'mean ms':>8} {'added median':>13} {'added p99':>10} {'server eval median/p99 ms':>27}")
for a in arms:
    x = r[a]
    evals = sorted(int(v) / 1000 for v in open(os.path.join(d, a + ".eval")).read().split())
    ev = f"{statistics.median(evals):.2f} / {evals[int(0.99 * (len(evals) - 1))]:.2f} ({len(evals)} evals)" if evals else "-"
    print(f"{a:<10} {x['n']:>5} {x['median']:>10.2f} {x['p99']:>8.2f} {x['mean']:>8.2f} {x['median'] - base['median']:>13.2f} {x['p99'] - base['p99']:>10.2f} {ev:>27}")
PY
