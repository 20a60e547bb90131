#!/usr/bin/env bash
# Builds the playground into a static folder that works from any base path:
#   bash playground/build.sh [OUT]      (default: $CARGO_TARGET_DIR or target, /playground)
# The crate is built for wasm32-unknown-unknown with the `playground` profile, then wasm-bindgen
# (the CLI of exactly the version in Cargo.lock, installed once into $BIZRA_CACHE) writes the
# page's glue, and binaryen's wasm-opt (from the npm registry, once into $BIZRA_CACHE: Debian's is
# too old for what Rust emits) shrinks the module; the page's own files are copied beside it.
# Prints the module's size, raw and gzip, and fails when it is over 1 MiB.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
cache=${BIZRA_CACHE:-/var/cache/kubectl-bizra}
target=${CARGO_TARGET_DIR:-$repo/target}
out=${1:-$target/playground}
log() { printf '[playground] %s\n' "$*" >&2; }

rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
version=$(awk '/^name = "wasm-bindgen"$/ {getline; sub(/version = /, ""); gsub(/"/, ""); print; exit}' Cargo.lock)
bindgen="$cache/wasm-bindgen-$version/bin/wasm-bindgen"
if [ ! -x "$bindgen" ]; then
  # Not --locked: the lockfile packaged with the CLI pins a webpki-roots the registry here lacks.
  log "installing wasm-bindgen-cli $version (once)"
  cargo install --quiet wasm-bindgen-cli --version "$version" --root "$cache/wasm-bindgen-$version"
fi
binaryen_version=132.0.0
wasm_opt="$cache/binaryen-$binaryen_version/node_modules/.bin/wasm-opt"
if [ ! -x "$wasm_opt" ]; then
  log "installing binaryen $binaryen_version from npm (once)"
  mkdir -p "$cache/binaryen-$binaryen_version"
  npm install --silent --no-audit --no-fund --prefix "$cache/binaryen-$binaryen_version" "binaryen@$binaryen_version"
fi
cargo build --quiet -p bizra-playground --target wasm32-unknown-unknown --profile playground
rm -rf "$out" && mkdir -p "$out"
"$bindgen" --target web --no-typescript --out-dir "$out" "$target/wasm32-unknown-unknown/playground/bizra_playground.wasm"
cp playground/web/index.html playground/web/app.js playground/web/style.css "$out/"
module="$out/bizra_playground_bg.wasm"
# The features Rust's wasm32 output uses (rustc 1.82+ turns them on by default).
"$wasm_opt" -Oz --strip-debug --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types -o "$module" "$module"
build=$(sha256sum "$module" "$out/bizra_playground.js" playground/web/* | sha256sum | cut -c1-16)
sed "s/__VERSION__/bizra-playground-$build/" playground/web/sw.js > "$out/sw.js"
size=$(stat -c %s "$module")
log "$size bytes of WebAssembly ($(gzip -9c "$module" | wc -c) gzip), in $out"
# The budget every visitor downloads (issue 17): over it, the build fails.
budget=1048576
[ "$size" -le "$budget" ] || { log "the module is over its budget of $budget bytes"; exit 1; }
