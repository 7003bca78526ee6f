#!/usr/bin/env python3
"""spin.toml declares every setting the Spin component reads as an application variable.

The settings are the names edge/app/src/config.rs looks up (plus RUST_LOG, read by
edge/spin); each must be a variable in `[variables]`, by its lower-case name, passed to the
component as `name = "{{ name }}"`. Secrets are marked and carry no value. Spin's own rules:
names are lower-case ASCII, digits and underscores, starting with a letter; a variable has
`default` or `required`, not both.
"""
import pathlib
import re
import sys
import tomllib

root = pathlib.Path(__file__).resolve().parent.parent
manifest = tomllib.loads((root / "spin.toml").read_text())
source = (root / "edge/app/src/config.rs").read_text()
settings = set(re.findall(r'(?:var|required)\("([A-Z0-9_]+)"\)|&var, "([A-Z0-9_]+)"', source))
# EDGESYNC_LIVE_POLL_MS paces the Workers' Durable Objects; Spin has none.
settings = ({a or b for a, b in settings} | {"RUST_LOG"}) - {"EDGESYNC_LIVE_POLL_MS"}
secrets = {"libsql_auth_token", "jwt_hs256_secret"}

errors = []
declared = manifest.get("variables", {})
passed = manifest["component"]["edgesync"].get("variables", {})
want = {name.lower() for name in settings}
for name in sorted(want - declared.keys()):
    errors.append(f"setting {name.upper()} has no variable `{name}` in [variables]")
for name in sorted(declared.keys() - want):
    errors.append(f"variable `{name}` is no setting the component reads")
for name, spec in declared.items():
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        errors.append(f"`{name}`: Spin variable names are lower case, digits and underscores")
    if ("default" in spec) == bool(spec.get("required")):
        errors.append(f"`{name}`: needs exactly one of `default` and `required = true`")
    if name in secrets and (not spec.get("secret") or spec.get("default", "") != ""):
        errors.append(f"`{name}` is a secret: `secret = true` and no value in the manifest")
for name in sorted(declared.keys()):
    if passed.get(name) != f"{{{{ {name} }}}}":
        errors.append(f'[component.edgesync.variables] must pass `{name} = "{{{{ {name} }}}}"`')
for name in sorted(passed.keys() - declared.keys()):
    errors.append(f"component variable `{name}` is not declared in [variables]")
if "environment" in manifest["component"]["edgesync"]:
    errors.append("settings are variables: no [component.edgesync.environment]")

if errors:
    print("spin.toml:", *errors, sep="\n  ", file=sys.stderr)
    sys.exit(1)
print(f"spin.toml: {len(declared)} variables, one per setting the component reads")
