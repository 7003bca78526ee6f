"""The mobile API through UniFFI's generated Python bindings, against the real server binary.

Run by scripts/test-mobile.sh, which builds libedgesync_uniffi, generates the bindings into
EDGESYNC_PY_BINDINGS (with the library next to them) and builds EDGESYNC_BIN (the `edgesync`
server). Plain python3 + unittest; the same calls are what Kotlin and Swift apps make.
"""

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, os.environ.get("EDGESYNC_PY_BINDINGS", str(ROOT / "target/uniffi/python")))
SERVER_BIN = os.environ.get("EDGESYNC_BIN", str(ROOT / "target/debug/edgesync"))

import edgesync  # noqa: E402  (generated)
from edgesync import Client, ClientConfig, EdgesyncError, Edit  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The `edgesync` binary on a loopback port with its own data dir; stop/start keep both."""

    def __init__(self, data_dir):
        self.data_dir = data_dir
        os.makedirs(data_dir, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.log = open(os.path.join(data_dir, "server.log"), "ab")

    def start(self):
        cmd = [SERVER_BIN, "--dev", "--data-dir", self.data_dir, "--rate-limit", "0",
               "serve", "--addr", f"127.0.0.1:{self.port}", "--compaction-interval", "0"]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(f"{self.url}/v1/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not become healthy")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def token(self, user):
        out = subprocess.run([SERVER_BIN, "--dev", "--data-dir", self.data_dir, "token", "--user", user],
                             check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def add_member(self, owner, doc_id, user, role):
        req = urllib.request.Request(
            f"{self.url}/v1/docs/{doc_id}/members/{user}", method="PUT",
            data=json.dumps({"role": role}).encode(),
            headers={"Authorization": f"Bearer {self.token(owner)}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200, r.status


class Tokens(edgesync.TokenProvider):
    """Mints a token once and again on refresh, recording every call's `refresh` flag."""

    def __init__(self, server, user):
        self.server, self.user, self.cached, self.calls = server, user, None, []

    def token(self, refresh):
        self.calls.append(refresh)
        if self.cached is None or refresh:
            self.cached = self.server.token(self.user)
        return self.cached


class FixedToken(edgesync.TokenProvider):
    def __init__(self, value):
        self.value, self.calls = value, []

    def token(self, refresh):
        self.calls.append(refresh)
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


class Recorder(edgesync.EventListener):
    """Keeps every event (delivered on a background thread)."""

    def __init__(self):
        self.events = []

    def on_event(self, event):
        self.events.append(event)

    async def wait_for(self, what, predicate, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(predicate(e) for e in list(self.events)):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {what} within {timeout}s; events: {[str(e) for e in self.events]}")


async def eventually(what, condition, timeout=15):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.02)


def content(doc):
    return json.loads(doc.to_json())


