#!/usr/bin/env bash
# Builds (once) the Go binaries the local cluster needs and caches them outside the clone,
# keyed by version: kube-apiserver, kube-controller-manager, kube-scheduler from k8s.io/kubernetes,
# kwok and kwokctl from sigs.k8s.io/kwok, metrics-server, kubeconform for the manifest tests, and
# krew with validate-krew-manifest for the install test.
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
  log "building kube-apiserver, kube-controller-manager, kube-scheduler v$KUBERNETES_VERSION (cold: 5 to 9 min on 2 cores, measured)"
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

# go_install_cached NAME VERSION PACKAGE...: installs the packages (at VERSION) into
# $cache/NAME-vVERSION/bin unless every one of their binaries is already there.
go_install_cached() {
  local name=$1 version=$2; shift 2
  local out="$cache/$name-v$version/bin" pkg missing=""
  for pkg in "$@"; do
    [ -x "$out/${pkg##*/}" ] || missing=yes
  done
  [ -n "$missing" ] || return 0
  log "building ${*##*/} v$version"
  mkdir -p "$out.tmp"
  GOBIN="$out.tmp" CGO_ENABLED=0 go install -trimpath "${@/%/@v$version}"
  rm -rf "$out" && mv "$out.tmp" "$out"
}

mkdir -p "$cache"
# kubeconform validates the manifests against the cluster's schemas; metrics-server serves
# metrics.k8s.io; kwok and kwokctl run the cluster.
go_install_cached kubeconform "$KUBECONFORM_VERSION" github.com/yannh/kubeconform/cmd/kubeconform
go_install_cached metrics-server "$METRICS_SERVER_VERSION" sigs.k8s.io/metrics-server/cmd/metrics-server
go_install_cached kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl
# krew installs the plugin offline in the krew test; validate-krew-manifest is krew-index's check.
go_install_cached krew "$KREW_VERSION" sigs.k8s.io/krew/cmd/krew sigs.k8s.io/krew/cmd/validate-krew-manifest
build_kubernetes
log "tools ready in $cache"
