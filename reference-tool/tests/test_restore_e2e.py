"""Restore end to end: back up with the tool, then restore through the fake btrfs receive."""

import json
import os
import shutil
import unittest
from unittest import mock

from btrfs_to_s3 import errors, treecheck
from tests.fakes import FakeBtrfs, FakeClientError
from tests.harness import MIB, World, payload
from tests.test_treecheck import scan_with_stub

P = "pfx/subvol/data/"


class RestoreTestCase(unittest.TestCase):
    overrides = {"s3__chunk_size_bytes": 6 * MIB}

    def setUp(self):
        self.world = World(**self.overrides)
        w = self.world
        self.versions = [payload(13 * MIB, "v1"), payload(7 * MIB, "v2"), payload(2 * MIB, "v3")]
        for data in self.versions:
            w.write("data", data)
            code, logs = w.backup("data")
            self.assertEqual(code, 0, logs.text)
            w.clock.advance(hours=1)
        self.manifests = [f"{P}full/manifest-20250110T030000Z.json",
                          f"{P}incremental/manifest-20250110T040000Z.json",
                          f"{P}incremental/manifest-20250110T050000Z.json"]
        self.target = os.path.join(w.cfg.restore.target_base_dir, "restored")

    def tearDown(self):
        self.world.close()

    def assert_clean(self):
        base = self.world.cfg.restore.target_base_dir
        self.assertEqual([n for n in os.listdir(base) if "staging" in n], [])

    def assert_failed_cleanly(self, code):
        self.assertEqual(code, 1)
        self.assertFalse(os.path.exists(self.target))
        self.assert_clean()


class RestoreTest(RestoreTestCase):
    def test_latest_chain_restores_into_a_writable_subvolume(self):
        w = self.world
        code, logs = w.restore()
        self.assertEqual(code, 0, logs.text)
        self.assertEqual(FakeBtrfs.content(self.target), self.versions[-1])
        self.assertFalse(w.btrfs.marker(self.target)["readonly"])
        self.assertEqual([m["name"] for m in w.btrfs.received],
                         ["data__20250110T030000Z__full", "data__20250110T040000Z__inc",
                          "data__20250110T050000Z__inc"])
        self.assert_clean()
        self.assertIn("status=ok", logs.events("restore_complete")[0])
        total = sum(w.s3.json(k)["total_bytes"] for k in self.manifests)
        self.assertRegex(logs.events("restore_metrics")[0],
                         rf"subvolume=data total_bytes={total} elapsed_seconds=\d+\.\d{{3}} throughput=")
        verified = logs.events("restore_verify_complete")
        self.assertEqual(len(verified), 1)
        self.assertIn("status=ok mode=full subvolume=data", verified[0])
        self.assertIn("files_compared=1", verified[0])

    def test_older_manifest_by_key(self):
        w = self.world
        code, logs = w.restore(manifest_key=self.manifests[1], verify="sample")
        self.assertEqual(code, 0, logs.text)
        self.assertEqual(FakeBtrfs.content(self.target), self.versions[1])
        self.assertEqual(len(w.btrfs.received), 2)

    def test_relative_and_absolute_targets(self):
        w = self.world
        other = os.path.join(w.cfg.restore.target_base_dir, "abs")
        self.assertEqual(w.restore(target=other, verify="none")[0], 0)
        self.assertTrue(os.path.isdir(other))

    def test_existing_target_is_refused(self):
        w = self.world
        os.mkdir(self.target)
        code, logs = w.restore()
        self.assertEqual(code, 1)
        self.assertIn("already exists", logs.events("restore_failed")[0])

    def test_no_backup(self):
        code, logs = self.world.restore(subvolume="home")
        self.assertEqual(code, 1)
        self.assertIn("no backup of home", logs.events("restore_failed")[0])

    def test_transient_get_errors_are_retried(self):
        w = self.world
        w.s3.fail_next("GetObject", FakeClientError("SlowDown", 503), key_contains="chunk-")
        w.s3.fail_next("GetObject", ConnectionResetError("reset"), key_contains="chunk-")
        self.assertEqual(w.restore()[0], 0)


