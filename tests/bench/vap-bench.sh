#!/usr/bin/env bash
# Benchmark: what the generated ValidatingAdmissionPolicy costs at the apiserver.
#   rate    server-side dry-run Pod creates per second through `kubectl proxy` on loopback, in a
#           namespace the VAP binds and in one it does not, interleaved in chunks of 50 so both
#           arms see the same machine; compliant pods (every rule evaluated, admitted) and
#           breaking ones (denied with the violation list)
#   budget  the largest pod whose evaluation stays within the apiserver's CEL cost budget: the
#           apiserver reports no cost estimate for a VAP (its type checker checks types only), so
#           the number of containers (and as many init containers) is searched at which it
#           starts refusing for cost instead of deciding
# Needs the local cluster (started if absent) and the plugin (built in debug if absent).
#
#   bash tests/bench/vap-bench.sh [N]     (default 2000 creates per arm)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
harness=tests/cluster/harness.sh
n=${1:-2000}
log() { printf '[bench] %s\n' "$*" >&2; }

bash "$harness" status >/dev/null 2>&1 || bash "$harness" up >&2
eval "$(bash "$harness" env)"
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys;print(json.load(sys.stdin)["target_directory"])')
cargo build -q -p kubectl-bizra >&2
plugin="$target/debug/kubectl-bizra"

for ns in vap-bench-bound vap-bench-free vap-bench-trivial; do
  kubectl create namespace "$ns" >/dev/null 2>&1 || true
done
kubectl label namespace vap-bench-bound --overwrite bizra.dev/vap-proof=bench >/dev/null
kubectl label namespace vap-bench-trivial --overwrite bizra.dev/vap-proof=trivial >/dev/null
# For scale: a VAP whose one validation is `true`, bound to a third namespace (what any VAP costs).
kubectl apply -f - >&2 <<'YAML'
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: bizra-bench-trivial}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods]}]
  validations: [{expression: "true"}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: bizra-bench-trivial}
spec:
  policyName: bizra-bench-trivial
  validationActions: [Deny]
  matchResources: {namespaceSelector: {matchLabels: {bizra.dev/vap-proof: trivial}}}
YAML
# The shipped settings, renamed and bound to the labelled namespace only.
"$plugin" policy vap -o json | python3 -c '
import json, sys
items = json.load(sys.stdin)["items"]
for item in items:
    item["metadata"]["name"] = "bizra-secure-pods-bench"
binding = items[1]["spec"]
binding["policyName"] = "bizra-secure-pods-bench"
binding.setdefault("matchResources", {}).setdefault("namespaceSelector", {})["matchLabels"] = {"bizra.dev/vap-proof": "bench"}
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
' | kubectl apply -f - >&2

port=18002
kubectl proxy --address 127.0.0.1 --port "$port" >/dev/null 2>&1 &
proxy=$!
trap 'kill $proxy 2>/dev/null || true; kubectl delete validatingadmissionpolicybinding,validatingadmissionpolicy bizra-secure-pods-bench bizra-bench-trivial --ignore-not-found >/dev/null 2>&1 || true; kubectl delete namespace vap-bench-bound vap-bench-free vap-bench-trivial --wait=false >/dev/null 2>&1 || true' EXIT
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
for ns in vap-bench-bound vap-bench-free vap-bench-trivial; do
  for _ in $(seq 1 30); do kubectl get serviceaccount default -n "$ns" >/dev/null 2>&1 && break; sleep 1; done
done

python3 - "$port" "$n" <<'PY'
import http.client, json, statistics, sys, time

port, n = int(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection("127.0.0.1", port)

def container(name, compliant, port_number):
    if compliant:
        return {"name": name, "image": "registry.k8s.io/pause:3.10",
                "resources": {"limits": {"cpu": "10m", "memory": "16Mi"}},
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                    "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}}
    c = {"name": name, "image": "registry.k8s.io/pause:3.10",
         "securityContext": {"privileged": True, "runAsUser": 0, "capabilities": {"add": ["SYS_ADMIN"]},
                             "seccompProfile": {"type": "Unconfined"}}}
    if port_number:
        c["ports"] = [{"containerPort": port_number, "hostPort": port_number}]
    return c

def pod(name, containers, compliant):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [container(f"c{i}", compliant, 1000 + i) for i in range(containers)],
                     "initContainers": [container(f"i{i}", compliant, 0) for i in range(containers - 1)]}}

