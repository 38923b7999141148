"""What a request to `voxport serve` can be refused or stopped with; each protocol maps them to its answers."""

from __future__ import annotations


class Busy(RuntimeError):
    """Every worker of the voice is busy and its queue is full (HTTP 503 with Retry-After, Wyoming `busy`)."""


class UnknownVoice(LookupError):
    """A request named a voice that is not configured (HTTP 404, Wyoming `unknown-voice`)."""


class Cancelled(RuntimeError):
    """The consumer went away; the worker stops between chunks."""


class ShuttingDown(RuntimeError):
    """The server is shutting down: a new request is refused, and one still running when the drain time is
    up is cut off (HTTP 503, Wyoming `shutting-down`)."""


class VoiceLoadError(RuntimeError):
    """A configured voice failed to load on its first request: the server's fault, not the request's
    (HTTP 500 with the reason, Wyoming `load-failed`); the next request tries again."""
