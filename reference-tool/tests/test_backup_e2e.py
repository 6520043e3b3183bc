"""Backup end to end against the fake S3 and fake btrfs."""

import json
import os
import unittest

from btrfs_to_s3 import naming
from btrfs_to_s3.errors import CredentialsMissing, UsageError
from btrfs_to_s3.lockfile import Lock
from tests.fakes import FakeClientError, NoCredentialsError
from tests.harness import MIB, World, payload

P = "pfx/subvol/data/"


class BackupTestCase(unittest.TestCase):
    overrides = {}

    def setUp(self):
        self.world = World(**self.overrides)

    def tearDown(self):
        self.world.close()

    def state(self):
        with open(self.world.cfg.global_.state_path) as handle:
            return json.load(handle)


class FullBackupTest(BackupTestCase):
    overrides = {"s3__chunk_size_bytes": 6 * MIB}

    def test_full_backup_layout_manifest_pointer(self):
        w = self.world
        w.write("data", payload(13 * MIB, "full"))
        code, logs = w.backup("data")
        self.assertEqual(code, 0, logs.text)
        ts = "20250110T030000Z"
        self.assertEqual(w.snapshots(), [f"data__{ts}__full"])
        snap = os.path.join(w.cfg.snapshots.base_dir, f"data__{ts}__full")
        self.assertTrue(w.btrfs.marker(snap)["readonly"])
        self.assertEqual(w.btrfs.sends[0]["parent"], None)

        manifest_key = f"{P}full/manifest-{ts}.json"
        self.assertEqual(w.keys(), sorted([f"{P}full/chunk-{ts}-0.bin", f"{P}full/chunk-{ts}-1.bin",
                                           f"{P}full/chunk-{ts}-2.bin", manifest_key, f"{P}current.json"]))
        doc = w.s3.json(manifest_key)
        stream = b"".join(w.s3.body(c["key"]) for c in doc["chunks"])
        self.assertEqual(len(stream), w.btrfs.sends[0]["bytes"])
        self.assertEqual(doc["total_bytes"], len(stream))
        self.assertEqual([c["size"] for c in doc["chunks"]], [6 * MIB, 6 * MIB, len(stream) - 12 * MIB])
        self.assertEqual(doc["kind"], "full")
        self.assertIsNone(doc["parent_manifest"])
        self.assertEqual(doc["chunk_size"], 6 * MIB)
        self.assertEqual(doc["s3"], {"storage_class": "STANDARD_IA"})
        self.assertEqual(doc["snapshot"]["name"], f"data__{ts}__full")
        self.assertEqual(doc["snapshot"]["path"], snap)
        self.assertEqual(doc["snapshot"]["uuid"], w.btrfs.marker(snap)["uuid"])
        self.assertEqual(w.s3.json(f"{P}current.json"),
                         {"manifest_key": manifest_key, "kind": "full", "created_at": ts})

        # multipart for the 6 MiB chunks, a single PUT for the small last one
        self.assertEqual(len(w.s3.ops("CompleteMultipartUpload")), 2)
        for key, obj in w.s3.objects.items():
            self.assertEqual(obj["sse"], "AES256", key)
            if "/chunk-" in key:
                self.assertEqual(obj["storage_class"], "STANDARD_IA")
                self.assertIsNone(obj["content_type"])
            else:
                self.assertEqual(obj["storage_class"], "STANDARD")
                self.assertEqual(obj["content_type"], "application/json")
        for create in w.s3.ops("CreateMultipartUpload"):
            self.assertEqual((create["sse"], create["storage_class"]), ("AES256", "STANDARD_IA"))

        state = self.state()
        self.assertEqual(state["subvolumes"]["data"], {
            "last_full_at": "2025-01-10T03:00:00Z", "last_manifest": manifest_key, "last_snapshot": snap})
        self.assertEqual(state["last_run_at"], "2025-01-10T03:00:00Z")

        self.assertEqual(len(logs.events("snapshot_created")), 1)
        self.assertIn(f"subvolume=data path={snap} kind=full", logs.events("snapshot_created")[0])
        self.assertRegex(logs.events("backup_metrics")[0],
                         rf"subvolume=data total_bytes={len(stream)} elapsed_seconds=\d+\.\d{{3}} throughput=\d+\.\d\dMB/s")
        self.assertIn(f"manifest_key={manifest_key} chunk_count=3", logs.events("backup_uploaded")[0])

    def test_pointer_is_written_last(self):
        w = self.world
        w.write("data", payload(13 * MIB, "order"))
        w.backup("data")
        writes = [e for e in w.s3.journal if e["op"] in ("PutObject", "CompleteMultipartUpload")]
        self.assertEqual(writes[-1]["key"], f"{P}current.json")
        self.assertEqual(writes[-2]["key"], f"{P}full/manifest-20250110T030000Z.json")
        self.assertFalse(any(e.get("overwrite") for e in writes))

    def test_spool_path_gives_the_same_objects(self):
        w = World(s3__chunk_size_bytes=6 * MIB, s3__spool_enabled=True)
        try:
            w.write("data", payload(13 * MIB, "full"))
            self.assertEqual(w.backup("data")[0], 0)
            doc = w.s3.json(f"{P}full/manifest-20250110T030000Z.json")
            self.assertEqual([c["size"] for c in doc["chunks"]][:2], [6 * MIB, 6 * MIB])
            self.assertEqual(os.listdir(w.cfg.global_.spool_dir), [])
        finally:
            w.close()


