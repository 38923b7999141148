"""SDK-level exceptions and warnings for the voxport text frontend."""

from __future__ import annotations

__all__ = ["EspeakUnavailableError", "FrontendError", "UnknownSymbolWarning"]


class FrontendError(ValueError):
    """The text frontend (normalization, phonemization, id mapping) cannot proceed."""


class EspeakUnavailableError(FrontendError):
    """espeak-ng (library or data) cannot be loaded, or the requested espeak voice does not exist."""


class UnknownSymbolWarning(UserWarning):
    """Input contained characters or phonemes the voice cannot speak; they were dropped."""
