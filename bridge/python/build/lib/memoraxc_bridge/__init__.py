"""Serve Gymnasium environments to memoraxc over the bridge protocol (docs/bridge.md)."""

from .protocol import VERSION

__all__ = ["VERSION"]
