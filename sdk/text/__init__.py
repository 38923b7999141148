"""Text front-end: normalization (by the voice's language) and sentence splitting."""

from .languages import normalizer_for
from .normalize import normalize_text
from .sentences import split_sentences

__all__ = ["normalize_text", "normalizer_for", "split_sentences"]
