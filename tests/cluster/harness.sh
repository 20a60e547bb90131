#!/usr/bin/env bash
# The local Kubernetes cluster for tests and the demo: a real kube-apiserver, controller-manager and
# scheduler (built from k8s.io/kubernetes), etcd from Debian, KWOK simulating nodes and pods, and
# the node simulator answering on every pod IP inside a network namespace of its own.
#
#   harness.sh up       start (or finish starting) the cluster; safe to repeat
#   harness.sh down     stop everything and remove every process, namespace and route it made
#   harness.sh status   what is running
#   harness.sh env      print the export line for KUBECONFIG
#   harness.sh crds     install the upstream CRDs of the optional manifests (tests/cluster/crds.sh)
#   harness.sh restart-apiserver [SECONDS]   kill the kube-apiserver, keep it down SECONDS, start it
#                       again (disruption tests)
#   harness.sh admission up|down|stop-server|env   the admission edge: manifests/policy enforced
#                       through webhooks by the test bed's admission server (admission.sh)
#
# BIZRA_AUDIT=1 makes the apiserver write an audit log ($BIZRA_CLUSTER_DIR/kwok/clusters/bizra/
# logs/audit.log), for counting API requests (tests/bench/validate-bench.sh).
#
# Needs root (network namespaces, routes). State lives outside the clone, in $BIZRA_CLUSTER_DIR.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

cache=${BIZRA_CACHE:-/var/cache/kubectl-bizra}
state=${BIZRA_CLUSTER_DIR:-/var/tmp/bizra-cluster}
name=bizra
kube_bin="$cache/kubernetes-v$KUBERNETES_VERSION/bin"
kwok_bin="$cache/kwok-v$KWOK_VERSION/bin"
metrics_server_bin="$cache/metrics-server-v$METRICS_SERVER_VERSION/bin/metrics-server"
export KWOK_WORKDIR="$state/kwok"
# Debian's etcd 3.4.23 lacks RequestWatchProgress, so the apiserver cannot serve streaming
# watch-lists; with its WatchList gate on it accepts them and then ends the watch with an error,
# and clients (kwok above all) lose events for a backoff period. With the gate off it refuses them
# up front and clients fall back to classic list+watch at once.
apiserver_feature_gates=WatchList=false
kubeconfig="$state/kubeconfig"

netns=bizra-pods
veth_host=bzpods0
veth_ns=bzpods1
transit_host=169.254.77.1
transit_ns=169.254.77.2
pod_cidr=10.244.0.0/16
service_cidr=10.96.0.0/16
# kwok's own pod range, used only for a node without spec.podCIDR (ours all have one).
kwok_fallback_cidr=10.0.0.0/24
control_addr=127.0.0.1:7070
prometheus_addr=127.0.0.1:9090
# Port 9090 of every pod IP: the node simulator forwards it to Prometheus, for the simulated
# Prometheus pod that the apiserver's service proxy reaches (prometheus-service.yaml).
prometheus_pod_addr=0.0.0.0:9090

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

require_root() { [ "$(id -u)" = 0 ] || die "run as root: the harness creates a network namespace and routes"; }

# Traffic for the pod CIDR goes into the namespace over a veth; there the whole CIDR is local
# (AnyIP), so one listener answers for every pod IP. The service CIDR and kwok's fallback pod
# range are black-holed: nothing of ours lives there, so nothing may leave the machine for them.
network_up() {
  if ! ip netns list | grep -qw "$netns"; then
    ip netns add "$netns"
  fi
  if ! ip link show "$veth_host" >/dev/null 2>&1; then
    ip link add "$veth_host" type veth peer name "$veth_ns"
    ip link set "$veth_ns" netns "$netns"
    ip addr add "$transit_host/30" dev "$veth_host"
    ip -n "$netns" addr add "$transit_ns/30" dev "$veth_ns"
  fi
  ip link set "$veth_host" up
  ip -n "$netns" link set lo up
  ip -n "$netns" link set "$veth_ns" up
  ip -n "$netns" route replace local "$pod_cidr" dev lo
  ip route replace "$pod_cidr" via "$transit_ns" dev "$veth_host"
  ip route replace unreachable "$service_cidr"
  ip route replace unreachable "$kwok_fallback_cidr"
}

network_down() {
  ip route del "$pod_cidr" 2>/dev/null || true
  ip route del unreachable "$service_cidr" 2>/dev/null || true
  ip route del unreachable "$kwok_fallback_cidr" 2>/dev/null || true
  ip link del "$veth_host" 2>/dev/null || true
  ip netns del "$netns" 2>/dev/null || true
}

