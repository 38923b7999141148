"""espeak-ng phonemization that reproduces Piper's phoneme strings.

espeak-ng is loaded through ``phonemizer``'s ctypes wrapper, pointed at the shared library and
data shipped by the ``espeakng-loader`` wheel, so no system espeak package is needed.

Piper (piper-tts 1.8.0) uses a patched espeak-ng that reports, for every clause, the punctuation
that ended it; it appends that punctuation to the clause phonemes (plus a space after ``, : ;``),
drops language-switch flags and NFD-decomposes the result. Stock espeak-ng (the one
``espeakng-loader`` ships) has no such API, so this module finds the clause-ending punctuation
itself, following the rules espeak-ng applies (checked against piper-tts on a few thousand
sentences), and phonemizes one clause at a time. Breaks that carry no mark in Piper (ellipses,
``¡``, over-long clauses) are joined without a separator, as Piper does. Piper's newer espeak-ng
also writes the English linking phoneme as ``ʲ``; it is restored here from espeak's mnemonics.
"""

from __future__ import annotations

import ctypes
import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import Any

from voxport.errors import EspeakUnavailableError

__all__ = ["EspeakPhonemizer"]

_INSTALL_HINT = (
    "voxport phonemizes with the espeak-ng library shipped by the `espeakng-loader` package and "
    "the `phonemizer` bindings; install them with `pip install espeakng-loader phonemizer` "
    "(no system espeak-ng package is needed)."
)

# espeak_TextToPhonemes arguments: input is UTF-8 (espeakCHARS_UTF8); output is IPA
# (espeakPHONEMES_IPA) or espeak's ASCII mnemonics (0), with a separator code point between
# phonemes (bits 8-23) so that the two renderings can be aligned phoneme by phoneme.
_TEXT_MODE_UTF8 = 1
_SEP = "\x01"
_PHONEMES_MODE_IPA = 0x02 | (ord(_SEP) << 8)
_PHONEMES_MODE_MNEMONIC = 0x00 | (ord(_SEP) << 8)
# English links a final /i/ to a following vowel with espeak's ";" phoneme. The espeak-ng build
# in piper-tts writes it as "ʲ" ("ðɪʲ ˈɛnd"); stock espeak-ng 1.52 writes nothing.
_LINKING_MNEMONIC = ";"
_LINKING_IPA = "ʲ"

# Clause terminators are . , ; : ! ? (an ellipsis ends a clause with no mark, a dash followed by
# a space with ";").
_PAUSE_PUNCT = frozenset(",;:")  # Piper follows these with a space; . ? ! end a sentence instead.
_DASHES = frozenset("—–")
# Quotes and brackets: after clause punctuation they still end the clause ("Hi,\"Bob\"").
_QUOTES_BRACKETS = frozenset("\"'`“”‘’«»()[]{}<>")
_PUNCT_RUN = re.compile(r"[.,;:!?…]+|[—–]")
_NEXT_CHAR = re.compile(r"\s*(\S)")
# espeak marks words from another language with "(lang)" flags; Piper drops the flags only.
_LANG_FLAG = re.compile(r"\([^()]*\)")

# phonemizer's EspeakWrapper keeps the library/data location in class-level settings.
_SETUP_LOCK = threading.Lock()


class EspeakPhonemizer:
    """Text to IPA phonemes with espeak-ng, formatted the way Piper formats them.

    :meth:`phonemize` is thread-safe. All phonemizers of one espeak voice in a process share one
    loaded espeak-ng (see :func:`_shared_espeak`), so creating and dropping them costs no memory.
    """

    def __init__(self, voice: str = "en-us") -> None:
        self.voice = voice
        espeak = _shared_espeak(voice)
        self._wrapper, self._api = espeak.wrapper, espeak.api
        # espeak-ng keeps global state per loaded library copy; serialize calls into it (the lock is
        # shared by every phonemizer on that copy).
        self._lock = espeak.lock

    @property
    def espeak_version(self) -> tuple[int, ...]:
        """Version of the loaded espeak-ng library, e.g. ``(1, 52, 0)``."""
        return tuple(self._wrapper.version)

    def phonemize(self, text: str) -> str:
        """Phonemize ``text`` to IPA with stress marks and Piper-style clause punctuation.

        Several sentences in ``text`` are joined with a single space (Piper would return them as
        separate sentences). Returns ``""`` for text with nothing speakable.
        """
        parts: list[str] = []
        sentence_ended = False
        for piece, terminator in _split_clauses(text):
            phonemes = "".join(self._clause_phonemes(piece)) if piece.strip() else ""
            if not phonemes.strip():
                # A clause of bare punctuation produces nothing in Piper either, not even the mark.
                continue
            if sentence_ended:
                parts.append(" ")
            parts.append(phonemes)
            parts.append(terminator)
            if terminator in _PAUSE_PUNCT:
                parts.append(" ")
            sentence_ended = terminator in (".", "?", "!")
        # Piper decomposes so that combining diacritics become separate phoneme symbols.
        return unicodedata.normalize("NFD", "".join(parts))

    def _clause_phonemes(self, text: str) -> list[str]:
        """espeak's phonemes for ``text``, one string per clause espeak itself found."""
        with self._lock:
            ipa = self._espeak_clauses(text, _PHONEMES_MODE_IPA)
            mnemonic = self._espeak_clauses(text, _PHONEMES_MODE_MNEMONIC)
        if len(mnemonic) != len(ipa):  # never seen; keep espeak's IPA rather than guess
            mnemonic = [""] * len(ipa)
        return [_LANG_FLAG.sub("", _restore_linking(i, m)) for i, m in zip(ipa, mnemonic, strict=True)]

    def _espeak_clauses(self, text: str, phonemes_mode: int) -> list[str]:
        # espeak advances this pointer clause by clause and sets it to NULL at the end.
        # NUL would end the C string early; lone surrogates cannot be encoded.
        encoded = text.replace("\x00", " ").encode("utf-8", errors="ignore")
        text_ptr = ctypes.pointer(ctypes.c_char_p(encoded))
        clauses: list[str] = []
        while text_ptr.contents.value is not None:
            raw = self._api.text_to_phonemes(text_ptr, _TEXT_MODE_UTF8, phonemes_mode)
            if raw:
                clauses.append(raw.decode("utf-8", errors="replace"))
        return clauses