class ChainTest(BackupTestCase):
    def test_incremental_uses_parent(self):
        w = self.world
        self.assertEqual(w.backup("data")[0], 0)
        full_key = f"{P}full/manifest-20250110T030000Z.json"
        full_snap = os.path.join(w.cfg.snapshots.base_dir, "data__20250110T030000Z__full")
        w.clock.advance(hours=1)
        w.write("data", payload(3000, "changed"))
        code, logs = w.backup("data")
        self.assertEqual(code, 0, logs.text)
        self.assertEqual(w.btrfs.sends[-1]["parent"], full_snap)
        inc_key = f"{P}incremental/manifest-20250110T040000Z.json"
        doc = w.s3.json(inc_key)
        self.assertEqual(doc["kind"], "incremental")
        self.assertEqual(doc["parent_manifest"], full_key)
        self.assertEqual(doc["snapshot"]["parent_uuid"], w.btrfs.marker(full_snap)["uuid"])
        self.assertTrue(all("/incremental/chunk-20250110T040000Z-" in c["key"] for c in doc["chunks"]))
        self.assertIn("kind=inc", logs.events("snapshot_created")[0])
        self.assertEqual(self.state()["subvolumes"]["data"]["last_full_at"], "2025-01-10T03:00:00Z")

    def test_not_due_without_once(self):
        w = self.world
        w.backup("data")
        w.clock.advance(hours=1)
        code, logs = w.backup("data", once=False)
        self.assertEqual(code, 0)
        self.assertEqual(len(logs.events("backup_not_due")), 1)
        self.assertEqual(len(w.snapshots()), 1)

    def test_missing_parent_snapshot_falls_back_to_full(self):
        w = self.world
        w.backup("data")
        w.btrfs.delete(os.path.join(w.cfg.snapshots.base_dir, "data__20250110T030000Z__full"))
        w.clock.advance(hours=1)
        code, logs = w.backup("data")
        self.assertEqual(code, 0, logs.text)
        self.assertIn("source=local", logs.events("parent_missing")[0])
        self.assertIn(f"{P}full/manifest-20250110T040000Z.json", w.keys())
        self.assertIsNone(w.btrfs.sends[-1]["parent"])

    def test_missing_parent_manifest_falls_back_to_full(self):
        w = self.world
        w.backup("data")
        del w.s3.objects[f"{P}full/manifest-20250110T030000Z.json"]
        w.clock.advance(hours=1)
        code, logs = w.backup("data")
        self.assertEqual(code, 0, logs.text)
        self.assertIn("source=s3", logs.events("parent_missing")[0])
        self.assertEqual(w.s3.json(f"{P}current.json")["kind"], "full")

    def test_defect_no_fallback_to_full(self):
        w = self.world
        w.backup("data")
        del w.s3.objects[f"{P}full/manifest-20250110T030000Z.json"]
        w.clock.advance(hours=1)
        self.assertEqual(w.backup("data", defect=["no-fallback-to-full"])[0], 0)
        self.assertEqual(w.s3.json(f"{P}current.json")["kind"], "incremental")

    def test_defects_on_the_chain(self):
        w = self.world
        w.backup("data")
        w.clock.advance(hours=1)
        w.backup("data", defect=["incremental-without-parent", "wrong-parent-pointer"])
        inc_key = f"{P}incremental/manifest-20250110T040000Z.json"
        self.assertIsNone(w.btrfs.sends[-1]["parent"])
        self.assertEqual(w.s3.json(inc_key)["parent_manifest"], inc_key)


