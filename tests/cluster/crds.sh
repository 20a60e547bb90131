#!/usr/bin/env bash
# Collects the upstream CRDs our optional manifests need, from the Go modules that publish them,
# into a cache folder keyed by their versions, and prints that folder:
#   ServiceMonitor, PrometheusRule  <- github.com/prometheus-operator/prometheus-operator
#   VirtualService, DestinationRule <- istio.io/api (all Istio CRDs, one file)
#   ClusterAdmissionPolicy          <- github.com/kubewarden/kubewarden-controller
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
cache=${BIZRA_CACHE:-/var/cache/kubectl-bizra}
out="$cache/crds-po$PROMETHEUS_OPERATOR_VERSION-istio$ISTIO_API_VERSION-kw$KUBEWARDEN_CONTROLLER_VERSION"

module_dir() {
  # The kubewarden-controller module is not in the checksum database; the proxy still serves it.
  GONOSUMDB=github.com/kubewarden GOFLAGS=-mod=mod go mod download -json "$1" \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["Dir"]) if "Dir" in d else sys.exit(d.get("Error","no Dir"))'
}

if [ ! -f "$out/.complete" ]; then
  mkdir -p "$out"
  po=$(module_dir "github.com/prometheus-operator/prometheus-operator@v$PROMETHEUS_OPERATOR_VERSION")
  cp "$po/example/prometheus-operator-crd-full/monitoring.coreos.com_servicemonitors.yaml" "$out/"
  cp "$po/example/prometheus-operator-crd-full/monitoring.coreos.com_prometheusrules.yaml" "$out/"
  istio=$(module_dir "istio.io/api@v$ISTIO_API_VERSION")
  cp "$istio/kubernetes/customresourcedefinitions.gen.yaml" "$out/istio.io_customresourcedefinitions.yaml"
  kw=$(module_dir "github.com/kubewarden/kubewarden-controller@v$KUBEWARDEN_CONTROLLER_VERSION")
  cp "$kw/config/crd/bases/policies.kubewarden.io_clusteradmissionpolicies.yaml" "$out/"
  chmod 644 "$out"/*.yaml
  touch "$out/.complete"
fi
echo "$out"