def _restore_linking(ipa: str, mnemonic: str) -> str:
    """Drop phoneme separators from an IPA clause, writing the linking phoneme as Piper does.

    Both strings list the same phonemes (words split by spaces, phonemes by ``_SEP``); where the
    word counts disagree the IPA is kept as is. Within a word the IPA may have fewer phonemes than
    the mnemonics (Russian "l" + ";" is one "ɭʲ"); then an empty IPA phoneme is the linking one if
    the mnemonic at its place counted from either end of the word is.
    """
    ipa_words = ipa.split(" ")
    mnemonic_words = mnemonic.split(" ")
    if _LINKING_MNEMONIC not in mnemonic or len(ipa_words) != len(mnemonic_words):
        return ipa.replace(_SEP, "")
    words = []
    for ipa_word, mnemonic_word in zip(ipa_words, mnemonic_words, strict=True):
        phones = ipa_word.split(_SEP)
        names = mnemonic_word.split(_SEP)
        offsets = {0, len(names) - len(phones)}  # aligned at the start, at the end
        if len(phones) <= len(names):
            phones = [
                _LINKING_IPA if not phone and any(names[i + k] == _LINKING_MNEMONIC for k in offsets) else phone
                for i, phone in enumerate(phones)
            ]
        words.append("".join(phones))
    return " ".join(words)


def _split_clauses(text: str) -> list[tuple[str, str]]:
    """Split ``text`` where espeak-ng ends a clause with punctuation.

    Returns ``(clause_text, terminator)`` pairs; ``clause_text`` keeps its punctuation so espeak
    sees the same context as when reading the whole text, and ``terminator`` is the mark Piper
    writes (``""`` for the final clause when it has none).
    """
    pieces: list[tuple[str, str]] = []
    start = scanned = 0
    has_word = False  # whether text[start:scanned] has a letter or digit; scanned once, stays linear
    n = len(text)
    for match in _PUNCT_RUN.finditer(text):
        run = match.group()
        end = match.end()
        has_word = has_word or any(ch.isalnum() for ch in text[scanned : match.start()])
        scanned = end
        if not has_word:
            continue  # espeak ignores punctuation until the clause has a letter or digit ("* , and")
        if run in _DASHES:
            # Only a dash followed by whitespace separates clauses ("well— no", not "well—no").
            if end < n and text[end].isspace():
                pieces.append((text[start : match.start()], ";"))
                start, has_word = end, False
            continue
        close = end
        while close < n and text[close] in _QUOTES_BRACKETS:
            close += 1
        # A leading ellipsis always ends the clause, and Piper writes no mark for it ("a...b").
        ellipsis = run.startswith(("...", "…"))
        if not ellipsis:
            if close == end and close < n and not text[close].isspace():
                continue  # inside a token: "a,b", "one.two", "U.S.A"
            if close == end and run[0] == "." and _next_is_lower(text, end):
                continue  # "mr. smith", "e.g. this": espeak does not break before a lowercase word
        pieces.append((text[start:close], "" if ellipsis else run[0]))
        start, scanned, has_word = close, close, False
    if start < n:
        pieces.append((text[start:], ""))
    return pieces


def _next_is_lower(text: str, pos: int) -> bool:
    match = _NEXT_CHAR.match(text, pos)
    return match is not None and match.group(1).islower()


