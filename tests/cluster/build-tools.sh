#!/usr/bin/env bash
# Builds (once) the Go binaries the local cluster needs and caches them outside the clone,
# keyed by version: kube-apiserver, kube-controller-manager, kube-scheduler from k8s.io/kubernetes,
# kwok and kwokctl from sigs.k8s.io/kwok, metrics-server, and kubeconform for the manifest tests.
# Prints nothing but progress on stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
cache=${BIZRA_CACHE:-/var/cache/kubectl-bizra}

log() { printf '[build-tools] %s\n' "$*" >&2; }

build_kubernetes() {
  local out="$cache/kubernetes-v$KUBERNETES_VERSION/bin"
  if [ -x "$out/kube-apiserver" ] && [ -x "$out/kube-controller-manager" ] && [ -x "$out/kube-scheduler" ]; then
    return
  fi
  log "building kube-apiserver, kube-controller-manager, kube-scheduler v$KUBERNETES_VERSION (cold: 15-30 min on 2 cores)"
  local minor ldflags p
  minor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)
  ldflags="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags="$ldflags -X $p.gitVersion=v$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ldflags="$ldflags -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  mkdir -p "$out.tmp"
  (cd "$here/k8sbin" && CGO_ENABLED=0 go build -trimpath -tags=selinux,notest -ldflags="$ldflags" -o "$out.tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler)
  rm -rf "$out" && mv "$out.tmp" "$out"
}

build_kwok() {
  local out="$cache/kwok-v$KWOK_VERSION/bin"
  if [ -x "$out/kwok" ] && [ -x "$out/kwokctl" ]; then
    return
  fi
  log "building kwok and kwokctl v$KWOK_VERSION"
  mkdir -p "$out.tmp"
  GOBIN="$out.tmp" CGO_ENABLED=0 go install -trimpath \
    "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@v$KWOK_VERSION"
  rm -rf "$out" && mv "$out.tmp" "$out"
}

# Go-built test tools: kubeconform validates the manifests against the cluster's schemas.
build_test_tools() {
  local out="$cache/kubeconform-v$KUBECONFORM_VERSION/bin"
  if [ -x "$out/kubeconform" ]; then
    return
  fi
  log "building kubeconform v$KUBECONFORM_VERSION"
  mkdir -p "$out.tmp"
  GOBIN="$out.tmp" CGO_ENABLED=0 go install -trimpath "github.com/yannh/kubeconform/cmd/kubeconform@v$KUBECONFORM_VERSION"
  rm -rf "$out" && mv "$out.tmp" "$out"
}

build_metrics_server() {
  local out="$cache/metrics-server-v$METRICS_SERVER_VERSION/bin"
  if [ -x "$out/metrics-server" ]; then
    return
  fi
  log "building metrics-server v$METRICS_SERVER_VERSION"
  mkdir -p "$out.tmp"
  GOBIN="$out.tmp" CGO_ENABLED=0 go install -trimpath "sigs.k8s.io/metrics-server/cmd/metrics-server@v$METRICS_SERVER_VERSION"
  rm -rf "$out" && mv "$out.tmp" "$out"
}

mkdir -p "$cache"
build_test_tools
build_metrics_server
build_kwok
build_kubernetes
log "tools ready in $cache"
