#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/) from the repository's
fixtures: policy-wasm/test_data, the shipped ClusterAdmissionPolicy settings, manifests/, the YAML
of the lint tests (plugin and offline crate), the playground's examples, the image reference vectors, and a few hand-written cases.
Run it from anywhere after a fixture changes: python3 fuzz/make-corpus.py (needs PyYAML)."""

import hashlib
import json
import pathlib
import re
import shutil

import yaml

FUZZ = pathlib.Path(__file__).resolve().parent
REPO = FUZZ.parent
CORPUS = FUZZ / "corpus"


def compact(value):
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def write(target, name, content):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    if not name:
        name = hashlib.sha1(data).hexdigest()[:16]
    (folder / name).write_bytes(data)


PUBLIC_KEY = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEK5dJ8tlF4eIBlywvJQeKYUx1mQF7\n"
    "3acbTM/+aMBQtuCt2htbSU5vMLMzlceMPxLcFqmm3YG2DrbJwDGN7+dK6g==\n"
    "-----END PUBLIC KEY-----\n"
)
CERTIFICATE = (REPO / "policy-host/tests/support/certs/release.pem").read_text()


def settings_variants():
    policy = yaml.safe_load((REPO / "manifests/policy/bizra-secure-pods.yaml").read_text())
    return {
        "shipped": policy["spec"]["settings"],
        "pod-rules": {"allowedUnsigned": ["*"], "exemptNamespaces": ["kube-system"]},
        "signed-wildcards": {
            "signatures": [
                {"image": "ghcr.io/bizra/*", "pubKeys": [PUBLIC_KEY]},
                {"image": "*/sidecar:*", "keyless": [{"issuer": "https://token.actions.githubusercontent.com", "subject": "bizra"}]},
            ],
            "allowedUnsigned": ["busybox:*", "registry.k8s.io/*"],
            "rules": {"signedImages": True, "nonRoot": True, "limits": True, "securityContext": True},
            "requireRequests": True,
            "pinDigest": True,
        },
        "rules-off": {
            "rules": {"signedImages": False, "nonRoot": False, "limits": True, "securityContext": False},
            "exemptNamespaces": ["testnet"],
        },
    }


def more_settings():
    """Extra validate_settings seeds: each verification method, and broken settings."""
    return {
        "empty": {},
        "keyless-prefix": {"signatures": [{"image": "ghcr.io/*", "keylessPrefix": [{"issuer": "https://accounts.example.com", "urlPrefix": "https://github.com/bizra/"}]}]},
        "certificate": {"signatures": [{"image": "ghcr.io/bizra/node:v?.*", "certificate": {"certificate": CERTIFICATE, "certificateChain": [CERTIFICATE], "requireRekorBundle": True}, "annotations": {"env": "testnet"}}]},
        "github-owner-only": {"signatures": [{"image": "*", "githubActions": {"owner": "bizra"}}], "pinDigest": True},
        "two-methods": {"signatures": [{"image": "x/*", "pubKeys": [PUBLIC_KEY], "githubActions": {"owner": "bizra"}}]},
        "bad-key": {"signatures": [{"image": "x/*", "pubKeys": ["-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----"]}]},
        "pin-unsigned": {"rules": {"signedImages": False}, "pinDigest": True},
        "nothing-allowed": {"rules": {"signedImages": True}},
        "unknown-key": {"allowedUnsigned": ["*"], "surprise": 1},
        "empty-namespace": {"allowedUnsigned": ["*"], "exemptNamespaces": [" "]},
    }


def policy_corpora():
    variants = settings_variants()
    fixtures = sorted((REPO / "policy-wasm/test_data").glob("*.json"))
    for fixture in fixtures:
        request = json.loads(fixture.read_text())
        for name, settings in variants.items():
            write("policy_validate", f"{fixture.stem}.{name}.json", compact({"settings": settings, "request": request}))
    write("policy_validate", "not-json", "{\"settings\": {}, \"request\": ")
    for name, settings in {**variants, **more_settings()}.items():
        write("policy_validate_settings", f"{name}.json", compact(settings))
    write("policy_validate_settings", "not-json", "signatures: [")

    vectors = json.loads((REPO / "tests/vectors/image-references.json").read_text())
    images = {v["image"] for v in vectors}
    images.update(re.findall(r'"image":\s*"([^"]*)"', "".join(f.read_text() for f in fixtures)))
    for image in sorted(images):
        write("image_ref", None, image)


def rust_literals(text):
    """The plain string literals of a Rust file, unescaped."""
    escapes = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}
    for match in re.finditer(r'(?<![A-Za-z0-9_#])"((?:[^"\\]|\\.)*)"', text, re.S):
        yield re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(0)), match.group(1))


def plugin_corpora():
    for path in sorted((REPO / "manifests").rglob("*")):
        if path.is_file():
            write("lint", f"manifests.{path.relative_to(REPO / 'manifests').as_posix().replace('/', '.')}", path.read_bytes())
    lint_tests = "".join(
        (REPO / path).read_text()
        for path in ["kubectl-bizra/tests/lint/main.rs", "kubectl-bizra/src/cmd/lint.rs", "offline/src/lint.rs", "offline/src/documents.rs"]
    )
    for literal in rust_literals(lint_tests):
        if "kind:" in literal:
            write("lint", None, literal)
    for path in sorted((REPO / "playground/examples").glob("*.yaml")):
        write("lint", f"example.{path.name}", path.read_bytes())
    for fixture in sorted((REPO / "policy-wasm/test_data").glob("*.json")):
        obj = json.loads(fixture.read_text()).get("object")
        if obj:
            write("lint", f"object.{fixture.stem}.json", json.dumps(obj, indent=1))
            if fixture.stem == "pod_many_violations":
                write("lint", "list.yaml", yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [obj, obj]}))
    write("lint", "markers.yaml", "# c\n--- \nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c}]}\n...\n---\n- not an object\n--- {kind: PodTemplate, template: {spec: {containers: []}}}\n")

    gates = (REPO / "kubectl-bizra/src/validate/gates/mod.rs").read_text()
    promtext = (REPO / "kubectl-bizra/src/validate/promtext.rs").read_text()
    for literal in list(rust_literals(gates)) + list(rust_literals(promtext)):
        if "# TYPE" in literal or re.match(r"^[a-z_]+(\{.*\})? ", literal):
            write("promtext", None, literal)
    write("promtext", "summary", '# HELP rpc_seconds RPC latency.\n# TYPE rpc_seconds summary\nrpc_seconds{quantile="0.5",path="/a b"} 0.05 1700000000000\nrpc_seconds{quantile="0.99",msg="x\\"}y"} NaN\nrpc_seconds_sum 1.5e3\nrpc_seconds_count +Inf\n')
    write("promtext", "gauge", "# TYPE up gauge\nup{job=\"bizra\"} 1\r\n:colon_metric -Inf\n_under 0x10\n")

    for value in ["2", "250m", "123456789n", "512Mi", "1.5Gi", "1k", "12Xi", "lots", "2000m", "500m", "2Gi", "1e3", " 64Mi ", "-1", "0.5Ki", "3Ei", "7u", "1P"]:
        write("quantity", None, value)
    for value in ["0", "-0", "+5s", "30s", "1m30s", "1h30m", "1.5h", "500ms", ".5s", "1.s", "3us", "3\u00b5s", "7ns",
                  "1h1m1s1ms1us1ns", "2562047h47m16.854775807s", "0.000000000000000000001h", "5m", "5x", "1m5",
                  "-5s", "2562048h", "9223372036854775807ns", "1..5s", "10m"]:
        write("duration", None, value)


if __name__ == "__main__":
    shutil.rmtree(CORPUS, ignore_errors=True)
    policy_corpora()
    plugin_corpora()
    for folder in sorted(CORPUS.iterdir()):
        files = list(folder.iterdir())
        print(f"{folder.name}: {len(files)} files, {sum(f.stat().st_size for f in files)} bytes")
