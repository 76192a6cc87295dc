"""A fake bridge adapter for failure tests (standard library only).

Serves a CartPole-shaped environment (4 floats, Discrete(2), episodes of 10 steps) and
misbehaves after a number of STEP requests: `crash N` exits with status 3, `hang N` stops
answering, `error N` sends an ERROR message, `garbage N` prints text to stdout.
"""

import struct
import sys
import time

mode, after = sys.argv[1], int(sys.argv[2])
inp, out = sys.stdin.buffer, sys.stdout.buffer


def read_exact(n):
    b = b""
    while len(b) < n:
        c = inp.read(n - len(b))
        if not c:
            sys.exit(0)
        b += c
    return b


def send(tag, body=b""):
    out.write(struct.pack("<IB", len(body) + 1, tag) + body)
    out.flush()


n = 0
steps = 0
t = []
while True:
    (length,) = struct.unpack("<I", read_exact(4))
    payload = read_exact(length)
    tag, body = payload[0], payload[1:]
    if tag == 0x01:
        n = struct.unpack("<II", body)[1]
        t = [0] * n
        text = b"Box(4)"
        act = b"Discrete(2)"
        send(0x81, struct.pack("<IIIBIq", 1, n, 4, 0, 2, 10)
             + struct.pack("<I", len(text)) + text + struct.pack("<I", len(act)) + act)
    elif tag == 0x02:
        t = [0] * n
        send(0x82, struct.pack(f"<{4 * n}f", *([0.5] * 4 * n)))
    elif tag == 0x03:
        steps += 1
        if steps > after:
            if mode == "crash":
                sys.stderr.write("fake adapter: simulated crash\n")
                sys.stderr.flush()
                sys.exit(3)
            if mode == "hang":
                time.sleep(3600)
            if mode == "error":
                send(0xFF, b"simulated failure in env.step")
                sys.exit(1)
            if mode == "garbage":
                out.write(b"Hello from a stray print\n" * 4)
                out.flush()
                time.sleep(3600)
        flags = []
        for i in range(n):
            t[i] += 1
            flags.append(2 if t[i] >= 10 else 0)
            if t[i] >= 10:
                t[i] = 0
        obs = struct.pack(f"<{4 * n}f", *([0.1 * (steps % 7)] * 4 * n))
        send(0x83, obs + struct.pack(f"<{n}f", *([1.0] * n)) + bytes(flags) + obs)
    elif tag == 0x04:
        sys.exit(0)
