#!/usr/bin/env bash
# Benchmark: `kubectl bizra validate` against the report's gates checked by hand with kubectl
# (kubectl-gates.sh), on the local cluster, at several replica counts. Measures wall time (median
# of 3 runs each), the number of API requests each makes (from the apiserver's audit log, by user
# agent) and the plugin's peak memory. Restarts the local cluster with auditing on.
#
#   bash tests/bench/validate-bench.sh [REPLICAS ...]     (default: 3 100 1000)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
harness=tests/cluster/harness.sh
state=${BIZRA_CLUSTER_DIR:-/var/tmp/bizra-cluster}
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(3 100 1000)
ns=bench

log() { printf '[bench] %s\n' "$*" >&2; }

cargo build --release -p kubectl-bizra >&2
bin=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys;print(json.load(sys.stdin)["target_directory"])')/release/kubectl-bizra

log "restarting the local cluster with the audit log on"
bash "$harness" down >&2
BIZRA_AUDIT=1 bash "$harness" up >&2
bash "$harness" crds >&2
eval "$(bash "$harness" env)"
audit="$state/kwok/clusters/bizra/logs/audit.log"
"$bin" deploy -n "$ns" --no-validate --timeout 5m >/dev/null

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Runs a command 3 times; prints "median-seconds requests" where requests is the number of
# audited requests whose user agent starts with $1, per run.
measure() {
  local agent=$1; shift
  local times=() before after requests=0 i start end
  for i in 1 2 3; do
    before=$(wc -l <"$audit")
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || true
    end=$(date +%s.%N)
    sleep 1  # let the audit backend flush
    after=$(wc -l <"$audit")
    # One request can write several audit events (a proxied or streamed response also logs
    # ResponseStarted): count distinct audit IDs.
    requests=$(sed -n "$((before + 1)),${after}p" "$audit" | grep "\"userAgent\":\"$agent" \
      | grep -o '"auditID":"[^"]*"' | sort -u | wc -l)
    times+=("$(echo "$end - $start" | bc -l)")
  done
  printf '%s %s\n' "$(printf '%s\n' "${times[@]}" | median)" "$requests"
}

peak_memory_kb() {
  # validate's own exit code (e.g. 3 while fresh pods have no usage data yet) is not the point here.
  { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null || true; } | tail -1
}

printf '| replicas | kubectl script (s) | kubectl bizra validate (s) | speed-up | script API requests | plugin API requests | plugin peak RSS (MiB) |\n'
printf '|---:|---:|---:|---:|---:|---:|---:|\n'
for n in "${counts[@]}"; do
  log "scaling to $n replicas"
  kubectl scale deployment/bizra-apex -n "$ns" --replicas="$n" >/dev/null
  kubectl rollout status deployment/bizra-apex -n "$ns" --timeout=15m >/dev/null
  read -r script_s script_req < <(measure "kubectl/" bash tests/bench/kubectl-gates.sh "$ns")
  read -r plugin_s plugin_req < <(measure "kubectl-bizra/" "$bin" validate -n "$ns" --skip sla -o json)
  rss=$(peak_memory_kb "$bin" validate -n "$ns" --skip sla -o json)
  printf '| %s | %.2f | %.2f | %.1fx | %s | %s | %.1f |\n' "$n" "$script_s" "$plugin_s" \
    "$(echo "$script_s / $plugin_s" | bc -l)" "$script_req" "$plugin_req" "$(echo "$rss / 1024" | bc -l)"
done
