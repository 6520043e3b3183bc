import io
import unittest

from btrfs_to_s3 import chunking


class ShortReads(io.RawIOBase):
    """A pipe-like stream that returns at most 3 bytes per read."""

    def __init__(self, data):
        self.data = memoryview(data)
        self.pos = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        n = min(3, len(buffer), len(self.data) - self.pos)
        buffer[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


def chunks_of(data, size, stream=None):
    out = []
    for index, reader in chunking.iter_chunk_readers(stream or io.BytesIO(data), size):
        out.append((index, chunking.read_full(reader, 10 ** 9)))
    return out


class ChunkingTest(unittest.TestCase):
    def test_remainder(self):
        self.assertEqual(chunks_of(b"abcdefg", 3), [(0, b"abc"), (1, b"def"), (2, b"g")])

    def test_exact_multiple_has_no_empty_chunk(self):
        self.assertEqual(chunks_of(b"abcdef", 3), [(0, b"abc"), (1, b"def")])

    def test_empty_stream(self):
        self.assertEqual(chunks_of(b"", 3), [])

    def test_short_reads(self):
        data = bytes(range(200)) * 5
        got = chunks_of(None, 64, stream=ShortReads(data))
        self.assertEqual(b"".join(c for _, c in got), data)
        self.assertTrue(all(len(c) == 64 for _, c in got[:-1]))

    def test_unconsumed_reader_is_a_bug(self):
        iterator = chunking.iter_chunk_readers(io.BytesIO(b"abcdef"), 3)
        next(iterator)
        with self.assertRaises(RuntimeError):
            next(iterator)

    def test_limited_reader(self):
        reader = chunking.LimitedReader(io.BytesIO(b"abcdef"), 4)
        self.assertEqual(reader.read(3), b"abc")
        self.assertEqual(reader.read(3), b"d")
        self.assertEqual(reader.read(3), b"")

    def test_part_size(self):
        self.assertEqual(chunking.part_size_for(64 * chunking.MIB), 8 * chunking.MIB)
        big = 200 * 1024 * chunking.MIB
        self.assertGreaterEqual(chunking.part_size_for(big) * chunking.MAX_PARTS, big)
        self.assertGreater(chunking.part_size_for(1), chunking.SINGLE_PUT_MAX)


if __name__ == "__main__":
    unittest.main()
