"""Voice on a tiny generated bundle: parity with a Piper-style monolith, determinism, bad input."""

from __future__ import annotations

import shutil
import tracemalloc
import warnings

import numpy as np
import pytest

from voxport import Voice
from voxport.bundle import BundleFormatError, BundleIntegrityError
from voxport.errors import UnknownSymbolWarning
from voxport.runtimes import KNOWN_RUNTIMES, RuntimeUnavailableError, available_runtimes

ID_SEQUENCES = [
    [1, 0, 20, 0, 2],
    [1, 0] + [i for p in range(14, 60) for i in (p, 0)] + [2],
    [1, 0] + [i for p in (24, 59, 3, 31, 120, 10) for i in (p, 0)] + [2],
]


@pytest.mark.parametrize("ids", ID_SEQUENCES, ids=lambda ids: f"{len(ids)}ids")
def test_split_bundle_reproduces_the_monolith_from_ids(built_tiny_voice, tiny_piper_voice, ids):
    from support.tiny import run_monolith

    ours = built_tiny_voice.synthesize_ids(ids, noise_scale=0.0, noise_w=0.0)
    ref = run_monolith(tiny_piper_voice, ids)
    assert ours.dtype == np.float32
    assert ours.shape == ref.shape
    assert np.max(np.abs(ours - ref)) <= 1e-3


def test_split_bundle_reproduces_the_monolith_from_text(built_tiny_voice, tiny_piper_voice):
    from support.tiny import run_monolith

    text = "The quick brown fox jumps over the lazy dog."
    [(_, _, ids)] = list(built_tiny_voice.frontend.text_to_ids(text))
    ours = built_tiny_voice.synthesize(text, noise_scale=0.0, noise_w=0.0)
    ref = run_monolith(tiny_piper_voice, ids)
    assert ours.shape == ref.shape
    assert np.max(np.abs(ours - ref)) <= 1e-3


def test_same_seed_same_audio_other_seed_other_audio(tiny_voice):
    text = "Seeds make synthesis repeatable. Even across sentences."
    a = tiny_voice.synthesize(text, seed=7)
    b = tiny_voice.synthesize(text, seed=7)
    c = tiny_voice.synthesize(text, seed=8)
    np.testing.assert_array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_length_scale_stretches_every_phoneme(tiny_voice):
    ids = ID_SEQUENCES[1]
    base = tiny_voice.synthesize_ids(ids, noise_scale=0.0, noise_w=0.0)
    slow = tiny_voice.synthesize_ids(ids, noise_scale=0.0, noise_w=0.0, length_scale=2.0)
    assert 1.8 * base.size <= slow.size <= 2.2 * base.size + 2 * tiny_voice.hop_length * len(ids)


def test_output_is_bounded_and_volume_is_a_fixed_gain(tiny_voice):
    audio = tiny_voice.synthesize("Loud and clear.", seed=1)
    assert np.all(np.abs(audio) <= 1.0)
    half = tiny_voice.synthesize("Loud and clear.", seed=1, volume=0.5)
    np.testing.assert_allclose(half, audio * 0.5, atol=1e-7)


def test_sentences_are_joined_with_the_configured_silence(tiny_voice):
    one = tiny_voice.synthesize("First one.", seed=3)
    parts = list(tiny_voice.iter_sentences("First one. Second one.", seed=3))
    both = tiny_voice.synthesize("First one. Second one.", seed=3)
    gap = round(tiny_voice.sentence_silence * tiny_voice.sample_rate)
    assert len(parts) == 2
    np.testing.assert_array_equal(both[: one.size], one)
    assert both.size == parts[0].audio.size + gap + parts[1].audio.size
    assert not both[one.size : one.size + gap].any()


@pytest.mark.parametrize("text", ["", "   ", "\n\t \n"])
def test_empty_text_gives_empty_audio_without_warnings(tiny_voice, text):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        audio = tiny_voice.synthesize(text)
    assert audio.dtype == np.float32 and audio.size == 0


def test_emoji_are_skipped_with_a_warning(tiny_voice):
    with pytest.warns(UnknownSymbolWarning, match="😀"):
        with_emoji = tiny_voice.synthesize("Hello 😀 world.", seed=5)
    np.testing.assert_array_equal(with_emoji, tiny_voice.synthesize("Hello world.", seed=5))


