#!/usr/bin/env bash
# The local cluster's admission edge: the repository's ClusterAdmissionPolicy manifests enforced by
# the real kube-apiserver through webhooks, as Kubewarden would enforce them.
#
# Kubewarden's policy-server and controller cannot run here (no container images). In their
# place: policy-host's admission server (`policy-host serve`) on https://127.0.0.1:9443, which
# runs the compiled module as policy-server does, and webhook configurations derived from
# manifests/policy/ by kubewarden-controller's mapping (`policy-host webhooks`), pointed at that
# server. Signatures are verified with sigstore against a local registry (Debian's
# docker-registry on 127.0.0.1:5055) whose images are signed with a key made here; the settings
# gain one signature rule for that registry.
#
#   admission.sh up          certificates, registry, key, server and webhooks; safe to repeat (the
#                            server restarts when its policies.yml changed)
#   admission.sh down        webhooks removed, server and registry stopped, state removed
#   admission.sh stop-server stop the server only (the webhooks stay: requests fail closed)
#   admission.sh env         the variables the tests use
#
# BIZRA_ADMISSION_MODE=monitor sets every policy's mode; BIZRA_ADMISSION_SETTINGS_PATCH=FILE
# merges a JSON object (policy name → merge patch) into the settings. POLICY_HOST and POLICY_WASM
# name prebuilt binaries (tests/run.sh passes its own); otherwise they are built.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${BIZRA_CLUSTER_DIR:-/var/tmp/bizra-cluster}
kubeconfig="$state/kubeconfig"
dir="$state/admission"
server_addr=127.0.0.1:9443
registry_addr=127.0.0.1:5055
export COSIGN_PASSWORD=bizra-test-bed