class SameSecondTest(BackupTestCase):
    def test_runs_in_the_same_second_never_collide(self):
        w = self.world
        for _ in range(4):
            code, logs = w.backup("data")
            self.assertEqual(code, 0, logs.text)
        manifests = w.keys("/manifest-")
        self.assertEqual(len(manifests), 4)
        self.assertEqual(len({naming.parse_manifest_key(k)[2] for k in manifests}), 4)
        self.assertFalse(any(e.get("overwrite") for e in w.s3.journal if not e["key"].endswith("current.json")))
        for key in manifests:
            doc = w.s3.json(key)
            if doc["parent_manifest"]:
                self.assertLess(naming.parse_manifest_key(doc["parent_manifest"])[2], doc["created_at"])

    def test_clock_stepping_back_never_reuses_a_ts(self):
        w = self.world
        w.backup("data")
        w.clock.advance(seconds=-30)
        w.backup("data")
        self.assertEqual(w.s3.json(f"{P}current.json")["created_at"], "20250110T030001Z")

    def test_orphans_of_a_lost_run_are_not_overwritten(self):
        w = self.world
        w.s3.objects[f"{P}full/chunk-20250110T030000Z-0.bin"] = {
            "body": b"x", "etag": '"x"', "storage_class": "STANDARD", "sse": "AES256", "content_type": None}
        self.assertEqual(w.backup("data")[0], 0)
        self.assertEqual(w.s3.json(f"{P}current.json")["created_at"], "20250110T030001Z")

    def test_defect_same_second_overwrite(self):
        w = self.world
        w.btrfs.calls.clear()
        for _ in range(3):
            w.backup("data", defect=["same-second-overwrite"])
        self.assertTrue(any(e.get("overwrite") for e in w.s3.journal if not e["key"].endswith("current.json")))


class RetentionTest(BackupTestCase):
    overrides = {"snapshots__retain": 1}

    def test_keeps_newest_and_the_parent(self):
        w = self.world
        for _ in range(3):
            w.backup("data")
            w.clock.advance(hours=1)
        self.assertEqual(w.snapshots(), ["data__20250110T050000Z__inc"])
        self.assertEqual(self.state()["subvolumes"]["data"]["last_snapshot"],
                         os.path.join(w.cfg.snapshots.base_dir, "data__20250110T050000Z__inc"))

    def test_defect_retention_deletes_parent(self):
        w = self.world
        w.backup("data")
        w.clock.advance(hours=1)
        w.backup("data", defect=["retention-deletes-parent"])
        self.assertEqual(w.snapshots(), ["data__20250110T030000Z__full"])