class VerifyTest(RestoreTestCase):
    """restore --verify compares with the manifest's source snapshot when it is here."""

    def last_snapshot(self):
        return self.world.snapshot_path("data__20250110T050000Z__inc")

    def verify_event(self, logs):
        events = logs.events("restore_verify_complete")
        self.assertEqual(len(events), 1, logs.text)
        return events[0]

    def test_full_and_sample_compare(self):
        for mode, target in (("full", "a"), ("sample", "b")):
            code, logs = self.world.restore(target=target, verify=mode)
            self.assertEqual(code, 0, logs.text)
            self.assertIn(f"status=ok mode={mode} subvolume=data source={self.last_snapshot()} "
                          f"entries=2 files_compared=1 bytes_compared={len(self.versions[-1])}",
                          self.verify_event(logs))

    def test_verify_none_is_skipped(self):
        code, logs = self.world.restore(verify="none")
        self.assertEqual(code, 0)
        self.assertIn("event=restore_verify_complete status=skipped reason=verify_none mode=none",
                      self.verify_event(logs))

    def test_source_renamed_away_is_skipped_not_ok(self):
        os.rename(self.last_snapshot(), self.last_snapshot() + ".away")
        code, logs = self.world.restore(verify="full")
        self.assertEqual(code, 0, logs.text)
        event = self.verify_event(logs)
        self.assertIn("status=skipped reason=source_snapshot_missing mode=full", event)
        self.assertIn("files_read=1", event)  # it still re-read the restored tree
        self.assertIn(" WARNING ", event)

    def test_replaced_source_is_skipped(self):
        shutil.rmtree(self.last_snapshot())
        FakeBtrfs.make_subvolume(self.last_snapshot(), b"another tree")
        code, logs = self.world.restore()
        self.assertEqual(code, 0, logs.text)
        self.assertIn("status=skipped reason=source_snapshot_replaced", self.verify_event(logs))

    def test_mismatch_fails_and_removes_the_target(self):
        os.utime(os.path.join(self.last_snapshot(), "content.bin"), ns=(1, 1))
        code, logs = self.world.restore()
        self.assert_failed_cleanly(code)
        self.assertEqual(logs.events("restore_verify_complete"), [])
        self.assertIn("error=verify mismatch: content.bin: mtime differs (source 1, restore ",
                      logs.events("restore_failed")[0])

    def test_older_backup_compares_with_its_own_snapshot(self):
        code, logs = self.world.restore(manifest_key=self.manifests[0])
        self.assertEqual(code, 0, logs.text)
        self.assertIn(f"source={self.world.snapshot_path('data__20250110T030000Z__full')} ",
                      self.verify_event(logs))

    def test_defect_verify_ok_without_compare(self):
        shutil.rmtree(self.last_snapshot())
        code, logs = self.world.restore(defect=["verify-ok-without-compare"])
        self.assertEqual(code, 0)
        self.assertIn("status=ok mode=full", self.verify_event(logs))
        # with the source there, the defect changes nothing
        code, logs = self.world.restore(target="again", manifest_key=self.manifests[0],
                                        defect=["verify-ok-without-compare"])
        self.assertIn("status=ok", self.verify_event(logs))
        self.assertIn("files_compared=1", self.verify_event(logs))


class NestedSubvolumeTest(RestoreTestCase):
    """The snapshot holds a nested subvolume's empty stub; the stream does not."""

    def setUp(self):
        super().setUp()
        snapshot = self.world.snapshot_path("data__20250110T050000Z__inc")
        st = os.lstat(snapshot)
        os.mkdir(os.path.join(snapshot, "nested"))
        os.utime(snapshot, ns=(st.st_atime_ns, st.st_mtime_ns))
        patch = mock.patch.object(treecheck, "scan", scan_with_stub("nested", snapshot))
        patch.start()
        self.addCleanup(patch.stop)

    def test_correct_tool_treats_the_stub_as_not_sent(self):
        for mode in ("full", "sample"):
            code, logs = self.world.restore(target=mode, verify=mode)
            self.assertEqual(code, 0, logs.text)
            self.assertIn("status=ok", logs.events("restore_verify_complete")[0])

    def test_defect_verify_fails_nested_subvolume(self):
        for mode in ("full", "sample"):
            code, logs = self.world.restore(verify=mode, defect=["verify-fails-nested-subvolume"])
            self.assert_failed_cleanly(code)
            self.assertIn("error=verify mismatch: nested: directory missing from the restore",
                          logs.events("restore_failed")[0])


