"""Cut a byte stream into fixed-size chunks without holding a chunk in memory."""

import io

MIB = 1024 * 1024
SINGLE_PUT_MAX = 5 * MIB
MIN_PART = 5 * MIB
DEFAULT_PART = 8 * MIB
MAX_PARTS = 10000
MAX_PART = 5 * 1024 * MIB


def part_size_for(chunk_size):
    """Multipart part size: 8 MiB, larger only if 10000 parts would not do."""
    needed = -(-chunk_size // MAX_PARTS)
    return max(DEFAULT_PART, needed)


def one_part_size(chunk_size):
    """The one-part-per-chunk quirk's part size: the whole chunk (S3 allows
    parts up to 5 GiB; larger chunks keep the usual parts)."""
    if chunk_size > MAX_PART:
        return None
    return max(chunk_size, DEFAULT_PART)


def read_full(stream, size):
    """Read up to `size` bytes, looping over short reads; b'' only at EOF."""
    parts = []
    remaining = size
    while remaining > 0:
        data = stream.read(remaining)
        if not data:
            break
        parts.append(data)
        remaining -= len(data)
    return b"".join(parts)


class LimitedReader:
    """Reads at most `limit` bytes of `stream`: one chunk of the stream."""

    def __init__(self, stream, limit):
        self.stream = stream
        self.remaining = limit

    def read(self, size):
        size = min(size, self.remaining)
        data = read_full(self.stream, size) if size > 0 else b""
        self.remaining -= len(data)
        return data


def peekable(stream):
    return stream if hasattr(stream, "peek") else io.BufferedReader(stream)


def at_eof(stream):
    """True when a peekable stream has no byte left."""
    return not stream.peek(1)


def iter_chunk_readers(stream, chunk_size):
    """Yield (index, reader) per chunk until the stream ends.

    Each reader must be consumed before the next is requested. No empty
    chunk is produced, not even when the stream is an exact multiple.
    """
    stream = peekable(stream)
    index = 0
    while not at_eof(stream):
        reader = LimitedReader(stream, chunk_size)
        yield index, reader
        if reader.remaining > 0 and not at_eof(stream):
            raise RuntimeError("chunk reader was not consumed")
        index += 1
