"""Gymnasium spaces -> the flat float32 observations and the action spaces memoraxc acts in."""

import struct

import numpy as np
from gymnasium import spaces

from .protocol import VERSION, pack_str


class Codec:
    """Flattens observations and maps memoraxc actions back to the env's action space."""

    def __init__(self, obs_space, action_space):
        self.obs_space = obs_space
        self.action_space = action_space
        self.plain_box = isinstance(obs_space, spaces.Box)
        self.obs_dim = int(spaces.flatdim(obs_space))
        if isinstance(action_space, spaces.Discrete):
            self.kind, self.n = 0, int(action_space.n)
            self.start = int(action_space.start)
        elif isinstance(action_space, spaces.MultiDiscrete) and action_space.nvec.ndim == 1:
            # flattened row-major to one Discrete(prod(nvec)), like POPGym's DiscreteAction
            self.kind, self.n = 0, int(np.prod(action_space.nvec))
            self.start = None
        elif isinstance(action_space, spaces.Box):
            self.kind, self.n = 1, int(np.prod(action_space.shape))
        else:
            raise TypeError(
                f"action space {action_space} is not supported (Discrete, MultiDiscrete, Box)"
            )

    def obs(self, o):
        """One observation as a flat float32 vector (one-hot for discrete parts)."""
        if self.plain_box:
            return np.asarray(o, dtype=np.float32).reshape(-1)
        return np.asarray(spaces.flatten(self.obs_space, o), dtype=np.float32).reshape(-1)

    def actions(self, body, n):
        """Decode a STEP body into one action per environment."""
        if self.kind == 0:
            raw = np.frombuffer(body, dtype="<u4", count=n)
            if self.start is not None:
                return [int(a) + self.start for a in raw]
            nvec = self.action_space.nvec
            return [np.array(np.unravel_index(int(a), nvec), dtype=self.action_space.dtype)
                    for a in raw]
        raw = np.frombuffer(body, dtype="<f4", count=n * self.n).reshape(n, self.n)
        shape, dtype = self.action_space.shape, self.action_space.dtype
        return [raw[i].reshape(shape).astype(dtype) for i in range(n)]

    def spaces_body(self, num_envs, max_steps):
        """The SPACES reply body."""
        parts = [struct.pack("<III", VERSION, num_envs, self.obs_dim)]
        if self.kind == 0:
            parts.append(struct.pack("<BI", 0, self.n))
        else:
            low = np.asarray(self.action_space.low, dtype="<f4").reshape(-1)
            high = np.asarray(self.action_space.high, dtype="<f4").reshape(-1)
            parts.append(struct.pack("<BI", 1, self.n))
            parts.append(low.tobytes())
            parts.append(high.tobytes())
        parts.append(struct.pack("<q", -1 if max_steps is None else int(max_steps)))
        parts.append(pack_str(str(self.obs_space)))
        parts.append(pack_str(str(self.action_space)))
        return b"".join(parts)