log() { printf '[admission] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

kubectl_() { kubectl --kubeconfig "$kubeconfig" "$@"; }

target_dir() {
  cargo metadata --format-version 1 --no-deps --manifest-path "$repo/Cargo.toml" |
    python3 -c 'import json,sys;print(json.load(sys.stdin)["target_directory"])'
}

binaries() {
  if [ -z "${POLICY_HOST:-}" ]; then
    log "building policy-host"
    (cd "$repo" && CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
      cargo build --release -p policy-host --bin policy-host >&2)
    POLICY_HOST="$(target_dir)/release/policy-host"
  fi
  if [ -z "${POLICY_WASM:-}" ]; then
    (cd "$repo" && cargo build -p policy-wasm --target wasm32-wasip1 --profile policy >&2)
    POLICY_WASM="$(target_dir)/wasm32-wasip1/policy/policy_wasm.wasm"
  fi
  [ -x "$POLICY_HOST" ] || die "no policy-host at $POLICY_HOST"
  [ -f "$POLICY_WASM" ] || die "no policy module at $POLICY_WASM"
}

# A CA and a serving certificate for 127.0.0.1, ECDSA P-256 like kubewarden-controller's.
certificates() {
  [ -f "$dir/tls.crt" ] && return
  log "making the CA and the server certificate"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=bizra test bed admission CA" -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=policy-server-default.kubewarden.svc" -keyout "$dir/tls.key" -out "$dir/tls.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$dir/tls.ext"
  openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 365 -extfile "$dir/tls.ext" -out "$dir/tls.crt" 2>/dev/null
}

# A pid file names a live process of ours (PROGRAM on its command line): pid files outlive
# reboots, and a reused pid must not be taken for, or killed as, ours.
running() { # PIDFILE PROGRAM
  local pid
  [ -f "$1" ] && pid=$(cat "$1") && [ -r "/proc/$pid/cmdline" ] &&
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2"
}

stop() { # PIDFILE PROGRAM
  if running "$1" "$2"; then
    kill "$(cat "$1")" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do running "$1" "$2" || break; sleep 0.1; done
  fi
  rm -f "$1"
}

registry_up() {
  running "$dir/registry.pid" docker-registry && return
  log "starting the registry on $registry_addr"
  mkdir -p "$dir/registry"
  printf 'version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n' \
    "$dir/registry" "$registry_addr" >"$dir/registry.yml"
  setsid docker-registry serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 </dev/null &
  echo $! >"$dir/registry.pid"
  local i
  for i in $(seq 1 100); do
    curl -fsS "http://$registry_addr/v2/" >/dev/null 2>&1 && return
    running "$dir/registry.pid" docker-registry || break
    sleep 0.1
  done
  tail -20 "$dir/registry.log" >&2
  die "the registry did not start"
}

policies_yml() {
  [ -f "$dir/cosign.pub" ] || "$POLICY_HOST" keygen --dir "$dir"
  python3 -c 'import json,sys; print(json.dumps([{"image": sys.argv[1] + "/*", "pubKeys": [open(sys.argv[2]).read()]}]))' \
    "$registry_addr" "$dir/cosign.pub" >"$dir/local-signatures.json"
  "$POLICY_HOST" policies --policies-dir "$repo/manifests/policy" --module "$POLICY_WASM" \
    --signatures "$dir/local-signatures.json" \
    ${BIZRA_ADMISSION_SETTINGS_PATCH:+--settings-patch "$BIZRA_ADMISSION_SETTINGS_PATCH"} \
    ${BIZRA_ADMISSION_MODE:+--mode "$BIZRA_ADMISSION_MODE"} >"$dir/policies.yml.new"
}

server_stop() { stop "$dir/server.pid" "policy-host serve"; }

# What the running server was started from: its policies.yml, binary, module and certificate.
server_stamp() {
  cat "$dir/policies.yml.new" "$POLICY_HOST" "$POLICY_WASM" "$dir/tls.crt" | sha256sum
}

server_up() {
  local stamp
  stamp=$(server_stamp)
  if running "$dir/server.pid" "policy-host serve" && [ "$stamp" = "$(cat "$dir/server.stamp" 2>/dev/null)" ]; then
    rm -f "$dir/policies.yml.new"
    return
  fi
  server_stop
  mv "$dir/policies.yml.new" "$dir/policies.yml"
  echo "$stamp" >"$dir/server.stamp"
  log "starting the admission server on https://$server_addr"
  setsid "$POLICY_HOST" serve --policies "$dir/policies.yml" --cert-file "$dir/tls.crt" \
    --key-file "$dir/tls.key" --addr "$server_addr" >>"$dir/server.log" 2>&1 </dev/null &
  echo $! >"$dir/server.pid"
  local i
  for i in $(seq 1 200); do
    curl -fsS --cacert "$dir/ca.crt" "https://$server_addr/readiness" >/dev/null 2>&1 && return
    running "$dir/server.pid" "policy-host serve" || break
    sleep 0.1
  done
  tail -20 "$dir/server.log" >&2
  rm -f "$dir/server.pid"
  die "the admission server did not start (log: $dir/server.log)"
}

webhooks_up() {
  "$POLICY_HOST" webhooks --policies-dir "$repo/manifests/policy" --url "https://$server_addr" \
    --ca-bundle "$dir/ca.crt" >"$dir/webhooks.json"
  kubectl_ apply -f "$dir/webhooks.json" >/dev/null
}

# The apiserver loads webhook configurations through informers: wait until each policy refuses
# its probe, a root pod for the validating one and an unsigned image of the local registry for the
# pinning one.
wait_enforced() {
  local probe='{"apiVersion":"v1","kind":"Pod","metadata":{"name":"admission-probe","namespace":"default"},"spec":{"containers":[{"name":"c","image":"IMAGE"}]}}'
  local pair image webhook i out
  for pair in "busybox:1.36 kw.cap.bizra-secure-pods" "$registry_addr/bizra/admission-probe:unsigned kw.cap.bizra-pin-digests"; do
    image=${pair% *} webhook=${pair#* }
    for i in $(seq 1 120); do
      out=$(echo "${probe/IMAGE/$image}" | kubectl_ create --dry-run=server -f - 2>&1 || true)
      case "$out" in
        *"\"$webhook.kubewarden.admission\" denied the request"*) continue 2 ;;
      esac
      sleep 0.5
    done
    die "the apiserver does not call $webhook; last answer: $out"
  done
}

up() {
  [ -f "$kubeconfig" ] || die "the cluster is not running (tests/cluster/harness.sh up)"
  mkdir -p "$dir"
  binaries
  certificates
  registry_up
  policies_yml
  server_up
  webhooks_up
  if [ "${BIZRA_ADMISSION_MODE:-protect}" = protect ]; then wait_enforced; fi
  log "enforcing manifests/policy through https://$server_addr (log: $dir/server.log)"
}

down() {
  if [ -f "$kubeconfig" ]; then
    kubectl_ delete validatingwebhookconfigurations,mutatingwebhookconfigurations \
      -l app.kubernetes.io/part-of=kubewarden --ignore-not-found >/dev/null 2>&1 || true
  fi
  server_stop
  stop "$dir/registry.pid" docker-registry
  rm -rf "${dir:?}"
}

case "${1:-}" in
  up) up ;;
  down) down; log "admission edge removed" ;;
  stop-server) server_stop; log "admission server stopped" ;;
  env)
    echo "export BIZRA_ADMISSION_DIR=$dir BIZRA_ADMISSION_SERVER=https://$server_addr BIZRA_REGISTRY=$registry_addr COSIGN_PASSWORD=$COSIGN_PASSWORD"
    ;;
  *) echo "usage: $0 up|down|stop-server|env" >&2; exit 2 ;;
esac