class OfflineSync(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="edgesync-mobile-")
        self.server = Server(os.path.join(self.dir.name, "server"))
        self.server.start()
        self.clients = []

    async def asyncTearDown(self):
        for c in self.clients:
            await c.shutdown()
        self.server.stop()
        self.server.log.close()
        self.dir.cleanup()

    async def open(self, name, tokens, background=False):
        config = ClientConfig(server_url=self.server.url, store_path=os.path.join(self.dir.name, f"{name}.db"),
                              token_provider=tokens, background_sync=background)
        client = await Client.open(config)
        self.clients.append(client)
        return client

    async def test_offline_edits_on_two_clients_converge(self):
        alice = await self.open("alice", Tokens(self.server, "alice"))
        events = Recorder()
        alice.subscribe(events)
        doc_a = await alice.create_document("Plans")
        await doc_a.apply([Edit.PUT("/title", '"Trip"'), Edit.PUT_TEXT("/notes", "Pack"), Edit.PUT("/todos", '[{"what": "bags"}]')])
        report = await alice.sync_now()
        self.assertEqual((report.synced, report.errors, report.pending), (1, [], 0))
        self.server.add_member("alice", doc_a.id(), "bob", "editor")

        bob = await self.open("bob", Tokens(self.server, "bob"))
        doc_b = await bob.open_document(doc_a.id())
        await bob.sync_now()
        self.assertEqual(content(doc_b), {"title": "Trip", "notes": "Pack", "todos": [{"what": "bags"}]})

        # Offline: both edit the same document, alice also creates a new one.
        self.server.stop()
        await doc_a.splice_text("/notes", 4, 0, " bags")
        await doc_a.insert("/todos/-", '{"what": "passport"}')
        fresh = await alice.create_document("Made offline")
        await fresh.put("/n", "1")
        await doc_b.splice_text("/notes", 0, 0, "Bob: ")
        await doc_b.insert("/todos/0", '{"what": "tickets"}')
        await doc_b.put("/title", '"Road trip"')
        with self.assertRaises(EdgesyncError.Offline):
            await alice.sync_now()
        with self.assertRaises(EdgesyncError.Offline):
            await bob.sync_now()
        self.assertTrue(alice.status().is_offline())
        self.assertEqual((doc_a.pending_changes(), alice.pending_changes(), bob.pending_changes()), (2, 3, 3))
        await events.wait_for("Offline status", lambda e: e.is_status_changed() and e.status.is_offline())

        # Edits are durable: bob's client restarts while still offline and has them all.
        with self.assertRaises(EdgesyncError.StoreInUse):
            await Client.open(ClientConfig(server_url=self.server.url, store_path=os.path.join(self.dir.name, "bob.db"),
                                           token_provider=Tokens(self.server, "bob"), background_sync=False))
        before = content(doc_b)
        await bob.shutdown()
        with self.assertRaises(EdgesyncError.Closed):
            doc_b.to_json()
        bob = await self.open("bob", Tokens(self.server, "bob"))
        doc_b = bob.document(doc_a.id())
        self.assertEqual((content(doc_b), bob.pending_changes()), (before, 3))

        self.server.start()
        for client in (alice, bob, alice):
            report = await client.sync_now()
            self.assertEqual(report.errors, [])
        expected = {"title": "Road trip", "notes": "Bob: Pack bags",
                    "todos": [{"what": "tickets"}, {"what": "bags"}, {"what": "passport"}]}
        self.assertEqual(content(doc_a), expected)
        self.assertEqual(content(doc_b), expected)
        self.assertEqual(doc_a.heads(), doc_b.heads())
        self.assertEqual((alice.pending_changes(), bob.pending_changes()), (0, 0))
        self.assertTrue(alice.status().is_synced())
        self.assertTrue(all(d.registered for d in alice.documents()))
        await events.wait_for("a remote change", lambda e: e.is_document_changed() and e.doc_id == doc_a.id()
                              and e.origin == edgesync.ChangeOrigin.REMOTE)
        # Remote changes carry their patches: what bob's edits did to alice's copy.
        remote = [e for e in events.events if e.is_document_changed() and e.origin == edgesync.ChangeOrigin.REMOTE]
        patches = [p for e in remote for p in json.loads(e.patches_json)]
        self.assertTrue(any(p["action"] in ("splice", "insert", "put") for p in patches), patches)
        local = [e for e in events.events if e.is_document_changed() and e.origin == edgesync.ChangeOrigin.LOCAL]
        self.assertTrue(local and all(json.loads(e.patches_json) == [] for e in local))

    async def test_viewer_edits_are_refused_with_forbidden_and_kept(self):
        alice = await self.open("alice", Tokens(self.server, "alice"))
        doc_a = await alice.create_document("Read-only for bob")
        await doc_a.put("/owner", '"alice"')
        await alice.sync_now()
        self.server.add_member("alice", doc_a.id(), "bob", "viewer")

        bob = await self.open("bob", Tokens(self.server, "bob"))
        events = Recorder()
        doc_b = await bob.open_document(doc_a.id())
        doc_b.subscribe(events)
        self.assertEqual((await bob.sync_now()).errors, [])
        await doc_b.put("/bob", "true")
        report = await bob.sync_now()
        self.assertEqual([(f.doc_id, f.error) for f in report.errors], [(doc_a.id(), edgesync.DocumentSyncError.FORBIDDEN())])
        self.assertTrue(doc_b.sync_error().is_forbidden())
        self.assertEqual(doc_b.pending_changes(), 1)
        await events.wait_for("SyncFailed(Forbidden)", lambda e: e.is_sync_failed() and e.error.is_forbidden())

        # Remote changes still arrive; once bob may write, his kept edit is delivered.
        await doc_a.put("/more", "2")
        await alice.sync_now()
        await bob.sync_now()
        self.assertEqual(content(doc_b), {"owner": "alice", "more": 2, "bob": True})
        self.server.add_member("alice", doc_a.id(), "bob", "editor")
        report = await bob.sync_now()
        self.assertEqual((report.errors, report.pending, doc_b.sync_error()), ([], 0, None))
        await alice.sync_now()
        self.assertEqual(content(doc_a), content(doc_b))

    async def test_shared_documents_lists_what_the_server_shares_with_the_user(self):
        alice = await self.open("alice", Tokens(self.server, "alice"))
        shared = await alice.create_document("Shared with bob")
        mine = await alice.create_document("Alice only")
        await alice.sync_now()
        self.server.add_member("alice", shared.id(), "bob", "viewer")

        bob = await self.open("bob", Tokens(self.server, "bob"))
        self.assertEqual(bob.documents(), [], "nothing opened on bob's device yet")
        listed = await bob.shared_documents()
        self.assertEqual([(d.id, d.title, d.owner, d.role) for d in listed], [(shared.id(), "Shared with bob", "alice", "viewer")])
        self.assertEqual(sorted((d.id, d.role) for d in await alice.shared_documents()),
                         sorted([(shared.id(), "owner"), (mine.id(), "owner")]))
        self.server.stop()
        with self.assertRaises(EdgesyncError.Offline):
            await bob.shared_documents()

    async def test_bad_token_is_unauthorized_after_one_refresh(self):
        tokens = FixedToken("not-a-jwt")
        client = await self.open("bad", tokens)
        doc = await client.create_document("Never synced")
        await doc.put("/kept", "1")
        with self.assertRaises(EdgesyncError.Unauthorized):
            await client.sync_now()
        self.assertEqual(tokens.calls, [False, True])
        self.assertTrue(client.status().is_error())
        self.assertEqual((doc.pending_changes(), content(doc)), (1, {"kept": 1}))

        failing = await self.open("failing", FixedToken(OSError("identity provider down")))
        await failing.create_document("x")
        with self.assertRaises(EdgesyncError.TokenProvider) as raised:
            await failing.sync_now()
        self.assertIn("identity provider down", raised.exception.message)

    async def test_background_sync_pushes_local_edits(self):
        alice = await self.open("alice", Tokens(self.server, "alice"), background=True)
        events = Recorder()
        alice.subscribe(events)
        doc = await alice.create_document("Background")
        await doc.put("/pushed", '"by the loop"')
        # No sync_now: the loop registers the document and pushes the edit on its own.
        await eventually("the edit pushed", lambda: doc.info().registered and doc.pending_changes() == 0)
        await events.wait_for("Synced status", lambda e: e.is_status_changed() and e.status.is_synced())
        bob = await self.open("bob", Tokens(self.server, "alice"))  # alice on a second device
        other = await bob.open_document(doc.id())
        await bob.sync_now()
        self.assertEqual(content(other), {"pushed": "by the loop"})

    async def test_presence_reaches_a_collaborator_with_the_senders_identity(self):
        alice = await self.open("alice", Tokens(self.server, "alice"), background=True)
        doc = await alice.create_document("Cursors")
        await alice.sync_now()
        self.server.add_member("alice", doc.id(), "bob", "viewer")
        bob = await self.open("bob", Tokens(self.server, "bob"), background=True)
        await bob.open_document(doc.id())
        await bob.sync_now()
        heard = []

        class Heard(edgesync.PresenceListener):
            def on_presence(self, message):
                heard.append(message)

        alice.subscribe_presence(Heard())
        await eventually("both on the live channel",
                         lambda: alice.live_mode() == edgesync.LiveMode.CHANNEL and bob.live_mode() == edgesync.LiveMode.CHANNEL)
        # A viewer may send presence; the sender is who the token says, whatever the data claims.
        deadline = time.monotonic() + 15
        while not heard and time.monotonic() < deadline:
            self.assertTrue(bob.set_presence(doc.id(), '{"cursor": 4, "from": "mallory"}'))
            await asyncio.sleep(0.2)
        self.assertTrue(heard, "presence arrives")
        self.assertEqual((heard[0].doc_id, heard[0].sender), (doc.id(), "bob"))
        self.assertEqual(json.loads(heard[0].data_json), {"cursor": 4, "from": "mallory"})
        with self.assertRaises(EdgesyncError.InvalidInput):
            bob.set_presence(doc.id(), "not json")

    async def test_invalid_input_and_atomic_edits(self):
        client = await self.open("local", Tokens(self.server, "carol"))
        doc = await client.create_document("Local")
        await doc.put("/list", "[1, 2]")
        with self.assertRaises(EdgesyncError.InvalidInput):
            await doc.apply([Edit.INSERT("/list/-", "3"), Edit.PUT("/missing/x", "1")])
        self.assertEqual(content(doc), {"list": [1, 2]}, "a failed apply changes nothing")
        for bad in (doc.put("no-slash", "1"), doc.put("/x", "{oops"), doc.splice_text("/list", 0, 0, "x")):
            with self.assertRaises(EdgesyncError.InvalidInput):
                await bad
        with self.assertRaises(EdgesyncError.InvalidInput):
            await client.open_document("not-an-id")
        self.assertIsNone(client.document("0" * 32))
        self.assertEqual(doc.get("/list/1"), "2")
        self.assertIsNone(doc.get("/nothing"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