def test_text_of_only_emoji_gives_empty_audio(tiny_voice):
    with pytest.warns(UnknownSymbolWarning):
        assert tiny_voice.synthesize("🎉🎉🎉").size == 0


def test_out_of_vocabulary_ids_are_refused(tiny_voice):
    with pytest.raises(ValueError, match="phoneme ids must lie in"):
        tiny_voice.synthesize_ids([1, 0, 9999, 0, 2])


def test_bad_scales_are_refused(tiny_voice):
    with pytest.raises(ValueError, match="length_scale"):
        tiny_voice.synthesize("Hi.", length_scale=0)
    with pytest.raises(ValueError, match="noise"):
        tiny_voice.synthesize("Hi.", noise_scale=-1)


def test_long_text_streams_sentence_by_sentence_in_flat_memory(tiny_voice):
    sentence = (
        "Long texts arrive in pieces, and every piece is spoken on its own, so nothing waits for the end, "
        "and the memory in use stays the same from the first page to the last. "
    )
    text = sentence * (100_000 // len(sentence) + 1)
    assert len(text) >= 100_000

    def peak_after(n_sentences: int) -> tuple[int, int]:
        tracemalloc.start()
        count = 0
        for part in tiny_voice.iter_sentences(text, seed=0):
            count += 1
            assert part.audio.size > 0
            if count == n_sentences:
                break
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return count, peak

    few, peak_few = peak_after(20)
    many, peak_all = peak_after(10**9)
    assert few == 20 and many >= 500
    # Python-side allocations while speaking 25x more sentences stay within a small margin.
    assert peak_all < 2 * peak_few, (peak_few, peak_all)


@pytest.fixture
def bundle_copy(tiny_bundle, tmp_path):
    return shutil.copytree(tiny_bundle, tmp_path / "bundle")


def test_truncated_graph_is_refused_naming_the_file(bundle_copy):
    graph = bundle_copy / "vocoder.onnx"
    graph.write_bytes(graph.read_bytes()[:-100])
    with pytest.raises(BundleIntegrityError, match="vocoder.onnx"):
        Voice.load(bundle_copy)


def test_tampered_graph_is_refused_naming_the_file(bundle_copy):
    graph = bundle_copy / "decoder.onnx"
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF
    graph.write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match="decoder.onnx"):
        Voice.load(bundle_copy)


def test_edited_manifest_is_refused_naming_the_field(bundle_copy):
    manifest = bundle_copy / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"sample_rate"', '"sample_rat"'))
    with pytest.raises(BundleFormatError, match="sample_rat"):
        Voice.load(bundle_copy)


def test_missing_backend_names_the_available_ones_and_the_extra(tiny_bundle):
    missing = [name for name in KNOWN_RUNTIMES if name not in available_runtimes()]
    if not missing:
        pytest.skip("every runtime voxport knows is installed here")
    with pytest.raises(RuntimeUnavailableError) as info:
        Voice.load(tiny_bundle, runtime=missing[0])
    assert "onnxruntime" in str(info.value) and f"voxport[{KNOWN_RUNTIMES[missing[0]]}]" in str(info.value)


def test_runtime_can_be_chosen_per_stage(tiny_bundle):
    if "openvino" not in available_runtimes():
        pytest.skip("needs a second runtime to tell stages apart: OpenVINO is not installed")
    for choice, expected in (
        ({"vocoder": "openvino", "default": "cpu"}, ("onnxruntime", "onnxruntime", "onnxruntime", "openvino")),
        ({"encoder": "ort", "default": "openvino"}, ("onnxruntime", "openvino", "openvino", "openvino")),
    ):
        with Voice.load(tiny_bundle, runtime=choice) as voice:
            assert tuple(s.runtime for s in voice.sessions.sessions.values()) == expected
            assert tuple(voice.sessions.sessions) == ("encoder", "duration", "decoder", "vocoder")
    with pytest.raises(ValueError, match="unknown stages"):
        Voice.load(tiny_bundle, runtime={"vocoderr": "cpu"})
