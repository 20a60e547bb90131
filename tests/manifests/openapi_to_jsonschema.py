#!/usr/bin/env python3
"""Writes strict, standalone JSON schemas for kubeconform from a cluster's OpenAPI v2 document.

Usage: openapi_to_jsonschema.py OPENAPI_V2_JSON OUTPUT_DIR

One file per group/version/kind, at OUTPUT_DIR/<group, or version for core>/<kind>_<version>.json, the
layout of kubeconform's schema-location template
'{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json'. The apiserver publishes the
schemas of installed CRDs too, so one document covers core kinds and CRDs alike.

Strict: every object schema that lists properties and says nothing of others forbids them, unless
it preserves unknown fields. References are inlined; a reference back into itself (recursive
types) becomes an open schema.
"""
import json
import os
import sys

# Serialized as strings in OpenAPI, written as numbers in YAML just as often.
NUMBER_OR_STRING = {"oneOf": [{"type": "string"}, {"type": "number"}]}
NUMBER_OR_STRING_TYPES = {
    "io.k8s.apimachinery.pkg.api.resource.Quantity",
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
}


def expand(schema, definitions, stack):
    if isinstance(schema, list):
        return [expand(item, definitions, stack) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if isinstance(schema.get("$ref"), str):
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in NUMBER_OR_STRING_TYPES:
            return dict(NUMBER_OR_STRING)
        if name in stack:
            return {}
        return expand(definitions[name], definitions, stack | {name})
    if schema.get("format") == "int-or-string" or schema.get("x-kubernetes-int-or-string"):
        return dict(NUMBER_OR_STRING)
    result = {key: expand(value, definitions, stack) for key, value in schema.items()}
    if (
        "properties" in result
        and "additionalProperties" not in result
        and not result.get("x-kubernetes-preserve-unknown-fields")
    ):
        result["additionalProperties"] = False
    return result


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        definitions = json.load(f)["definitions"]
    out = sys.argv[2]
    written = 0
    for name, definition in definitions.items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            group, version, kind = gvk.get("group", ""), gvk["version"], gvk["kind"]
            if kind.endswith("List"):
                continue
            folder = os.path.join(out, group or version)
            os.makedirs(folder, exist_ok=True)
            schema = expand(definition, definitions, {name})
            with open(os.path.join(folder, f"{kind.lower()}_{version}.json"), "w") as f:
                json.dump(schema, f)
            written += 1
    print(f"wrote {written} schemas to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