apiserver_ready() {
  [ -f "$kubeconfig" ] && kubectl --kubeconfig "$kubeconfig" get --raw /readyz >/dev/null 2>&1
}

cluster_processes_alive() {
  local pids="$KWOK_WORKDIR/clusters/$name/pids" f
  [ -d "$pids" ] || return 1
  for f in etcd kube-apiserver kube-controller-manager kube-scheduler kwok-controller metrics-server; do
    [ -f "$pids/$f.pid" ] && kill -0 "$(cat "$pids/$f.pid")" 2>/dev/null || return 1
  done
}

cluster_up() {
  # A running cluster may answer slowly on busy cores: give it time before judging it broken.
  if cluster_processes_alive; then
    local i
    for i in $(seq 1 30); do
      apiserver_ready && { revive_components; return; }
      sleep 2
    done
  fi
  # A half-made cluster (a failed earlier up, a reboot) is removed and made again; the node
  # simulator holds the old cluster's credentials, so it is restarted too.
  nodesim_down
  cluster_down
  log "starting kube-apiserver, controller-manager, scheduler, etcd, kwok and metrics-server"
  sed "s|@METRICS_SERVER_MANIFESTS@|$here/metrics-server|" "$here/kwok.yaml.in" >"$state/kwok.yaml"
  "$kwok_bin/kwokctl" create cluster --name "$name" -c "$state/kwok.yaml" \
    --kube-apiserver-binary "$kube_bin/kube-apiserver" \
    --kube-controller-manager-binary "$kube_bin/kube-controller-manager" \
    --kube-scheduler-binary "$kube_bin/kube-scheduler" \
    --etcd-binary "$(command -v etcd)" \
    --kwok-controller-binary "$kwok_bin/kwok" \
    --enable metrics-server --metrics-server-binary "$metrics_server_bin" \
    --enable-crds=Logs,ClusterLogs,Exec,ClusterExec \
    --extra-args "kube-apiserver=service-cluster-ip-range=$service_cidr" \
    --kube-feature-gates "$apiserver_feature_gates" \
    ${BIZRA_AUDIT:+--kube-audit-policy "$here/audit-policy.yaml"} \
    --kubeconfig "$kubeconfig" \
    --wait 3m >"$state/kwokctl.log" 2>&1 || { tail -20 "$state/kwokctl.log" >&2; die "kwokctl create cluster failed (log: $state/kwokctl.log)"; }
  revive_components
}

