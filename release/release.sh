#!/usr/bin/env bash
# Builds the krew release archives and writes their uri and sha256 into a krew manifest.
#
#   bash release/release.sh [--out DIR] [--manifest FILE] [--base-url URL] [OS/ARCH...]
#
# Without platforms it builds what this Debian machine can: linux/amd64 natively, linux/arm64
# and windows/amd64 with Debian's cross toolchains (installed when missing, as root). darwin/*
# need a macOS host: .github/workflows/release.yml builds them there with this same script.
# Each archive holds the plugin binary, LICENSE and the kubectl completion script.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=$repo/dist
manifest=$repo/krew.yaml
version=v$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/Cargo.toml" | head -n1)
base_url=https://github.com/bizra/kubectl-bizra/releases/download/$version
platforms=()
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --manifest) manifest=$2; shift 2 ;;
    --base-url) base_url=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "release: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) platforms+=("$1"); shift ;;
  esac
done
[ ${#platforms[@]} -gt 0 ] || platforms=(linux/amd64 linux/arm64 windows/amd64)

log() { printf '[release] %s\n' "$*" >&2; }

# Fixed timestamps and owners, so the same commit and toolchain give the same archive bytes.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || echo 0)}

ensure_debian_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_rust_target() {
  rustup target list --installed | grep -qx "$1" || rustup target add "$1"
}

build() { # build OS/ARCH -> prints the archive path
  local platform=$1 os=${1%/*} arch=${1#*/} triple exe=kubectl-bizra ext=tar.gz
  case $platform in
    linux/amd64) triple=x86_64-unknown-linux-gnu ;;
    linux/arm64)
      triple=aarch64-unknown-linux-gnu
      ensure_debian_packages gcc-aarch64-linux-gnu libc6-dev-arm64-cross
      export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
      export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc ;;
    windows/amd64)
      triple=x86_64-pc-windows-gnu exe=kubectl-bizra.exe ext=zip
      ensure_debian_packages gcc-mingw-w64-x86-64 zip
      export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
      export CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc ;;
    darwin/amd64) triple=x86_64-apple-darwin ;;
    darwin/arm64) triple=aarch64-apple-darwin ;;
    *) echo "release: unsupported platform $platform (want linux/amd64, linux/arm64, windows/amd64, darwin/amd64 or darwin/arm64)" >&2; exit 2 ;;
  esac
  ensure_rust_target "$triple"
  log "building $platform ($triple)"
  local cargo_home=${CARGO_HOME:-$HOME/.cargo}
  RUSTFLAGS="--remap-path-prefix=$repo=kubectl-bizra --remap-path-prefix=$cargo_home=cargo" \
    cargo build --release --locked -p kubectl-bizra --target "$triple" >&2
  local target_dir=${CARGO_TARGET_DIR:-$repo/target}
  local name="kubectl-bizra_${version}_${os}_${arch}"
  local stage
  stage=$(mktemp -d)
  cp "$target_dir/$triple/release/$exe" "$stage/"
  cp "$repo/LICENSE" "$stage/"
  if [ "$os" = windows ]; then
    cp "$repo/release/kubectl_complete-bizra.cmd" "$stage/"
  else
    cp "$repo/release/kubectl_complete-bizra" "$stage/"
  fi
  find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  mkdir -p "$out"
  local archive="$out/$name.$ext"
  rm -f "$archive"
  if [ "$ext" = zip ]; then
    (cd "$stage" && TZ=UTC zip -q -X -D "$archive" $(ls | LC_ALL=C sort))
  else
    tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
      -cf - $(cd "$stage" && ls) | gzip -n -9 > "$archive"
  fi
  rm -rf "$stage"
  python3 "$repo/release/krew_manifest.py" "$manifest" "$version" "$platform" "$archive" "$base_url"
  log "$archive $(sha256sum "$archive" | cut -d' ' -f1)"
}

for platform in "${platforms[@]}"; do
  build "$platform"
done
log "manifest $manifest updated for: ${platforms[*]}"
