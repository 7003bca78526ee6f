#!/usr/bin/env bash
# Fails (and stops them) if processes started by a test run are still running:
#   scripts/leftovers.sh MARKER
# scripts/test.sh exports EDGESYNC_TEST_RUN=MARKER, which every process it starts inherits,
# including orphans whose parent already exited (a runtime a wrapper left behind).
set -euo pipefail
exec python3 - "$1" <<'PY'
import os, signal, sys, time

marker = f"EDGESYNC_TEST_RUN={sys.argv[1]}".encode()
me = {os.getpid(), os.getppid()}

def leftovers():
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) in me:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if marker not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                found[int(pid)] = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            pass
    return found

left = leftovers()
if not left:
    print("no process of this test run is left")
    sys.exit(0)
print("processes of this test run still running (stopping them):", file=sys.stderr)
for pid, cmd in sorted(left.items()):
    print(f"  {pid} {cmd[:200]}", file=sys.stderr)
for sig in (signal.SIGTERM, signal.SIGKILL):
    for pid in leftovers():
        try:
            os.kill(pid, sig)
        except OSError:
            pass
    time.sleep(2)
sys.exit(1)
PY
