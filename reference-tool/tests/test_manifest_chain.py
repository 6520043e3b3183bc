import copy
import hashlib
import unittest

from btrfs_to_s3 import chain, defects, manifest
from btrfs_to_s3.uploader import ChunkResult


def results(*sizes):
    return [ChunkResult(f"p/subvol/data/full/chunk-T-{i}.bin", size, hashlib.sha256(str(i).encode()).hexdigest(),
                        None if i % 2 else f'"etag{i}"') for i, size in enumerate(sizes)]


def build(kind="full", chunks=None, parent=None, ts="20250101T000000Z", subvolume="data"):
    return manifest.build(
        subvolume=subvolume, kind=kind, created_at=ts, snapshot_name=f"{subvolume}__{ts}__{kind[:4]}",
        snapshot_path=f"/snap/{subvolume}__{ts}", uuid="u-1", parent_uuid=None,
        parent_manifest=parent, chunks=chunks or results(10, 20, 5), chunk_size=20, storage_class="STANDARD_IA")


class BuildTest(unittest.TestCase):
    def test_shape(self):
        doc = build()
        self.assertEqual(set(doc), {"version", "subvolume", "kind", "created_at", "snapshot", "parent_manifest",
                                    "chunks", "total_bytes", "chunk_size", "s3"})
        self.assertEqual(doc["version"], 1)
        self.assertEqual(doc["total_bytes"], 35)
        self.assertEqual([c["size"] for c in doc["chunks"]], [10, 20, 5])
        self.assertEqual(set(doc["chunks"][0]), {"key", "size", "sha256", "etag"})
        self.assertIsNone(doc["parent_manifest"])
        self.assertEqual(doc["s3"], {"storage_class": "STANDARD_IA"})
        self.assertEqual(set(doc["snapshot"]), {"name", "path", "uuid", "parent_uuid"})

    def test_full_never_has_a_parent(self):
        self.assertIsNone(build(parent="x")["parent_manifest"])
        self.assertEqual(build(kind="incremental", parent="x")["parent_manifest"], "x")

    def test_pointer(self):
        self.assertEqual(manifest.pointer("k", "full", "T"), {"manifest_key": "k", "kind": "full", "created_at": "T"})

    def test_defects(self):
        with defects.activated("chunks-out-of-order"):
            self.assertEqual([c["size"] for c in build()["chunks"]], [5, 20, 10])
        with defects.activated("last-chunk-missing"):
            doc = build()
            self.assertEqual([c["size"] for c in doc["chunks"]], [10, 20])
            self.assertEqual(doc["total_bytes"], 30)
        with defects.activated("total-bytes-off"):
            self.assertEqual(build()["total_bytes"], 60)


class ValidateTest(unittest.TestCase):
    key = "p/subvol/data/full/manifest-20250101T000000Z.json"

    def test_accepts_built_manifest(self):
        doc = build()
        self.assertIs(manifest.validate(doc, self.key, "data"), doc)

    def test_rejections(self):
        def broken(change):
            doc = copy.deepcopy(build())
            change(doc)
            return doc

        cases = [
            (lambda d: d.update(version=2), "unsupported version"),
            (lambda d: d.update(subvolume="home"), "belongs to subvolume"),
            (lambda d: d.update(kind="diff"), "unknown kind"),
            (lambda d: d.update(kind="incremental", parent_manifest="x"), "does not match the key"),
            (lambda d: d.update(parent_manifest="x"), "must not have a parent"),
            (lambda d: d.update(chunks=[]), "has no chunks"),
            (lambda d: d["chunks"][1].update(size=0), "chunk 1 has an invalid size"),
            (lambda d: d["chunks"][2].update(sha256="abc"), "chunk 2 has an invalid sha256"),
            (lambda d: d.update(total_bytes=34), "total_bytes 34 is not the sum"),
            (lambda d: d["snapshot"].update(name="../x"), "snapshot.name"),
        ]
        for change, message in cases:
            with self.subTest(message=message):
                with self.assertRaisesRegex(manifest.ManifestError, message):
                    manifest.validate(broken(change), self.key, "data")

    def test_incremental_needs_parent(self):
        doc = build(kind="incremental", parent=None)
        key = "p/subvol/data/incremental/manifest-20250101T000000Z.json"
        with self.assertRaisesRegex(manifest.ManifestError, "needs a parent_manifest"):
            manifest.validate(doc, key, "data")


class ChainTest(unittest.TestCase):
    def docs(self):
        return {
            "full": build(ts="20250101T000000Z"),
            "inc1": build(kind="incremental", parent="full", ts="20250102T000000Z"),
            "inc2": build(kind="incremental", parent="inc1", ts="20250103T000000Z"),
        }

    def test_oldest_first(self):
        docs = self.docs()
        resolved = chain.resolve("inc2", docs.__getitem__)
        self.assertEqual([key for key, _ in resolved], ["full", "inc1", "inc2"])
        self.assertEqual([key for key, _ in chain.resolve("full", docs.__getitem__)], ["full"])

    def test_loop(self):
        docs = self.docs()
        docs["inc1"]["parent_manifest"] = "inc2"
        docs["inc1"]["created_at"] = "20250104T000000Z"
        with self.assertRaisesRegex(chain.ChainError, "not older|loops"):
            chain.resolve("inc2", docs.__getitem__)

    def test_self_parent_is_a_loop(self):
        docs = self.docs()
        docs["inc2"]["parent_manifest"] = "inc2"
        with self.assertRaisesRegex(chain.ChainError, "loops at inc2"):
            chain.resolve("inc2", docs.__getitem__)

    def test_loop_with_equal_times_is_caught(self):
        docs = {
            "a": build(kind="incremental", parent="b", ts="20250101T000000Z"),
            "b": build(kind="incremental", parent="a", ts="20250101T000000Z"),
        }
        with self.assertRaises(chain.ChainError):
            chain.resolve("a", docs.__getitem__)

    def test_parent_newer_than_child(self):
        docs = self.docs()
        docs["inc1"]["created_at"] = "20250109T000000Z"
        with self.assertRaisesRegex(chain.ChainError, "is not older"):
            chain.resolve("inc2", docs.__getitem__)

    def test_loader_errors_propagate(self):
        docs = self.docs()
        del docs["inc1"]
        with self.assertRaises(KeyError):
            chain.resolve("inc2", docs.__getitem__)


if __name__ == "__main__":
    unittest.main()