class FlagsTest(BackupTestCase):
    def test_dry_run_touches_nothing(self):
        w = self.world
        code, logs = w.backup("data", dry_run=True)
        self.assertEqual(code, 0)
        self.assertIn("kind=full", logs.events("backup_planned")[0])
        self.assertEqual(w.snapshots(), [])
        self.assertEqual(w.store_made, 0)
        self.assertFalse(os.path.exists(w.cfg.global_.state_path))
        self.assertEqual(w.backup("data", dry_run=True, defect=["dry-run-side-effects"])[0], 0)
        self.assertEqual(len(w.snapshots()), 1)
        self.assertEqual(w.s3.journal, [])

    def test_no_s3_snapshots_only(self):
        w = self.world
        code, logs = w.backup("data", no_s3=True)
        self.assertEqual(code, 0)
        self.assertEqual(len(w.snapshots()), 1)
        self.assertEqual(w.store_made, 0)
        self.assertEqual(len(logs.events("backup_skipped_upload")), 1)
        self.assertFalse(os.path.exists(w.cfg.global_.state_path))

    def test_subvolume_filter(self):
        w = self.world
        w.backup("home")
        self.assertEqual(w.snapshots(), ["home__20250110T030000Z__full"])
        w.backup()
        self.assertEqual(len(w.snapshots()), 3)
        with self.assertRaisesRegex(UsageError, "'nope' is not in"):
            w.backup("nope")
        w.clock.advance(hours=1)
        w.backup("home", defect=["subvolume-filter-ignored"])
        self.assertIn("data__20250110T040000Z__inc", w.snapshots())


class FailureTest(BackupTestCase):
    overrides = {"s3__chunk_size_bytes": 6 * MIB}

    def test_failed_upload_publishes_nothing_and_rerun_succeeds(self):
        w = self.world
        w.write("data", payload(13 * MIB, "x"))
        w.s3.fail_next("UploadPart", FakeClientError("AccessDenied", 403), key_contains="chunk-20250110T030000Z-1")
        code, logs = w.backup("data")
        self.assertEqual(code, 1)
        self.assertIn("AccessDenied", logs.events("backup_failed")[0])
        self.assertNotIn(f"{P}current.json", w.keys())
        self.assertEqual(w.s3.uploads, {})
        self.assertFalse(os.path.exists(w.cfg.global_.state_path))
        code, logs = w.backup("data")
        self.assertEqual(code, 0, logs.text)
        pointer = w.s3.json(f"{P}current.json")
        self.assertEqual(pointer["created_at"], "20250110T030001Z")
        self.assertEqual(pointer["kind"], "full")

    def test_transient_errors_are_retried(self):
        w = self.world
        w.write("data", payload(13 * MIB, "x"))
        for op in ("UploadPart", "PutObject", "CompleteMultipartUpload", "HeadObject", "ListObjectsV2"):
            w.s3.fail_next(op, FakeClientError("SlowDown", 503))
        w.s3.fail_next("PutObject", ConnectionResetError("reset"))
        code, logs = w.backup("data")
        self.assertEqual(code, 0, logs.text)
        self.assertTrue(logs.events("s3_retry"))

    def test_defect_no_retry(self):
        w = self.world
        w.s3.fail_next("PutObject", FakeClientError("SlowDown", 503))
        w.make_store = self._no_retry_store
        self.assertEqual(w.backup("data", defect=["no-retry"])[0], 1)
        self.assertEqual(w.backup("data", defect=["exit-zero-on-failure"])[0], 0)

    def _no_retry_store(self):
        from btrfs_to_s3 import s3client
        from btrfs_to_s3.store import Store
        return Store(self.world.s3, "bkt", s3client.make_retrier())

    def test_s3_error_past_the_retries_is_a_clean_failure(self):
        w = self.world
        for _ in range(4):
            w.s3.fail_next("PutObject", FakeClientError("InternalError", 500), key_contains="/manifest-")
        code, logs = w.backup("data")
        self.assertEqual(code, 1)
        self.assertIn("error=InternalError: ", logs.events("backup_failed")[0])

    def test_defect_crash_on_s3_error(self):
        w = self.world
        for _ in range(4):
            w.s3.fail_next("PutObject", FakeClientError("InternalError", 500), key_contains="/manifest-")
        with self.assertRaises(FakeClientError):
            w.backup("data", defect=["crash-on-s3-error"])
        self.assertFalse(os.path.exists(w.cfg.global_.lock_path))  # the finally blocks still ran
        self.assertEqual(w.s3.uploads, {})
        # missing credentials are not an S3 error of this kind
        w.make_store_error = NoCredentialsError("Unable to locate credentials")
        self.assertEqual(w.backup("data", defect=["crash-on-s3-error"])[0], 1)

    def test_send_failure_fails_the_backup(self):
        w = self.world
        w.btrfs.fail_send = True
        code, logs = w.backup("data")
        self.assertEqual(code, 1)
        self.assertNotIn(f"{P}current.json", w.keys())

    def test_stale_multipart_uploads_are_aborted(self):
        w = self.world
        w.s3.create_multipart_upload(Bucket="bkt", Key=f"{P}full/chunk-20250101T000000Z-0.bin")
        code, logs = w.backup("data")
        self.assertEqual(code, 0)
        self.assertEqual(w.s3.uploads, {})
        self.assertEqual(len(logs.events("stale_upload_aborted")), 1)

    def test_missing_credentials_is_an_error(self):
        w = self.world
        w.make_store_error = CredentialsMissing("no S3 credentials: set AWS_ACCESS_KEY_ID")
        code, logs = w.backup("data")
        self.assertEqual(code, 1)
        self.assertIn("no S3 credentials", logs.events("backup_failed")[0])
        self.assertEqual(w.snapshots(), [])

    def test_defect_success_without_credentials(self):
        w = self.world
        w.make_store_error = NoCredentialsError("Unable to locate credentials")
        code, logs = w.backup("data", defect=["success-without-credentials"])
        self.assertEqual(code, 0)
        self.assertEqual(w.s3.objects, {})

    def test_lock_held(self):
        w = self.world
        with Lock(w.cfg.global_.lock_path):
            code, logs = w.backup("data")
        self.assertEqual(code, 1)
        self.assertEqual(len(logs.events("backup_lock_failed")), 1)
        self.assertEqual(w.snapshots(), [])

    def test_state_is_written_after_publish(self):
        w = self.world
        w.s3.fail_next("PutObject", FakeClientError("AccessDenied", 403), key_contains="current.json")
        self.assertEqual(w.backup("data")[0], 1)
        self.assertFalse(os.path.exists(w.cfg.global_.state_path))
        w.s3.fail_next("PutObject", FakeClientError("AccessDenied", 403), key_contains="current.json")
        self.assertEqual(w.backup("data", defect=["state-before-upload"])[0], 1)
        self.assertTrue(os.path.exists(w.cfg.global_.state_path))


