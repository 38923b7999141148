"""A Kokoro bundle built from the tiny Kokoro-shaped model (random weights: numerics and plumbing, not
speech) through the SDK: the split pipeline against the torch model, voices and blends, speed, seeds, word
times, text over the model's context, streaming windows, and the CLI's `info` and `speak`. Without torch
(the on-device wheel's run) every test but the torch comparison uses the committed tests/data/bundles/kokoro,
made from the same model and packs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from support.tiny_kokoro import TINY_PACKS, tiny_model, tiny_packs

from voxport import Voice
from voxport.families.kokoro.pipeline import KokoroUtterance
from voxport.families.kokoro.source import SourceDraws

TEXT = "Hello there, it is me."


@pytest.fixture(scope="module")
def packs() -> dict[str, np.ndarray]:
    return tiny_packs(TINY_PACKS, seed=0)  # af_a, am_b, af_c: the committed bundle's


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, committed_bundle, packs):
    try:
        import torch  # noqa: F401
    except ImportError:
        return committed_bundle("kokoro", "tiny-kokoro")
    from voxport.export.kokoro.build import build_bundle

    out = tmp_path_factory.mktemp("kokoro") / "tiny-kokoro"
    return build_bundle(tiny_model(seed=0), packs, out, name="tiny-kokoro")


@pytest.fixture(scope="module")
def voice(bundle):
    v = Voice.load(bundle)
    yield v
    v.sessions.close()


def test_the_split_bundle_speaks_as_the_torch_model(voice, packs):
    pytest.importorskip("torch", reason="the reference is the torch model")
    from voxport.export.kokoro.reference import synthesize

    ids = voice.frontend.ids(voice.phonemize(TEXT)[0])
    row = len(ids) - 3  # kokoro: pack[len(phonemes) - 1]
    for speed in (1.0, 1.3):
        ours = voice.synthesize_ids(ids, seed=5, length_scale=1 / speed)
        ref, frames = synthesize(tiny_model(), ids, packs["af_a"][row][None], speed,
                                 lambda n: SourceDraws.draw(np.random.default_rng(5), n))
        assert ours.shape == ref.shape == (int(frames.sum()) * voice.hop_length,)
        assert np.max(np.abs(ours - ref)) < 1e-4
    assert voice.synthesize_ids(ids, seed=5).shape[0] > voice.synthesize_ids(ids, seed=5, length_scale=0.7).shape[0]


def test_seed_noise_and_voices(voice, packs):
    a = voice.synthesize(TEXT, seed=1)
    assert np.array_equal(a, voice.synthesize(TEXT, seed=1))
    assert not np.array_equal(a, voice.synthesize(TEXT, seed=2))
    quiet = voice.synthesize(TEXT, seed=1, noise_scale=0.0)
    assert np.array_equal(quiet, voice.synthesize(TEXT, seed=2, noise_scale=0.0))  # noise is the only draw
    assert np.array_equal(voice.synthesize(TEXT, seed=1, speaker="am_b"), voice.synthesize(TEXT, seed=1, speaker=1))
    ids = voice.frontend.ids(voice.phonemize(TEXT)[0])
    blended = voice.pipeline.style(len(ids), voice.pipeline.weights(
        voice_config(voice, voice="af_a:0.6,am_b:0.4")))
    np.testing.assert_allclose(blended[0], 0.6 * packs["af_a"][len(ids) - 3] + 0.4 * packs["am_b"][len(ids) - 3],
                               atol=1e-6)
    with pytest.raises(ValueError, match=r"unknown Kokoro voice 'zz_x' \(known: af_a, am_b, af_c\)"):
        voice.synthesize(TEXT, voice="af_a:0.5,zz_x:0.5")
    with pytest.raises(ValueError, match="weight of 'af_a' must be > 0"):
        voice.synthesize(TEXT, voice="af_a:-1")


def voice_config(v, **settings):  # noqa: ANN001, ANN201
    from voxport.synthesis import SynthesisConfig

    return SynthesisConfig.of(None, family_options=v.family.options, **settings)


def test_word_times_and_text_over_the_context(voice):
    chunks = list(voice.stream(TEXT, seed=1))
    words = chunks[0].timing.words
    assert [w.word for w in words] == ["Hello", "there", "it", "is", "me"]
    assert all(a.end <= b.start + 1e-9 for a, b in zip(words, words[1:], strict=False))
    long = " ".join(["hello there"] * 30) + "."  # ~300 ids against a context of 64 positions
    spoken = voice.phonemize(long)
    assert len(spoken) > 1 and all(len(voice.frontend.ids(p)) <= 64 for p in spoken)
    joined = "".join(spoken)
    assert joined.count("ð") == joined.count("h") == 30  # split at word breaks, nothing dropped
    with pytest.raises(ValueError, match="exceed Kokoro's context of 64"):
        voice.synthesize_ids([0] + [5] * 70 + [0])


def _joined(voice, text, context):  # noqa: ANN001, ANN202
    from dataclasses import replace

    reach = replace(voice.reach, decoder=context)
    ids = voice.frontend.ids(voice.phonemize(text)[0])
    u: KokoroUtterance = voice.pipeline.utterance(ids, voice_config(voice, seed=3), voice.pipeline.draws(
        voice_config(voice, seed=3)))
    whole = voice.pipeline.render(u)
    parts = list(voice.pipeline.stream(u, reach, 4, 16))
    assert [last for _, last in parts] == [False] * (len(parts) - 1) + [True]
    return whole, np.concatenate([a for a, _ in parts]), len(parts)


def test_streamed_windows_join_close_to_the_whole_and_context_helps(voice):
    text = "Hello there, it is me, and this is a somewhat longer sentence to stream."
    whole, narrow, n = _joined(voice, text, 1)
    assert n > 2 and narrow.shape == whole.shape
    _, wide, _ = _joined(voice, text, 24)
    err_narrow = np.sqrt(np.mean((narrow - whole) ** 2))
    err_wide = np.sqrt(np.mean((wide - whole) ** 2))
    assert 0 < err_wide < err_narrow  # instance norm over a window: context brings it closer to the whole
    exact, joined, n = _joined(voice, text, 0)  # the default: the sentence whole, one chunk
    assert n == 1 and np.array_equal(exact, joined)


def test_stream_context_option(voice):
    whole = voice.synthesize(TEXT, seed=4)
    chunks = list(voice.stream(TEXT, seed=4, first_chunk_frames=4, stream_context=8))
    assert len(chunks) > 1 and np.concatenate([c.audio for c in chunks]).shape == whole.shape
    assert len(list(voice.stream(TEXT, seed=4, first_chunk_frames=4))) == 1
    with pytest.raises(ValueError, match="stream_context must be a whole number"):
        list(voice.stream(TEXT, stream_context=-2))


def test_info_and_speak(bundle, tmp_path, capsys):
    from voxport.cli import main

    assert main(["info", str(bundle), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["family"] == "kokoro"
    assert set(facts["precisions"]) == {"style", "encoder", "prosody", "decoder"}
    assert main(["info", str(bundle)]) == 0
    text = capsys.readouterr().out
    assert all(name in text for name in TINY_PACKS) and "speed 1" in text
    out = tmp_path / "out.wav"
    assert main(["speak", "--bundle", str(bundle), "--speaker", "am_b", "-o", str(out), TEXT]) == 0
    assert out.stat().st_size > 1000


def test_openvino_speaks_as_onnxruntime(bundle, voice):
    pytest.importorskip("openvino")
    ov = Voice.load(bundle, runtime="openvino")
    try:
        ours, theirs = voice.synthesize(TEXT, seed=2), ov.synthesize(TEXT, seed=2)
    finally:
        ov.sessions.close()
    assert ours.shape == theirs.shape and np.max(np.abs(ours - theirs)) < 1e-4