def create(namespace, body):
    start = time.perf_counter()
    conn.request("POST", f"/api/v1/namespaces/{namespace}/pods?dryRun=All", body,
                 {"Content-Type": "application/json"})
    response = conn.getresponse()
    text = response.read()
    return (time.perf_counter() - start) * 1000, response.status, text

# Wait for the policy to be in force.
probe = json.dumps(pod("probe", 1, False))
for _ in range(120):
    _, status, text = create("vap-bench-bound", probe)
    if status == 403 and b"bizra-secure-pods-bench" in text:
        break
    time.sleep(0.5)
else:
    sys.exit("the VAP never came into force")

print("arm | pod | creates | median ms | p99 ms | creates/s (sequential)")
print("---|---|---|---|---|---")
rates, medians = {}, {}
for label, compliant, expected_bound in [("compliant", True, 201), ("breaking", False, 403)]:
    body = json.dumps(pod("bench", 1, compliant))
    times = {"vap-bench-free": [], "vap-bench-trivial": [], "vap-bench-bound": []}
    expected = {"vap-bench-free": 201, "vap-bench-trivial": 201, "vap-bench-bound": expected_bound}
    for _ in range(max(1, n // 50)):
        for namespace in times:
            for _ in range(50):
                elapsed, status, text = create(namespace, body)
                if status != expected[namespace]:
                    sys.exit(f"{namespace}: {status} {text[:300]!r}")
                times[namespace].append(elapsed)
    for namespace, arm in [("vap-bench-free", "no VAP bound"), ("vap-bench-trivial", "a VAP of `true` bound"),
                           ("vap-bench-bound", "bizra-secure-pods bound")]:
        t = sorted(times[namespace])
        rate = 1000 / statistics.mean(t)
        rates[(label, namespace)] = rate
        medians[(label, namespace)] = statistics.median(t)
        print(f"{arm} | {label} | {len(t)} | {statistics.median(t):.2f} | {t[int(len(t) * 0.99) - 1]:.2f} | {rate:.0f}")
for label in ["compliant", "breaking"]:
    free = rates[(label, "vap-bench-free")]
    added = medians[(label, "vap-bench-bound")] - medians[(label, "vap-bench-free")]
    trivial = medians[(label, "vap-bench-trivial")] - medians[(label, "vap-bench-free")]
    print(f"\n{label}: bizra-secure-pods adds {added:.2f} ms at the median (a VAP of `true`: {trivial:.2f} ms) "
          f"and takes {100 * (1 - rates[(label, 'vap-bench-bound')] / free):.1f} % off the sequential create rate")

def outcome(containers, compliant):
    """What the apiserver made of a pod of this size: admitted, denied with the violation list,
    denied with the static message (the list's messageExpression failed), or refused otherwise."""
    _, status, text = create("vap-bench-bound", json.dumps(pod("budget", containers, compliant)))
    if status == 201:
        return "admitted", ""
    message = json.loads(text).get("message", "")
    if "is not accepted (" in message:
        return "denied with the list", ""
    if "the list of violations could not be shown" in message:
        return "denied, static message", ""
    if "ValidatingAdmissionPolicy 'bizra-secure-pods-bench'" in message:
        # An evaluation error (over a cost limit) denies too: failurePolicy is Fail.
        return "denied by an evaluation error", message.split("denied request: ")[-1][:200]
    return "refused", message[:200]

def largest(compliant, wanted):
    """The largest size (containers; init containers one fewer) whose outcome is in `wanted`,
    searched by doubling from 100 then bisecting, and what the next size got."""
    low, high = 100, 100
    while True:
        got, words = outcome(high, compliant)
        if got not in wanted:
            break
        low, high = high, high * 2
        if high > 12800:
            return low, ("not reached", "")
    result = (got, words)
    while high - low > 1:
        middle = (low + high) // 2
        got, words = outcome(middle, compliant)
        if got in wanted:
            low = middle
        else:
            high, result = middle, (got, words)
    return low, result

print("\npod | outcome | up to (containers + init containers) | one more gets")
print("---|---|---|---")
for compliant, wanted in [(True, {"admitted"}), (False, {"denied with the list"}),
                          (False, {"denied with the list", "denied, static message"}),
                          (False, {"denied with the list", "denied, static message",
                                   "denied by an evaluation error"})]:
    size, (next_got, words) = largest(compliant, wanted)
    label = "compliant" if compliant else "breaking"
    print(f"{label} | {' or '.join(sorted(wanted))} | {size} + {size - 1} | {next_got} {words}")
PY
