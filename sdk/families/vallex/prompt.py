"""Voice prompts: Plachtaa's `.npz` (audio_tokens [1, frames, 8], text_tokens [1, n], lang_code), so their
prompts load as they are and ours load in their code."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxport.families.vallex.contract import LANGUAGE_IDS

CODEBOOKS = 8


@dataclass(frozen=True)
class VoicePrompt:
    codes: np.ndarray  # int64 [8, frames]
    text_ids: np.ndarray  # int64 [n]
    language: str

    @classmethod
    def empty(cls, language: str) -> VoicePrompt:
        return cls(np.zeros((CODEBOOKS, 0), np.int64), np.zeros(0, np.int64), language)

    @classmethod
    def load(cls, path: str | Path) -> VoicePrompt:
        """A prompt file; ValueError in one line naming the file and the field at fault."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"voice prompt {path} does not exist (make one with `voxport prompt make`)")
        try:
            with np.load(path, allow_pickle=False) as f:
                fields = {k: f[k] for k in ("audio_tokens", "text_tokens", "lang_code") if k in f}
        except (OSError, ValueError) as exc:
            raise ValueError(f"voice prompt {path} is not an .npz file ({exc})") from None
        missing = [k for k in ("audio_tokens", "text_tokens", "lang_code") if k not in fields]
        if missing:
            raise ValueError(f"voice prompt {path} lacks {missing} (expected audio_tokens [1, frames, 8], "
                             "text_tokens [1, n], lang_code)")
        audio = np.asarray(fields["audio_tokens"]).reshape(-1, fields["audio_tokens"].shape[-1])
        if audio.shape[1] != CODEBOOKS or audio.size and (audio.min() < 0 or audio.max() >= 1024):
            raise ValueError(f"voice prompt {path}: audio_tokens must be [1, frames, 8] codes in [0, 1024), "
                             f"got shape {fields['audio_tokens'].shape}")
        code = int(np.asarray(fields["lang_code"]).reshape(-1)[0])
        names = {v: k for k, v in LANGUAGE_IDS.items()}
        if code not in names:
            raise ValueError(f"voice prompt {path}: lang_code {code} is none of {sorted(names)} (en, zh, ja)")
        text = np.asarray(fields["text_tokens"], np.int64).reshape(-1)
        return cls(np.ascontiguousarray(audio.T.astype(np.int64)), text, names[code])

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        np.savez(path, audio_tokens=self.codes.T[None].astype(np.int64),
                 text_tokens=self.text_ids[None].astype(np.int64), lang_code=LANGUAGE_IDS[self.language])
        return path