@dataclass(frozen=True)
class _Espeak:
    """One loaded copy of the espeak-ng library with one voice selected, and the lock its calls take."""

    wrapper: Any
    api: Any
    lock: threading.Lock


# (library, data path, voice) -> its loaded espeak-ng, for the life of the process.
_ESPEAKS: dict[tuple[str, str, str], _Espeak] = {}
# (library, data path) -> a loaded copy with no voice selected yet.
_SPARES: dict[tuple[str, str], tuple[Any, Any]] = {}


def _shared_espeak(voice: str) -> _Espeak:
    """The process's espeak-ng for ``voice``, loaded on first use and kept for the next phonemizers.

    phonemizer's ``EspeakAPI`` copies the shared library to a temporary directory and ``dlopen``s the
    copy, once per wrapper, and never unloads it (nor calls ``espeak_Terminate``: its finalizer is
    bound before the library is set). Every new wrapper therefore stayed mapped for good, about
    0.9-1.5 MB of code, data and espeak's voice tables each time a front-end was created, so loading and
    closing voices grew memory without bound. Sharing one copy per (library, data, voice) bounds
    that to one copy per espeak voice ever used. The library, data path and packages are resolved
    on every call, so a missing package is still reported even when a copy is loaded.
    """
    library, data_path = _espeak_location()
    key = (str(library), str(data_path), voice)
    with _SETUP_LOCK:
        espeak = _ESPEAKS.get(key)
        if espeak is None:
            # A copy on which an unknown voice failed is kept for the next voice rather than leaked.
            wrapper, api = _SPARES.pop(key[:2], None) or _load_espeak(library, data_path)
            if not _select_voice(wrapper, api, voice):
                _SPARES[key[:2]] = wrapper, api
                raise EspeakUnavailableError(f"espeak-ng has no voice {voice!r}.")
            espeak = _ESPEAKS[key] = _Espeak(wrapper, api, threading.Lock())
        return espeak


def _espeak_location() -> tuple[str, str]:
    """espeakng-loader's library and data paths, after checking that phonemizer's wrapper is importable."""
    try:
        import espeakng_loader
    except ImportError as exc:
        raise EspeakUnavailableError(f"espeak-ng is not available. {_INSTALL_HINT}") from exc
    try:
        from phonemizer.backend.espeak.wrapper import EspeakWrapper  # noqa: F401
    except ImportError as exc:
        raise EspeakUnavailableError(f"The phonemizer package is missing. {_INSTALL_HINT}") from exc

    try:
        return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
    except Exception as exc:  # the loader raises a bare RuntimeError when its data is missing
        raise EspeakUnavailableError(
            f"espeakng-loader is installed but broken ({exc}); reinstall it with "
            "`pip install --force-reinstall espeakng-loader`."
        ) from exc


def _load_espeak(library: str, data_path: str) -> tuple[Any, Any]:
    """Load a new copy of espeak-ng through phonemizer's wrapper: ``(wrapper, raw binding)``.

    The copy stays mapped until the process ends; the caller holds ``_SETUP_LOCK``.
    """
    from phonemizer.backend.espeak.wrapper import EspeakWrapper

    # The settings are class-wide; restore them so other phonemizer users in the process
    # keep whatever espeak they configured. The wrapper only reads them while initializing.
    previous = (
        getattr(EspeakWrapper, "_ESPEAK_LIBRARY", None),
        getattr(EspeakWrapper, "_ESPEAK_DATA_PATH", None),
    )
    EspeakWrapper.set_library(library)
    EspeakWrapper.set_data_path(data_path)
    try:
        wrapper = EspeakWrapper()
    except (OSError, RuntimeError) as exc:
        raise EspeakUnavailableError(
            f"Could not load espeak-ng from {library} with data {data_path}: {exc}. {_INSTALL_HINT}"
        ) from exc
    finally:
        EspeakWrapper.set_library(previous[0])
        EspeakWrapper.set_data_path(previous[1])

    # The public EspeakWrapper.text_to_phonemes inserts phone separators and joins clauses with
    # spaces, which loses the clause structure Piper's format depends on; use the raw binding.
    api = getattr(wrapper, "_espeak", None)
    if api is None or not hasattr(api, "text_to_phonemes"):
        raise EspeakUnavailableError(
            "This phonemizer version does not expose its espeak binding; install phonemizer>=3.2."
        )
    return wrapper, api


def _select_voice(wrapper: Any, api: Any, voice: str) -> bool:
    """Select ``voice`` (a language code, or a voice name such as ``"en-us+f3"``); False if espeak has none."""
    try:
        wrapper.set_voice(voice)
    except RuntimeError:
        # Not a language code; espeak also accepts voice names/files such as "en-us+f3".
        return api.set_voice_by_name(voice.encode("utf-8")) == 0
    return True