class PointerConditionTest(BackupTestCase):
    """pointer-stale-if-match: the publish is conditional on a stale ETag and
    the 412 is ignored (exit 0), which only a server honouring If-Match /
    If-None-Match shows; the correct tool's pointer PUT has no condition."""

    POINTER = f"{P}current.json"

    def publish(self, defect=(), seed=""):
        w = self.world
        w.clock.advance(hours=1)
        w.write("data", payload(3000, f"change-{seed}"))
        code, logs = w.backup("data", defect=defect)
        self.assertEqual(code, 0, logs.text)
        return logs

    def pointer_writes(self):
        return [e for e in self.world.s3.journal if e["op"] == "PutObject" and e["key"] == self.POINTER]

    def uploaded(self, logs):
        line = logs.events("backup_uploaded")[0]
        return line.split("manifest_key=")[1].split()[0]

    def test_correct_tool_publishes_unconditionally(self):
        for n in range(3):
            logs = self.publish(seed=n)
            self.assertEqual(self.world.s3.json(self.POINTER)["manifest_key"], self.uploaded(logs))
        for write in self.pointer_writes():
            self.assertNotIn("if_match", write)
            self.assertNotIn("if_none_match", write)
            self.assertNotIn("refused", write)
        self.assertNotIn("pointer_etag", self.state()["subvolumes"]["data"])

    def test_defect_pointer_stale_if_match(self):
        s3 = self.world.s3
        defect = ["pointer-stale-if-match"]
        # The first publish: no pointer yet, If-None-Match: * holds.
        first = self.publish(defect, "a")
        full = self.uploaded(first)
        self.assertEqual(s3.json(self.POINTER)["manifest_key"], full)
        self.assertEqual(self.pointer_writes()[-1]["if_none_match"], "*")
        etag_full = s3.objects[self.POINTER]["etag"]
        # The second: the state remembers the pointer as it was before the
        # first run's own write (none), so If-None-Match: * is refused (412);
        # the tool says another writer published and exits 0 anyway.
        second = self.publish(defect, "b")
        self.assertIn("/incremental/", self.uploaded(second))
        self.assertEqual(self.pointer_writes()[-1],
                         {"op": "PutObject", "key": self.POINTER, "refused": "PreconditionFailed",
                          "if_none_match": "*"})
        self.assertEqual(len(second.events("pointer_not_updated")), 1)
        self.assertIn("WARNING", second.events("pointer_not_updated")[0])
        self.assertEqual(second.events("pointer_updated"), [])
        self.assertEqual(s3.json(self.POINTER)["manifest_key"], full)
        self.assertEqual(self.state()["subvolumes"]["data"]["last_manifest"], self.uploaded(second))
        self.assertEqual(self.state()["subvolumes"]["data"]["pointer_etag"], etag_full)
        # The third matches the unchanged pointer; the fourth sends If-Match
        # on the ETag the third run's own write replaced: refused again.
        third = self.publish(defect, "c")
        self.assertEqual(s3.json(self.POINTER)["manifest_key"], self.uploaded(third))
        fourth = self.publish(defect, "d")
        self.assertEqual(self.pointer_writes()[-1],
                         {"op": "PutObject", "key": self.POINTER, "refused": "PreconditionFailed",
                          "if_match": etag_full})
        self.assertEqual(s3.json(self.POINTER)["manifest_key"], self.uploaded(third))
        self.assertEqual(len(fourth.events("backup_uploaded")), 1)

    def test_defect_other_s3_errors_still_fail(self):
        w = self.world
        w.s3.fail_next("PutObject", FakeClientError("AccessDenied", 403), key_contains="current.json")
        code, logs = w.backup("data", defect=["pointer-stale-if-match"])
        self.assertEqual(code, 1, logs.text)
        self.assertEqual(len(logs.events("backup_failed")), 1)


