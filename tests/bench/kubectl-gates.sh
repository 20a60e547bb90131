#!/usr/bin/env bash
# The seed report's validation gates checked by hand with kubectl, one command after another, as
# operators do it today. The benchmark's baseline: tests/bench/validate-bench.sh times it against
# `kubectl bizra validate`. Prints a verdict line per gate; exit 1 when one fails.
set -uo pipefail
ns=${1:?usage: kubectl-gates.sh NAMESPACE}
fail=0
verdict() { printf '%-22s %s\n' "$1" "$2"; [ "$2" = PASS ] || fail=1; }

# 1. Pod health
kubectl rollout status deployment/bizra-apex -n "$ns" --timeout=5m >/dev/null && ok=PASS || ok=FAIL
pods=$(kubectl get pods -n "$ns" -l app=bizra-apex,track=stable -o jsonpath='{range .items[*]}{.metadata.name} {.status.phase} {.status.containerStatuses[0].ready} {.status.containerStatuses[0].restartCount}{"\n"}{end}')
echo "$pods" | awk '$2 != "Running" || $3 != "true" || $4 != "0" {bad=1} END {exit bad}' || ok=FAIL
verdict pod-health "$ok"

# 2. Metrics endpoint, pod by pod
ok=PASS
for pod in $(echo "$pods" | awk '{print $1}'); do
  metrics=$(kubectl get --raw "/api/v1/namespaces/$ns/pods/$pod:9464/proxy/metrics") || { ok=FAIL; continue; }
  for family in bizra_finality_check_seconds bizra_poi_generate_seconds bizra_poi_verify_seconds; do
    grep -q "^$family" <<<"$metrics" || ok=FAIL
  done
done
verdict metrics-endpoint "$ok"

# 3. Prometheus scraping
kubectl get servicemonitor bizra-rust -n "$ns" -o jsonpath='{.spec.endpoints[0].port} {.spec.endpoints[0].interval}' | grep -q '^rust-metrics 5s$' && ok=PASS || ok=FAIL
verdict prometheus-scraping "$ok"

# 4. Resource usage
kubectl top pods -n "$ns" -l app=bizra-apex,track=stable --no-headers >/dev/null && ok=PASS || ok=FAIL
verdict resource-usage "$ok"

# 5. Error logs, pod by pod
ok=PASS
for pod in $(echo "$pods" | awk '{print $1}'); do
  if kubectl logs "$pod" -n "$ns" --since=5m | grep -qiE 'error|fatal|panic'; then ok=FAIL; fi
done
verdict error-logs "$ok"

# 6. Service connectivity
kubectl get service bizra-apex -n "$ns" -o jsonpath='{.spec.clusterIP}' | grep -q . && ok=PASS || ok=FAIL
ready=$(kubectl get endpointslices -n "$ns" -l kubernetes.io/service-name=bizra-apex -o jsonpath='{range .items[*].endpoints[*]}{.conditions.ready}{"\n"}{end}' | grep -c true)
[ "$ready" -ge "$(echo "$pods" | grep -c .)" ] || ok=FAIL
verdict service-connectivity "$ok"

# 7. Environment
kubectl get configmap bizra-config -n "$ns" -o jsonpath='{.data.BIZRA_USE_RUST} {.data.METRICS_PORT}' | grep -q '^true 9464$' && ok=PASS || ok=FAIL
kubectl get deployment bizra-apex -n "$ns" -o jsonpath='{.spec.template.spec.containers[0].env[*].name}' | grep -q NODE_ENV || ok=FAIL
verdict environment "$ok"

# Security (the report's checklist)
kubectl get deployment bizra-apex -n "$ns" -o jsonpath='{.spec.template.spec.securityContext.runAsNonRoot}' | grep -q true && ok=PASS || ok=FAIL
verdict security "$ok"
exit $fail
