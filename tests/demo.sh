#!/usr/bin/env bash
# The demo: installs what is needed, starts the local cluster, and runs kubectl bizra against it.
# Run as root on Debian 12. Leaves the cluster running; stop it with tests/cluster/harness.sh down.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

bash tests/setup.sh
cargo build --release -p kubectl-bizra
bash tests/cluster/harness.sh up

bin_dir=$(mktemp -d)
ln -s "$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys;print(json.load(sys.stdin)["target_directory"])')/release/kubectl-bizra" "$bin_dir/kubectl-bizra"
export PATH="$bin_dir:$PATH"
eval "$(bash tests/cluster/harness.sh env)"

echo "+ kubectl bizra version" >&2
kubectl bizra version

cat >&2 <<MSG

The cluster is still running. To use it:
  $(bash tests/cluster/harness.sh env)
  export PATH=$bin_dir:\$PATH
Stop it with: bash tests/cluster/harness.sh down
MSG