# Reports each component that has exited, with the end of its log (the logs go with the cluster);
# succeeds when one had.
report_exited_components() {
  local f component exited=1
  for f in "$KWOK_WORKDIR/clusters/$name"/pids/*.pid; do
    [ -e "$f" ] || continue
    [ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && continue
    component=$(basename "$f" .pid)
    log "$component has exited; the end of its log:"
    tail -20 "$KWOK_WORKDIR/clusters/$name/logs/$component.log" >&2 2>/dev/null || true
    exited=0
  done
  return "$exited"
}

metrics_api_ready() {
  kubectl --kubeconfig "$kubeconfig" get --raw /apis/metrics.k8s.io/v1beta1/nodes >/dev/null 2>&1
}

# As a supervisor would: a component that exited is started again (`kwokctl start cluster`
# starts only the components that are not running), then the metrics API must answer, since
# the usage gate and `kubectl top` need it.
revive_components() {
  if report_exited_components; then
    log "starting the exited components again"
    "$kwok_bin/kwokctl" start cluster --name "$name" >>"$state/kwokctl.log" 2>&1 ||
      die "kwokctl start cluster failed (log: $state/kwokctl.log)"
  fi
  wait_for "the metrics API" 60 metrics_api_ready
}

cluster_down() {
  if [ -d "$KWOK_WORKDIR/clusters/$name" ]; then
    "$kwok_bin/kwokctl" delete cluster --name "$name" >/dev/null 2>&1 || true
  fi
  # Whatever kwokctl could not stop (a broken workdir) is stopped by its pid file.
  local f
  for f in "$KWOK_WORKDIR/clusters/$name"/pids/*.pid; do
    [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  # Components started again by restart-apiserver run from the cluster's bin folder too.
  pkill -9 -f "^$KWOK_WORKDIR/clusters/$name/bin/" 2>/dev/null || true
  rm -rf "${KWOK_WORKDIR:?}/clusters/$name"
}

nodesim_build() {
  mkdir -p "$state/bin"
  (cd "$repo/tests/nodesim" && CGO_ENABLED=0 go build -trimpath -o "$state/bin/nodesim" .)
}

nodesim_up() {
  if [ -f "$state/nodesim.pid" ] && kill -0 "$(cat "$state/nodesim.pid")" 2>/dev/null; then
    return
  fi
  nodesim_build
  log "starting the node simulator"
  setsid "$state/bin/nodesim" --kubeconfig "$kubeconfig" --netns "/run/netns/$netns" \
    --log-dir "$state/pod-logs" --control "$control_addr" --image-catalog "$here/images.txt" \
    --prometheus-addr "$prometheus_pod_addr" --prometheus-upstream "http://$prometheus_addr" \
    --file-sd "$state/scrape-targets.json" \
    >"$state/nodesim.log" 2>&1 < /dev/null &
  echo $! >"$state/nodesim.pid"
  local i
  for i in $(seq 1 50); do
    curl -fsS "http://$control_addr/healthz" >/dev/null 2>&1 && return
    kill -0 "$(cat "$state/nodesim.pid")" 2>/dev/null || break
    sleep 0.2
  done
  tail -20 "$state/nodesim.log" >&2
  die "the node simulator did not start (log: $state/nodesim.log)"
}

nodesim_down() {
  if [ -f "$state/nodesim.pid" ]; then
    kill "$(cat "$state/nodesim.pid")" 2>/dev/null || true
    rm -f "$state/nodesim.pid"
  fi
}

prometheus_up() {
  if [ -f "$state/prometheus.pid" ] && kill -0 "$(cat "$state/prometheus.pid")" 2>/dev/null; then
    return
  fi
  log "starting Prometheus on $prometheus_addr"
  mkdir -p "$state/prometheus-data"
  sed "s|@TARGETS@|$state/scrape-targets.json|" "$here/prometheus.yaml.in" >"$state/prometheus.yaml"
  setsid prometheus --config.file="$state/prometheus.yaml" --storage.tsdb.path="$state/prometheus-data" \
    --storage.tsdb.retention.time=2h --web.listen-address="$prometheus_addr" \
    >"$state/prometheus.log" 2>&1 < /dev/null &
  echo $! >"$state/prometheus.pid"
  wait_for "Prometheus to be ready" 60 curl -fsS "http://$prometheus_addr/-/ready"
  kubectl --kubeconfig "$kubeconfig" apply -f "$here/prometheus-service.yaml" >/dev/null
  wait_for "the Prometheus service to answer through the apiserver" 60 \
    kubectl --kubeconfig "$kubeconfig" get --raw /api/v1/namespaces/monitoring/services/prometheus:9090/proxy/-/ready
}

prometheus_down() {
  if [ -f "$state/prometheus.pid" ]; then
    kill "$(cat "$state/prometheus.pid")" 2>/dev/null || true
    rm -f "$state/prometheus.pid"
  fi
  rm -rf "${state:?}/prometheus-data"
}

wait_for() {
  local what=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "timed out after ${timeout}s waiting for $what"
    sleep 1
  done
}

nodes_up() {
  kubectl --kubeconfig "$kubeconfig" apply -f "$here/nodes.yaml" >/dev/null
  wait_for "the nodes to be Ready" 120 \
    kubectl --kubeconfig "$kubeconfig" wait --for=condition=Ready node --all --timeout=5s
  # Pods can only be admitted once the controller-manager made the default ServiceAccount.
  wait_for "the default ServiceAccount" 120 \
    kubectl --kubeconfig "$kubeconfig" get serviceaccount default -n default
}

up() {
  require_root
  local start=$SECONDS
  mkdir -p "$state"
  "$here/build-tools.sh"
  network_up
  cluster_up
  nodes_up
  nodesim_up
  prometheus_up
  log "cluster ready in $((SECONDS - start))s; KUBECONFIG=$kubeconfig"
}

down() {
  require_root
  bash "$here/admission.sh" down >/dev/null 2>&1 || true
  report_exited_components || true
  prometheus_down
  nodesim_down
  cluster_down
  network_down
  rm -rf "${state:?}/pod-logs" "$state/kubeconfig" "$state/nodesim.log" "$state/kwokctl.log" "$state/prometheus.log" "$state/prometheus.yaml" \
    "$state/scrape-targets.json" "$state/kwok.yaml" "$state/restarted-components.log"
  log "cluster removed"
}

# Kills the kube-apiserver and starts it again with the same command line and environment, as a
# supervisor (systemd, the kubelet) would after a crash; etcd keeps running. Components that exit
# meanwhile (the controller-manager and scheduler do when they cannot renew their leader lease)
# are started again the same way.
restart_apiserver() {
  local downtime=${1:-0}
  local pids="$KWOK_WORKDIR/clusters/$name/pids" saved component pid
  cluster_processes_alive || die "the cluster is not running"
  saved=$(mktemp -d)
  for component in kube-apiserver kube-controller-manager kube-scheduler kwok-controller metrics-server; do
    pid=$(cat "$pids/$component.pid")
    cp "/proc/$pid/cmdline" "$saved/$component.cmdline"
    cp "/proc/$pid/environ" "$saved/$component.environ"
    readlink "/proc/$pid/cwd" >"$saved/$component.cwd"
  done
  pid=$(cat "$pids/kube-apiserver.pid")
  log "killing kube-apiserver (pid $pid)"
  kill -9 "$pid"
  local i
  for i in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  : >"$pids/kube-apiserver.pid"
  if [ "$downtime" -gt 0 ]; then
    log "kube-apiserver stays down for ${downtime}s"
    sleep "$downtime"
  fi
  relaunch() {
    local component=$1
    local -a argv env
    mapfile -d '' argv <"$saved/$component.cmdline"
    mapfile -d '' env <"$saved/$component.environ"
    # setsid may fork, so the process writes its own pid before becoming the component.
    # The redirections cover the whole background job, so no process keeps this script's output
    # open (a caller reading it to the end would wait forever).
    (cd "$(cat "$saved/$component.cwd")" && exec setsid env -i "${env[@]}" \
      bash -c 'echo $$ >"$0"; exec "$@"' "$pids/$component.pid" "${argv[@]}") \
      >>"$state/restarted-components.log" 2>&1 </dev/null &
    local i
    for i in $(seq 1 20); do [ -s "$pids/$component.pid" ] && break; sleep 0.2; done
    log "started $component again (pid $(cat "$pids/$component.pid"))"
  }
  relaunch kube-apiserver
  wait_for "the restarted kube-apiserver to be ready" 120 apiserver_ready
  # Give the others the time their leader election takes to notice, then revive the dead.
  sleep 15
  for component in kube-controller-manager kube-scheduler kwok-controller metrics-server; do
    kill -0 "$(cat "$pids/$component.pid")" 2>/dev/null || relaunch "$component"
  done
  rm -rf "$saved"
  cluster_processes_alive || die "the cluster did not come back after the restart"
}

crds() {
  local dir
  dir=$(bash "$here/crds.sh")
  kubectl --kubeconfig "$kubeconfig" apply --server-side --force-conflicts -f "$dir" >/dev/null
  kubectl --kubeconfig "$kubeconfig" wait --for=condition=Established crd --all --timeout=60s >/dev/null
  log "CRDs installed from $dir"
}

status() {
  local rc=0
  if cluster_processes_alive && apiserver_ready; then
    echo "control plane: running ($(kubectl --kubeconfig "$kubeconfig" config view -o jsonpath='{.clusters[0].cluster.server}'))"
  else
    echo "control plane: not running"; rc=1
  fi
  if [ -f "$state/nodesim.pid" ] && kill -0 "$(cat "$state/nodesim.pid")" 2>/dev/null; then
    echo "node simulator: running (pid $(cat "$state/nodesim.pid"))"
  else
    echo "node simulator: not running"; rc=1
  fi
  if [ -f "$state/prometheus.pid" ] && kill -0 "$(cat "$state/prometheus.pid")" 2>/dev/null; then
    echo "prometheus: running (http://$prometheus_addr, service monitoring/prometheus:9090)"
  else
    echo "prometheus: not running"; rc=1
  fi
  if ip netns list | grep -qw "$netns"; then echo "pod network: $pod_cidr in netns $netns"; else echo "pod network: absent"; rc=1; fi
  return $rc
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) echo "export KUBECONFIG=$kubeconfig" ;;
  crds) crds ;;
  restart-apiserver) restart_apiserver "${2:-0}" ;;
  admission) shift; bash "$here/admission.sh" "$@" ;;
  *) echo "usage: $0 up|down|status|env|crds|restart-apiserver [SECONDS]|admission up|down|stop-server|env" >&2; exit 2 ;;
esac
