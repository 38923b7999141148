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
