"""Checks reports against the formats' published schemas (fetched by tests/schemas/fetch.sh).

    python validate.py sarif FILE...   SARIF 2.1.0 JSON schema (Draft 4), formats checked too
    python validate.py junit FILE...   Jenkins' junit-10.xsd (XSD 1.0)

Prints each file's verdict, every schema error with where it is, and exits 1 when any file is
invalid (2 on a usage error).
"""

import json
import pathlib
import sys

import jsonschema
import xmlschema

HERE = pathlib.Path(__file__).resolve().parent


def sarif(files):
    schema = json.loads((HERE / "sarif-schema-2.1.0.json").read_text())
    jsonschema.Draft4Validator.check_schema(schema)
    # Every format jsonschema knows, not only Draft 4's: the schema writes artifact locations as
    # `uri-reference`. A format without its checker would pass anything, so refuse to run.
    checker = jsonschema.FormatChecker()
    missing = {"uri", "uri-reference", "date-time"} - set(checker.checkers)
    if missing:
        sys.exit(f"no checker for the formats {sorted(missing)}: run tests/schemas/fetch.sh")
    validator = jsonschema.Draft4Validator(schema, format_checker=checker)
    bad = 0
    for file in files:
        errors = list(validator.iter_errors(json.loads(pathlib.Path(file).read_text())))
        for error in errors:
            where = "/".join(str(p) for p in error.absolute_path)
            print(f"{file}: /{where}: {error.message}")
        print(f"{file}: {'invalid' if errors else 'valid'}")
        bad += bool(errors)
    return bad


def junit(files):
    schema = xmlschema.XMLSchema10(str(HERE / "junit-10.xsd"))
    bad = 0
    for file in files:
        errors = list(schema.iter_errors(file))
        for error in errors:
            print(f"{file}: {error.path}: {error.reason}")
        print(f"{file}: {'invalid' if errors else 'valid'}")
        bad += bool(errors)
    return bad


def main(argv):
    if len(argv) < 3 or argv[1] not in ("sarif", "junit"):
        print(__doc__, file=sys.stderr)
        return 2
    check = sarif if argv[1] == "sarif" else junit
    return 1 if check(argv[2:]) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
