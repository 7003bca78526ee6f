"""Reads `cargo test --no-run --message-format=json` from stdin and prints one line per test
binary: package, test name, package directory, executable (tab-separated). The name is the
integration test's name, `lib` for a library's unit tests, `bin:NAME` for a binary's.
Used by `build_tests` in scripts/env.sh."""

import json
import os
import sys
import tomllib

names = {}


def package_name(manifest):
    if manifest not in names:
        with open(manifest, "rb") as f:
            names[manifest] = tomllib.load(f)["package"]["name"]
    return names[manifest]


for line in sys.stdin:
    if not line.startswith("{"):
        continue
    msg = json.loads(line)
    if msg.get("reason") != "compiler-artifact" or not msg.get("executable") or not msg["profile"]["test"]:
        continue
    target = msg["target"]
    kind = target["kind"][0]
    name = target["name"] if kind == "test" else ("lib" if kind in ("lib", "rlib", "cdylib", "staticlib") else f"{kind}:{target['name']}")
    manifest = msg["manifest_path"]
    print("\t".join([package_name(manifest), name, os.path.dirname(manifest), msg["executable"]]))
