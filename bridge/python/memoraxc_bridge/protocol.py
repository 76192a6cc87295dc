"""Bridge protocol version 1: length-prefixed little-endian frames (see docs/bridge.md)."""

import struct

VERSION = 1

HELLO = 0x01
RESET = 0x02
STEP = 0x03
CLOSE = 0x04
SPACES = 0x81
RESET_OK = 0x82
STEP_OK = 0x83
ERROR = 0xFF

TERMINATED = 1
TRUNCATED = 2


def read_exact(stream, n):
    """Read exactly n bytes, or None at end of stream."""
    chunks = []
    while n > 0:
        b = stream.read(n)
        if not b:
            return None
        chunks.append(b)
        n -= len(b)
    return b"".join(chunks)


def read_frame(stream):
    """One (tag, body) frame, or None when memoraxc closed the pipe."""
    head = read_exact(stream, 4)
    if head is None:
        return None
    (length,) = struct.unpack("<I", head)
    if length == 0:
        raise ValueError("empty frame")
    payload = read_exact(stream, length)
    if payload is None:
        return None
    return payload[0], payload[1:]


def write_frame(stream, tag, *parts):
    """Write one frame made of the tag and the concatenated byte parts."""
    body = b"".join(parts)
    stream.write(struct.pack("<IB", len(body) + 1, tag))
    stream.write(body)
    stream.flush()


def pack_str(s):
    """u32 length + UTF-8 bytes."""
    b = s.encode("utf-8")
    return struct.pack("<I", len(b)) + b
