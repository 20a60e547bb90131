#!/usr/bin/env python3
"""Sets one platform's archive in a krew manifest: its uri and sha256, and the plugin version.

    krew_manifest.py MANIFEST VERSION OS/ARCH ARCHIVE BASE_URL

Edits the YAML text in place (comments and layout stay; the checksum is quoted, or YAML would
read an all-digit one as a number) and refuses a manifest whose
platform block it cannot find, so a typo never leaves a stale checksum behind.
"""
import hashlib
import pathlib
import re
import sys


def sha256_of(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as archive:
        for chunk in iter(lambda: archive.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def set_platform(text: str, version: str, os_name: str, arch: str, uri: str, sha256: str) -> str:
    text, versions = re.subn(r"(?m)^(  version: ).*$", rf"\g<1>{version}", text, count=1)
    if versions != 1:
        raise SystemExit("krew manifest: no `spec.version` line found")
    blocks = re.split(r"(?m)^(?=    - selector:)", text)
    matched = 0
    for i, block in enumerate(blocks):
        if re.search(rf"(?m)^\s+os: {re.escape(os_name)}$", block) and re.search(
            rf"(?m)^\s+arch: {re.escape(arch)}$", block
        ):
            block, n_uri = re.subn(r"(?m)^(      uri: ).*$", rf"\g<1>{uri}", block)
            block, n_sha = re.subn(r"(?m)^(      sha256: ).*$", rf'\g<1>"{sha256}"', block)
            if (n_uri, n_sha) != (1, 1):
                raise SystemExit(f"krew manifest: platform {os_name}/{arch} lacks uri or sha256")
            blocks[i] = block
            matched += 1
    if matched != 1:
        raise SystemExit(f"krew manifest: {matched} platform blocks for {os_name}/{arch}, want 1")
    return "".join(blocks)


def main(argv: list[str]) -> None:
    if len(argv) != 6:
        raise SystemExit(__doc__)
    manifest, version, platform, archive, base_url = argv[1:]
    os_name, _, arch = platform.partition("/")
    path = pathlib.Path(manifest)
    archive_path = pathlib.Path(archive)
    uri = f"{base_url.rstrip('/')}/{archive_path.name}"
    text = set_platform(path.read_text(), version, os_name, arch, uri, sha256_of(archive_path))
    path.write_text(text)


if __name__ == "__main__":
    main(sys.argv)
