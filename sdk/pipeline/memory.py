"""Handing freed memory back to the system after a voice is closed."""

from __future__ import annotations

import ctypes
import sys
from typing import Any

# --- memory ---------------------------------------------------------------------------------------------
# Closing a voice frees its graph sessions (tens of MB of weights and buffers), but glibc's malloc keeps
# much of it: after a large mmap'd block is freed it raises its mmap threshold (up to 32 MB), so the next
# voice's buffers come from the heap, and freed heap pages stay in the process while anything above them
# is in use. RSS then grew 0.1-0.4 MB per load/close cycle, in steps, with nothing leaked (measured on
# onnxruntime: benchmarks/load_close_memory.py). malloc_trim(0) gives every free page back (~5 ms).
_malloc_trim: Any = None
_malloc_trim_looked_up = False


def release_freed_memory() -> bool:
    """Return freed heap pages to the system (glibc's ``malloc_trim``); False where there is none.

    Thread-safe (glibc locks each arena); does nothing on other C libraries (musl, macOS, Windows).
    """
    global _malloc_trim, _malloc_trim_looked_up
    if not _malloc_trim_looked_up:
        if sys.platform.startswith("linux"):
            try:
                _malloc_trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
            except OSError:
                _malloc_trim = None
        _malloc_trim_looked_up = True
    if _malloc_trim is None:
        return False
    _malloc_trim(0)
    return True
