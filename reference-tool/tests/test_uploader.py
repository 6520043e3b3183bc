import hashlib
import io
import unittest

from btrfs_to_s3 import chunking
from btrfs_to_s3.retry import Retrier
from btrfs_to_s3.store import Store
from btrfs_to_s3.uploader import ChunkUploader
from tests.fakes import MIB, FakeClientError, FakeS3


def data(size, seed=1):
    return (hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1))[:size]


class UploaderTest(unittest.TestCase):
    def setUp(self):
        self.s3 = FakeS3()
        self.store = Store(self.s3, "bkt", Retrier(attempts=3, sleep=lambda s: None))

    def upload(self, payload, **kwargs):
        uploader = ChunkUploader(self.store, "STANDARD_IA", **kwargs)
        return uploader.upload("k", io.BytesIO(payload), hashlib.sha256())

    def test_small_chunk_is_one_put(self):
        payload = data(5 * MIB)
        result = self.upload(payload)
        self.assertEqual([e["op"] for e in self.s3.journal], ["PutObject"])
        self.assertEqual(result.size, len(payload))
        self.assertEqual(result.sha256, hashlib.sha256(payload).hexdigest())
        self.assertEqual(result.etag, self.s3.objects["k"]["etag"])
        obj = self.s3.objects["k"]
        self.assertEqual((obj["sse"], obj["storage_class"]), ("AES256", "STANDARD_IA"))

    def test_empty_reader_uploads_nothing(self):
        self.assertIsNone(self.upload(b""))
        self.assertEqual(self.s3.journal, [])

    def test_large_chunk_is_multipart(self):
        payload = data(5 * MIB + 1 + 12 * MIB)
        result = self.upload(payload, concurrency=3)
        ops = [e["op"] for e in self.s3.journal]
        self.assertEqual(ops[0], "CreateMultipartUpload")
        self.assertEqual(ops[-1], "CompleteMultipartUpload")
        sizes = sorted((e["part"], e["size"]) for e in self.s3.ops("UploadPart"))
        self.assertEqual(sizes, [(1, 8 * MIB), (2, 8 * MIB), (3, len(payload) - 16 * MIB)])
        self.assertEqual(self.s3.body("k"), payload)
        self.assertEqual(result.sha256, hashlib.sha256(payload).hexdigest())
        create = self.s3.ops("CreateMultipartUpload")[0]
        self.assertEqual((create["sse"], create["storage_class"]), ("AES256", "STANDARD_IA"))

    def test_failure_aborts_the_upload(self):
        self.s3.fail_next("UploadPart", FakeClientError("AccessDenied", 403))
        with self.assertRaises(FakeClientError):
            self.upload(data(20 * MIB))
        self.assertEqual(self.s3.uploads, {})
        self.assertEqual(len(self.s3.ops("AbortMultipartUpload")), 1)
        self.assertNotIn("k", self.s3.objects)

    def test_interrupt_aborts_the_upload(self):
        class Interrupting(io.BytesIO):
            reads = 0

            def read(self, n=-1):
                self.reads += 1
                if self.reads == 3:
                    raise KeyboardInterrupt
                return super().read(n)

        uploader = ChunkUploader(self.store, "STANDARD")
        with self.assertRaises(KeyboardInterrupt):
            uploader.upload("k", Interrupting(data(30 * MIB)), hashlib.sha256())
        self.assertEqual(self.s3.uploads, {})

    def test_defect_no_abort(self):
        self.s3.fail_next("UploadPart", FakeClientError("AccessDenied", 403))
        with self.assertRaises(FakeClientError):
            self.upload(data(20 * MIB), abort_on_failure=False)
        self.assertEqual(len(self.s3.uploads), 1)

    def test_transient_errors_are_retried(self):
        self.s3.fail_next("UploadPart", FakeClientError("SlowDown", 503))
        self.s3.fail_next("CompleteMultipartUpload", FakeClientError("InternalError", 500))
        payload = data(11 * MIB)
        self.upload(payload)
        self.assertEqual(self.s3.body("k"), payload)

    def test_complete_succeeded_but_reply_lost(self):
        payload = data(11 * MIB)
        original = self.s3.complete_multipart_upload

        def complete_then_drop(**kwargs):
            original(**kwargs)
            raise ConnectionResetError("reply lost")

        self.s3.complete_multipart_upload = complete_then_drop
        first = [True]

        def once(**kwargs):
            if first[0]:
                first[0] = False
                return complete_then_drop(**kwargs)
            return original(**kwargs)

        self.s3.complete_multipart_upload = once
        result = self.upload(payload)
        self.assertEqual(self.s3.body("k"), payload)
        self.assertEqual(result.size, len(payload))

    def test_before_commit_runs_before_the_object_exists(self):
        seen = []
        uploader = ChunkUploader(self.store, "STANDARD")
        for size in (100, 9 * MIB):
            key = f"k{size}"
            uploader.upload(key, io.BytesIO(data(size)), hashlib.sha256(),
                            before_commit=lambda key=key: seen.append(key in self.s3.objects))
        self.assertEqual(seen, [False, False])

    def test_part_size_must_exceed_single_put_limit(self):
        with self.assertRaises(ValueError):
            ChunkUploader(self.store, "STANDARD", part_size=chunking.SINGLE_PUT_MAX)


if __name__ == "__main__":
    unittest.main()
