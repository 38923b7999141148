"""Text front-end: normalization and sentence splitting."""

from .normalize import normalize_text
from .sentences import split_sentences

__all__ = ["normalize_text", "split_sentences"]
