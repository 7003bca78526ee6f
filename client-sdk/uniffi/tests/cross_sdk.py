"""One step of the cross-SDK test (client-sdk/web/tests/node/cross-sdk.test.mjs): the mobile
API, through UniFFI's generated Python bindings (EDGESYNC_PY_BINDINGS), opens a document the
web SDK made, prints what it reads as JSON and, with --edit, then edits it as a phone app would:
splices text into a string the web SDK wrote, and writes a string of its own.

    cross_sdk.py URL TOKEN DOC_ID STORE_PATH [--edit]
"""

import asyncio
import json
import os
import sys

sys.path.insert(0, os.environ["EDGESYNC_PY_BINDINGS"])

import edgesync  # noqa: E402  (generated)
from edgesync import Client, ClientConfig  # noqa: E402


class FixedToken(edgesync.TokenProvider):
    def __init__(self, value):
        self.value = value

    def token(self, refresh):
        return self.value


async def main(url, token, doc_id, store, edit):
    client = await Client.open(ClientConfig(server_url=url, store_path=store,
                                            token_provider=FixedToken(token), background_sync=False))
    try:
        doc = await client.open_document(doc_id)
        report = await client.sync_now()
        assert report.errors == [], report.errors
        seen = json.loads(doc.to_json())
        if edit:
            await doc.splice_text("/title", len(seen["title"]), 0, " from mobile")
            await doc.put("/note", json.dumps("written on mobile"))
            report = await client.sync_now()
            assert (report.errors, report.pending) == ([], 0), report
        print(json.dumps(seen))
    finally:
        await client.shutdown()


if __name__ == "__main__":
    url, token, doc_id, store = sys.argv[1:5]
    asyncio.run(main(url, token, doc_id, store, "--edit" in sys.argv[5:]))
