"""Schemathesis hooks for the edgesync API (loaded by scripts/schemathesis.sh).

Sync messages (`application/vnd.edgesync.sync.v1`) are binary: generated bodies are sent as
bytes, exactly like `application/octet-stream`.
"""

import schemathesis

schemathesis.serializer.alias("application/vnd.edgesync.sync.v1", "application/octet-stream")