class IntegrityTest(RestoreTestCase):
    def corrupt(self, manifest_index, chunk_index, change):
        w = self.world
        key = w.s3.json(self.manifests[manifest_index])["chunks"][chunk_index]["key"]
        w.s3.objects[key]["body"] = change(w.s3.objects[key]["body"])
        return key

    def test_flipped_byte_fails_before_receive(self):
        w = self.world
        key = self.corrupt(2, 0, lambda b: b[:100] + bytes([b[100] ^ 1]) + b[101:])
        code, logs = w.restore()
        self.assert_failed_cleanly(code)
        self.assertIn(f"key={key}", logs.events("chunk_integrity_failed")[0])
        self.assertIn("integrity check failed", logs.events("restore_failed")[0])
        # the corrupt manifest's stream never reached receive
        self.assertEqual(len(w.btrfs.received), 2)

    def test_truncated_and_swapped_chunks(self):
        w = self.world
        self.corrupt(0, 2, lambda b: b[:-1])
        self.assert_failed_cleanly(w.restore()[0])
        w2 = self.world
        first = w2.s3.json(self.manifests[0])["chunks"]
        a, b = first[0]["key"], first[1]["key"]
        w2.s3.objects[a], w2.s3.objects[b] = w2.s3.objects[b], w2.s3.objects[a]
        self.assert_failed_cleanly(w2.restore()[0])

    def test_defect_restore_skips_hash(self):
        w = self.world
        self.corrupt(2, 0, lambda b: b[:100] + bytes([b[100] ^ 1]) + b[101:])
        code, logs = w.restore(defect=["restore-skips-hash"])
        self.assertEqual(logs.events("chunk_integrity_failed"), [])
        self.assertEqual(code, 1)  # only the (fake) receive noticed

    def test_manifest_loop(self):
        w = self.world
        doc = w.s3.json(self.manifests[2])
        doc["parent_manifest"] = self.manifests[2]
        w.s3.put_object(Bucket="bkt", Key=self.manifests[2], Body=__import__("json").dumps(doc).encode())
        code, logs = w.restore()
        self.assertEqual(code, 1)
        self.assertIn("loops", logs.events("restore_failed")[0])

    def test_missing_parent_manifest(self):
        w = self.world
        del w.s3.objects[self.manifests[1]]
        code, logs = w.restore()
        self.assertEqual(code, 1)
        self.assertIn("does not exist", logs.events("restore_failed")[0])


class RestoreDefectsTest(RestoreTestCase):
    def corrupt_last(self):
        w = self.world
        key = w.s3.json(self.manifests[2])["chunks"][0]["key"]
        w.s3.objects[key]["body"] = b"X" + w.s3.objects[key]["body"][1:]

    def test_leaves_partial(self):
        w = self.world
        self.corrupt_last()
        code, logs = w.restore(defect=["restore-leaves-partial"])
        self.assertEqual(code, 1)
        # what receive got so far is still at the target, writable or not
        self.assertEqual(sorted(os.listdir(self.target)),
                         ["data__20250110T030000Z__full", "data__20250110T040000Z__inc"])
        code, logs = w.restore()
        self.assertEqual(code, 1)
        self.assertIn("already exists", logs.events("restore_failed")[0])

    def test_correct_tool_leaves_nothing_after_a_failure(self):
        self.corrupt_last()
        self.assert_failed_cleanly(self.world.restore()[0])
        self.assertEqual(os.listdir(self.world.cfg.restore.target_base_dir), [])

    def test_leaves_partial_still_hands_over_on_success(self):
        w = self.world
        code, logs = w.restore(defect=["restore-leaves-partial"])
        self.assertEqual(code, 0, logs.text)
        self.assertEqual(FakeBtrfs.content(self.target), self.versions[-1])
        self.assertFalse(w.btrfs.marker(self.target)["readonly"])
        self.assertEqual(os.listdir(w.cfg.restore.target_base_dir), ["restored"])

    def test_only_last_manifest(self):
        code, logs = self.world.restore(defect=["restore-only-last-manifest"])
        self.assert_failed_cleanly(code)

    def test_target_readonly(self):
        w = self.world
        self.assertEqual(w.restore(defect=["restore-target-readonly"])[0], 0)
        self.assertTrue(w.btrfs.marker(self.target)["readonly"])

    def test_drops_metadata_copies(self):
        w = self.world
        self.assertEqual(w.restore(defect=["restore-drops-metadata"])[0], 0)
        self.assertIn("copy_tree", [c[0] for c in w.btrfs.calls])
        self.assertEqual(FakeBtrfs.content(self.target), self.versions[-1])


