"""What streaming inside a Kokoro sentence costs: the joined stream against the whole sentence, by two methods.

    python benchmarks/kokoro_joins.py [--bundle DIR]   # default: the bundle examples/kokoro_japanese.py builds

- decoder windows (voxport's `stream_context`): the sentence's encoder, durations and prosody as whole, the
  decoder run on windows of frames widened by N frames of context per side;
- phoneme windows (kokoro-onnx's sliding.py idea, applied inside a sentence): the sentence cut at a word gap
  (a space id) at or after `W` ids; the first piece synthesized on its own with `L` ids of look-ahead, the rest
  with `C` ids of context before the cut; joined at the cut's frame with a 10 ms cross-fade.

Kokoro-82M's real weights (the int8 file dequantized), Japanese, jf_alpha, noise off, onnxruntime fp32.
Each row: DTW-MCD of joined against whole (lengths may differ when a window's durations move), mean and
worst over the sentences it could cut, and for phoneme windows the first piece's compute time over the
whole sentence's (what first audio would gain). Takes a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from _kokoro_prepare import COLD, FIRST_AUDIO, bundle

SPACE = " "  # words are separated in Kokoro's phonemes, Japanese included
FADE_S = 0.010


def _join(first: np.ndarray, cut1: int, rest: np.ndarray, cut2: int, fade: int) -> np.ndarray:
    head, tail = first[:cut1 + fade], rest[cut2:]
    if fade < 1 or len(head) <= fade or len(tail) <= fade:
        return np.concatenate([first[:cut1], tail])
    ramp = np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return np.concatenate([head[:-fade], head[-fade:] * ramp + tail[:fade] * (1 - ramp), tail[fade:]])


def _whole_and_joined(voice: Any, ids: list[int], cut: int, look: int, ctx: int
                      ) -> tuple[np.ndarray, np.ndarray, float]:
    """The whole sentence's audio, the two pieces joined at the cut, and the first piece's compute time over
    the whole's: the first piece holds the ids up to the cut plus `look`, the rest starts `ctx` ids before it."""
    from voxport.synthesis import SynthesisConfig

    p, hop, cfg = voice.pipeline, voice.engine.hop_length, SynthesisConfig(seed=0, noise_scale=0.0)
    weights = p.weights(cfg)

    def synth(part: list[int]) -> tuple[np.ndarray, np.ndarray, float]:
        start = time.perf_counter()
        u = p.prepare(part, weights, 1.0, p.draws(cfg))
        return p.decode(u), u.frames, time.perf_counter() - start

    whole, _, t_whole = synth(ids)
    end = min(len(ids), cut + look)
    first, f1, t_first = synth(ids[:end] + ([ids[-1]] if end < len(ids) else []))  # keep the end-of-text id
    begin = max(1, cut - ctx)
    rest, f2, _ = synth([ids[0]] + ids[begin:])
    joined = _join(first, int(f1[:cut].sum()) * hop, rest, int(f2[:1 + cut - begin].sum()) * hop,
                   int(voice.sample_rate * FADE_S))
    return whole, joined, t_first / t_whole


def phoneme_windows(voice: Any, utterances: list[list[int]], first: int, look: int, ctx: int) -> str:
    from voxport.tools.quality import dtw_mel_cepstral_distortion_db

    space = voice.manifest.phoneme_id_map[SPACE][0]  # the voice's own symbol table (16 in Kokoro-82M's)
    mcd, ratio = [], []
    for ids in utterances:
        cuts = [i for i, x in enumerate(ids) if x == space and first <= i < len(ids) - 8]
        if not cuts:
            continue
        whole, joined, r = _whole_and_joined(voice, ids, cuts[0], look, ctx)
        mcd.append(dtw_mel_cepstral_distortion_db(whole, joined, voice.sample_rate))
        ratio.append(r)
    return (f"| phoneme windows W={first} L={look} C={ctx} | {len(mcd)} | {np.mean(mcd):.2f} ({np.max(mcd):.2f}) "
            f"| {np.mean(ratio):.2f} |")


def decoder_windows(voice: Any, texts: list[str], context: int) -> str:
    from voxport.tools.quality import dtw_mel_cepstral_distortion_db

    mcd = []
    for text in texts:
        whole = voice.synthesize(text, seed=0, noise_scale=0.0)
        joined = np.concatenate([c.audio for c in voice.stream(text, seed=0, noise_scale=0.0,
                                                                  stream_context=context)])
        mcd.append(dtw_mel_cepstral_distortion_db(whole, joined, voice.sample_rate))
    return f"| decoder windows, {context} frames of context | {len(mcd)} | {np.mean(mcd):.2f} ({np.max(mcd):.2f}) | – |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", help="a Kokoro bundle (default: the Japanese one the example builds)")
    args = parser.parse_args()
    from voxport import Voice

    voice = Voice.load(bundle(args.bundle), threads=2)
    texts = COLD + FIRST_AUDIO
    utterances = [ids for text in texts for _, _, ids in voice.frontend.text_to_ids(text)]
    print("| method | sentences | DTW-MCD joined vs whole, mean (worst) dB | first piece time / whole |")
    print("|---|---|---|---|")
    for context in (16, 32):
        print(decoder_windows(voice, texts, context), flush=True)
    for first, look, ctx in ((8, 8, 8), (8, 16, 16), (16, 16, 16), (16, 24, 24)):
        print(phoneme_windows(voice, utterances, first, look, ctx), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
