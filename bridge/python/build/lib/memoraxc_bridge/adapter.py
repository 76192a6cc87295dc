"""The adapter loop: N Gymnasium environments in this process, served over stdin/stdout.

Auto-reset happens in the same step, as in memoraxc's native environments: after a terminal or
truncated step the returned observation is already the first one of the next episode, and the
true last observation is sent as the final observation.
"""

import argparse
import importlib
import json
import struct
import sys
import traceback

import numpy as np

from . import protocol as p
from .spaces import Codec


class Served:
    """The environments of this process."""

    def __init__(self, env_id, kwargs, n):
        import gymnasium as gym

        self.envs = [gym.make(env_id, **kwargs) for _ in range(n)]
        first = self.envs[0]
        self.codec = Codec(first.observation_space, first.action_space)
        spec = first.spec
        self.max_steps = spec.max_episode_steps if spec is not None else None
        self.n = n
        self.obs = np.zeros((n, self.codec.obs_dim), dtype="<f4")
        self.final = np.zeros((n, self.codec.obs_dim), dtype="<f4")
        self.reward = np.zeros(n, dtype="<f4")
        self.flags = np.zeros(n, dtype=np.uint8)

    def reset(self, body):
        seeds = struct.unpack(f"<{self.n}Q", body)
        for i, (env, seed) in enumerate(zip(self.envs, seeds)):
            o, _ = env.reset(seed=int(seed))
            self.obs[i] = self.codec.obs(o)
        return self.obs.tobytes()

    def step(self, body):
        actions = self.codec.actions(body, self.n)
        self.final[:] = 0.0
        for i, (env, a) in enumerate(zip(self.envs, actions)):
            o, r, term, trunc, _ = env.step(a)
            self.reward[i] = float(r)
            self.flags[i] = (p.TERMINATED if term else 0) | (p.TRUNCATED if trunc else 0)
            flat = self.codec.obs(o)
            if term or trunc:
                self.final[i] = flat
                o, _ = env.reset()
                flat = self.codec.obs(o)
            self.obs[i] = flat
        return b"".join(
            [self.obs.tobytes(), self.reward.tobytes(), self.flags.tobytes(), self.final.tobytes()]
        )

    def close(self):
        for env in self.envs:
            env.close()


def serve(env_id, kwargs, stdin, stdout):
    """Answer requests until CLOSE or end of input; returns the exit code."""
    served = None
    while True:
        frame = p.read_frame(stdin)
        if frame is None:
            break
        tag, body = frame
        try:
            if tag == p.HELLO:
                version, n = struct.unpack("<II", body)
                if version != p.VERSION:
                    raise ValueError(
                        f"memoraxc speaks bridge protocol {version}, this adapter speaks {p.VERSION}"
                    )
                served = Served(env_id, kwargs, n)
                p.write_frame(stdout, p.SPACES, served.codec.spaces_body(n, served.max_steps))
            elif tag == p.RESET:
                p.write_frame(stdout, p.RESET_OK, served.reset(body))
            elif tag == p.STEP:
                p.write_frame(stdout, p.STEP_OK, served.step(body))
            elif tag == p.CLOSE:
                break
            else:
                raise ValueError(f"unknown message 0x{tag:02x}")
        except Exception as e:  # every failure is reported to memoraxc, then the process ends
            traceback.print_exc(file=sys.stderr)
            p.write_frame(stdout, p.ERROR, f"{type(e).__name__}: {e}".encode("utf-8"))
            return 1
    if served is not None:
        served.close()
    return 0


def main(argv=None):
    """Entry point: `python -m memoraxc_bridge ENV_ID [--kwargs JSON] [--import MODULE]...`."""
    ap = argparse.ArgumentParser(prog="memoraxc_bridge", description=__doc__)
    ap.add_argument("env_id", help="a Gymnasium id such as CartPole-v1")
    ap.add_argument("--kwargs", default="{}", help="JSON keyword arguments for gymnasium.make")
    ap.add_argument("--import", dest="imports", action="append", default=[],
                    help="import this module first (registers environments)")
    args = ap.parse_args(argv)
    for m in args.imports:
        importlib.import_module(m)
    stdin = sys.stdin.buffer
    stdout = sys.stdout.buffer
    # anything the environment prints must not corrupt the protocol stream
    sys.stdout = sys.stderr
    return serve(args.env_id, json.loads(args.kwargs), stdin, stdout)