class ObjectDefectsTest(BackupTestCase):
    overrides = {"s3__chunk_size_bytes": 6 * MIB}

    def run_with(self, *names):
        w = self.world
        w.write("data", payload(13 * MIB, "d"))
        code, logs = w.backup("data", defect=names)
        self.assertEqual(code, 0, logs.text)
        return w, w.s3.json(f"{P}full/manifest-20250110T030000Z.json")

    def test_pointer_before_last_chunk(self):
        w, _ = self.run_with("pointer-before-last-chunk")
        writes = [e["key"] for e in w.s3.journal if e["op"] in ("PutObject", "CompleteMultipartUpload")]
        self.assertLess(writes.index(f"{P}current.json"), writes.index(f"{P}full/chunk-20250110T030000Z-2.bin"))

    def test_sse_class_and_type_defects(self):
        w, _ = self.run_with("manifest-without-sse", "multipart-without-sse", "wrong-storage-class",
                             "manifest-wrong-content-type")
        manifest = w.s3.objects[f"{P}full/manifest-20250110T030000Z.json"]
        self.assertIsNone(manifest["sse"])
        self.assertIsNone(manifest["content_type"])
        self.assertTrue(all(c["sse"] is None for c in w.s3.ops("CreateMultipartUpload")))
        self.assertEqual(w.s3.objects[f"{P}full/chunk-20250110T030000Z-0.bin"]["storage_class"], "STANDARD")

    def test_wrong_sha256(self):
        w, doc = self.run_with("wrong-sha256")
        import hashlib
        hashes = [hashlib.sha256(w.s3.body(c["key"])).hexdigest() == c["sha256"] for c in doc["chunks"]]
        self.assertEqual(hashes, [True, False, False])

    def test_log_event_renamed(self):
        w = self.world
        code, logs = w.backup("data", defect=["log-event-renamed"])
        self.assertEqual(logs.events("backup_uploaded"), [])
        self.assertEqual(len(logs.events("upload_done")), 1)


if __name__ == "__main__":
    unittest.main()
