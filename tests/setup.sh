#!/usr/bin/env bash
# Installs what the tests and the demo need on a fresh Debian 12 machine (as root), once:
# Debian packages, the wasm32-wasip1, wasm32-unknown-unknown and x86_64-pc-windows-gnu Rust
# targets, the report formats' schemas, and the Go-built cluster binaries.
# `--no-tools` skips the Go builds (tests/run.sh builds them in the background beside Rust).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

log() { printf '[setup] %s\n' "$*" >&2; }

# docker-registry is the OCI registry the signature tests push to and verify from; libssl-dev and
# pkg-config build the OpenSSL TLS backend of the sigstore client those tests use; chromium and
# chromium-driver run the playground's browser test (no browser download); python3-venv holds
# the validators of the CI report formats' schemas; wine64 runs the windows/amd64 archive that
# gcc-mingw-w64-x86-64 links and zip packs (unzip unpacks it in the test).
debian_packages=(etcd-server iproute2 prometheus curl ca-certificates openssl docker-registry libssl-dev pkg-config chromium chromium-driver
  python3-venv wine64 gcc-mingw-w64-x86-64 zip unzip)
missing=()
for pkg in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for target in wasm32-wasip1 wasm32-unknown-unknown x86_64-pc-windows-gnu; do
  if ! rustup target list --installed | grep -qx "$target"; then
    log "adding the $target Rust target"
    rustup target add "$target"
  fi
done

# The published JUnit and SARIF schemas and their validators, from PyPI.
bash "$here/schemas/fetch.sh"

[ "${1:-}" = --no-tools ] || "$here/cluster/build-tools.sh"