class InstantClassTest(RestoreTestCase):
    overrides = {"s3__chunk_size_bytes": 6 * MIB, "s3__storage_class_chunks": "GLACIER_IR"}

    def test_glacier_ir_is_read_directly(self):
        w = self.world
        code, logs = w.restore()
        self.assertEqual(code, 0, logs.text)
        self.assertEqual(w.s3.ops("RestoreObject"), [])
        self.assertEqual(FakeBtrfs.content(self.target), self.versions[-1])

    def test_archived_label_on_glacier_ir_objects_is_checked_by_head(self):
        w = self.world
        for key in self.manifests:
            doc = w.s3.json(key)
            doc["s3"]["storage_class"] = "STANDARD_IA"
            w.s3.objects[key]["body"] = json.dumps(doc).encode()
        self.assertEqual(w.restore()[0], 0)
        self.assertEqual(w.s3.ops("RestoreObject"), [])

    def test_defect_restore_object_on_instant_class(self):
        w = self.world
        with self.assertRaises(FakeClientError) as caught:
            w.restore(defect=["restore-object-on-instant-class"])
        self.assertTrue(errors.escapes(caught.exception))
        self.assertIn("InvalidObjectState", str(caught.exception))
        self.assertFalse(os.path.exists(self.target))
        self.assert_clean()


class ArchiveTest(RestoreTestCase):
    overrides = {"s3__chunk_size_bytes": 6 * MIB, "s3__storage_class_chunks": "GLACIER"}

    def test_waits_for_archive_restores(self):
        w = self.world
        code, logs = w.restore()
        self.assertEqual(code, 0, logs.text)
        chunk_count = sum(len(w.s3.json(k)["chunks"]) for k in self.manifests)
        restores = w.s3.ops("RestoreObject")
        self.assertEqual(len(restores), chunk_count)
        self.assertTrue(all(r["tier"] == "Standard" for r in restores))
        self.assertEqual(FakeBtrfs.content(self.target), self.versions[-1])
        self.assertTrue(logs.events("archive_restore_waiting"))
        first_get = next(i for i, e in enumerate(w.s3.journal) if e["op"] == "GetObject" and "chunk-" in e["key"])
        last_restore = max(i for i, e in enumerate(w.s3.journal) if e["op"] == "RestoreObject")
        self.assertLess(last_restore, first_get)

    def test_timeout(self):
        w = self.world
        w.s3.restore_polls = 10 ** 6
        clock = iter(range(0, 10 ** 6, 7))
        from btrfs_to_s3 import restore as restoremod
        original = restoremod.Restore.__init__

        def patched(self, *args, **kwargs):
            kwargs["monotonic"] = lambda: next(clock)
            original(self, *args, **kwargs)

        restoremod.Restore.__init__ = patched
        try:
            code, logs = w.restore(timeout_seconds=30)
        finally:
            restoremod.Restore.__init__ = original
        self.assert_failed_cleanly(code)
        self.assertIn("timed out after 30", logs.events("restore_failed")[0])

    def test_no_wait(self):
        w = self.world
        code, logs = w.restore(wait=False)
        self.assert_failed_cleanly(code)
        self.assertIn("--no-wait-restore", logs.events("restore_failed")[0])
        self.assertTrue(w.s3.ops("RestoreObject"))

    def test_restore_while_an_earlier_restore_is_in_progress_waits(self):
        w = self.world
        w.s3.restore_polls = 20
        self.assertEqual(w.restore(wait=False)[0], 1)
        requested = len(w.s3.ops("RestoreObject"))
        code, logs = w.restore()
        self.assertEqual(code, 0, logs.text)
        self.assertEqual(len(w.s3.ops("RestoreObject")), requested)  # nothing asked twice

    def test_defect_crash_on_restore_in_progress(self):
        w = self.world
        w.s3.restore_polls = 20
        self.assertEqual(w.restore(wait=False)[0], 1)
        with self.assertRaises(FakeClientError) as caught:
            w.restore(defect=["crash-on-restore-in-progress"])
        self.assertTrue(errors.escapes(caught.exception))
        self.assertIn("RestoreAlreadyInProgress", str(caught.exception))
        self.assertFalse(os.path.exists(self.target))

    def test_defect_skips_archive_restore(self):
        w = self.world
        code, logs = w.restore(defect=["restore-skips-archive-restore"])
        self.assert_failed_cleanly(code)
        self.assertEqual(w.s3.ops("RestoreObject"), [])
        self.assertIn("InvalidObjectState", logs.events("restore_failed")[0])

    def test_archived_despite_manifest_label(self):
        w = self.world
        for key in self.manifests:
            doc = w.s3.json(key)
            doc["s3"]["storage_class"] = "STANDARD"
            w.s3.objects[key]["body"] = __import__("json").dumps(doc).encode()
        code, logs = w.restore()
        self.assertEqual(code, 0, logs.text)


if __name__ == "__main__":
    unittest.main()
