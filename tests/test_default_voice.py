"""The real default voice (Piper en_US-joe-medium): split bundle vs the original graph. Marked slow."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from voxport.synthesis import SynthesisConfig

pytestmark = pytest.mark.slow

SENTENCES = [
    "Hello world, this is a test.",
    "The quick brown fox jumps over the lazy dog!",
    "How are you today?",
    "On Tuesday, Dr. Smith paid $5.50 for 3 apples at 9:30 am.",
    "Streaming speech synthesis lets an assistant start talking before it has finished thinking.",
]


@pytest.fixture(scope="module")
def joe_voice(joe_bundle):
    from voxport import Voice

    voice = Voice.load(joe_bundle)
    yield voice
    voice.close()


@pytest.fixture(scope="module")
def piper_graph(joe_files):
    from voxport.tools.piper_monolith import PiperMonolith

    with PiperMonolith.open(joe_files[0]) as graph:
        yield graph


@pytest.mark.parametrize("text", SENTENCES)
def test_bundle_matches_the_original_piper_graph(joe_voice, piper_graph, text):
    [(_, _, ids)] = list(joe_voice.frontend.text_to_ids(text))
    # Noise 0 (Piper's deterministic setting) at the voice's own length scale, as the split runs below.
    ref = piper_graph.synthesize_ids(ids, joe_voice.engine.scales(SynthesisConfig(noise_scale=0.0, noise_w=0.0)))
    from_ids = joe_voice.synthesize_ids(ids, noise_scale=0.0, noise_w=0.0)
    from_text = joe_voice.synthesize(text, noise_scale=0.0, noise_w=0.0)
    for ours in (from_ids, from_text):
        assert ours.shape == ref.shape
        assert float(np.max(np.abs(ours - ref))) <= 1e-3


def test_manifest_records_provenance_and_validation(joe_voice):
    m = joe_voice.manifest
    assert m.sample_rate == 22050 and m.hop_length == 256
    assert m.source["kind"] == "piper" and len(m.source["sha256"]) == 64
    assert set(m.extra["max_abs_diff_vs_torch"]) == {"encoder", "duration", "decoder", "vocoder", "vocoder:unmasked"}
    assert all(v <= 1e-3 for v in m.extra["max_abs_diff_vs_torch"].values())


def test_default_voice_is_built_into_the_cache_on_first_use(tmp_path, joe_bundle):
    """First use builds through the CLI in a child process; the parent never imports torch."""
    env = {**os.environ, "VOXPORT_CACHE_DIR": str(tmp_path)}
    code = (
        "import sys\n"
        "from voxport import Voice\n"
        "voice = Voice.load()\n"
        "audio = voice.synthesize('Hi.', seed=0)\n"
        "assert audio.size > 0\n"
        "assert 'torch' not in sys.modules\n"
        "print(voice.bundle.root)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(tmp_path))
    assert "exporting and validating vocoder" in result.stderr  # the progress display


def test_receptive_field_is_measured_on_the_real_voice(joe_voice):
    from voxport.pipeline.reach import measure_reach

    reach = measure_reach(joe_voice.engine)
    # 4 coupling layers x 4 WaveNet convolutions of kernel 5 (radius 2) reach exactly 32 frames.
    assert reach.decoder == 32
    # HiFi-GAN: measured, not derived; a margin smaller than this would corrupt chunk edges.
    assert 4 <= reach.vocoder <= 32
    assert joe_voice.manifest.streaming == reach


@pytest.mark.parametrize("text", SENTENCES[:3])
def test_real_voice_stream_equals_synthesize(joe_voice, text):
    ref = joe_voice.synthesize(text, seed=5)
    for first, size in ((1, 8), (8, 512)):
        out = np.concatenate([c.audio for c in joe_voice.stream(text, seed=5, first_chunk_frames=first,
                                                                 chunk_frames=size)])
        assert out.shape == ref.shape
        assert float(np.max(np.abs(out - ref))) <= 1e-4


def test_word_spans_hold_the_speech_energy(joe_voice):
    text = "Seven bright green apples fell from the tall tree."
    chunks = list(joe_voice.stream(text, seed=0, noise_scale=0.0, noise_w=0.0))
    audio = np.concatenate([c.audio for c in chunks])
    timing = chunks[0].timing
    assert timing.words_aligned
    assert [w.word for w in timing.words] == text.rstrip(".").split()
    rate = joe_voice.sample_rate
    inside = np.zeros(audio.size, bool)
    for w in timing.words:
        assert 0 <= w.start < w.end <= audio.size / rate
        span = audio[int(w.start * rate) : int(w.end * rate)]
        inside[int(w.start * rate) : int(w.end * rate)] = True
        # Every word is voiced: its RMS is well above the quietest parts of the utterance.
        assert np.sqrt(np.mean(span**2)) > 4 * np.percentile(np.abs(audio), 10)
    energy = audio**2
    assert energy[inside].sum() >= 0.9 * energy.sum()


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_real_voice_on_fixed_shapes_equals_dynamic_shapes(joe_voice, joe_bundle, runtime):
    """Bucket padding and windowing on the real graphs: the same frames, and audio within 1e-4."""
    from voxport import Voice
    from voxport.runtimes import available_runtimes

    if runtime not in available_runtimes():
        pytest.skip(f"{runtime} is not installed")
    text = " ".join(SENTENCES) + " " + "And then a sentence long enough to need more than one window, " * 3 + "ends."
    with Voice.load(joe_bundle, runtime=runtime, shapes="fixed") as fixed, \
            Voice.load(joe_bundle, runtime=runtime, shapes="dynamic") as dynamic:
        assert set(fixed.engine.runners) == {"encoder", "duration", "decoder", "vocoder"}
        for a, b in zip(dynamic.iter_sentences(text, seed=3), fixed.iter_sentences(text, seed=3), strict=True):
            np.testing.assert_array_equal(a.frames, b.frames)
            assert float(np.max(np.abs(a.audio - b.audio))) <= 1e-4
