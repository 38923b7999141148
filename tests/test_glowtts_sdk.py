"""A GlowTTS bundle through the SDK: Voice equals the torch reference with the same noise, the duration
rule, the frame multiple, Griffin-Lim, streaming, OpenVINO, the CLI and the manifest fields."""

from __future__ import annotations

import json
from itertools import pairwise

import numpy as np
import pytest

from voxport import Voice
from voxport.bundle import Bundle, BundleFormatError, Manifest
from voxport.bundle.manifest import DurationRule
from voxport.pipeline.griffin_lim import GriffinLim
from voxport.pipeline.regulate import fit_to_multiple, frames_per_phoneme
from voxport.runtimes import available_runtimes
from voxport.synthesis import SynthesisConfig

IDS = [
    [0, 5, 0, 40, 0, 77, 0, 12, 0],
    [0] + [i for p in range(10, 60, 3) for i in (p, 0)],
    [7],  # one id: fewer frames than the squeeze needs, so the SDK fills up
]
TEXT = "Streaming starts early. The rest of the sentence follows while the first words already play!"


def replay_noise(seed: int, n_ids: int):
    """The SDK's draws for one utterance: duration noise first (GlowTTS ignores it), then the prior's."""
    import torch

    rng = np.random.default_rng(seed)
    rng.standard_normal((1, 2, n_ids), dtype=np.float32)
    return lambda shape: torch.from_numpy(rng.standard_normal(shape, dtype=np.float32))


def reference(coqui, ids, seed, noise_scale, length_scale=1.0):
    """Coqui's inference in torch (the models before they were saved and re-imported) + the vocoder."""
    import torch

    with torch.no_grad():
        mel, frames = coqui["model"].infer(torch.tensor([ids]), noise_fn=replay_noise(seed, len(ids)),
                                           noise_scale=noise_scale, length_scale=length_scale)
        return coqui["vocoder"](mel)[0, 0].numpy(), mel[0].numpy(), frames.numpy()


@pytest.mark.parametrize("noise_scale", [0.0, 0.667])
@pytest.mark.parametrize("ids", IDS, ids=lambda ids: f"{len(ids)}ids")
def test_voice_equals_torch_reference_with_the_same_noise(built_glow_voice, coqui, ids, noise_scale):
    ours = built_glow_voice.synthesize_ids(ids, noise_scale=noise_scale, seed=3)
    ref, mel, _ = reference(coqui, ids, 3, noise_scale)
    assert ours.shape == ref.shape == (mel.shape[1] * 32,)
    assert float(np.max(np.abs(ours - ref))) <= 1e-3
    assert np.abs(ref).max() > 1e-3  # not trivially silent


def test_length_scale_and_the_manifest_defaults(built_glow_voice, coqui):
    glow_voice = built_glow_voice
    m = glow_voice.manifest
    assert m.family == "glowtts" and m.frame_multiple == 2 and m.durations == DurationRule(-1.0, 1)
    assert (m.inference.noise_scale, m.inference.length_scale) == (0.667, 1.0)
    ids = IDS[1]
    ours = glow_voice.synthesize_ids(ids, length_scale=1.7, seed=1)
    ref, _, _ = reference(coqui, ids, 1, 0.667, length_scale=1.7)
    assert ours.shape == ref.shape and float(np.max(np.abs(ours - ref))) <= 1e-3


def test_duration_rule_is_exp_minus_one_with_at_least_one_frame():
    logw = np.log1p(np.array([0.0, 0.5, 2.3, 3.0, -0.9, 4.0], np.float32))[None, None]
    mask = np.array([[[1, 1, 1, 1, 1, 0]]], np.float32)
    assert frames_per_phoneme(logw, mask, 1.0, offset=-1.0, min_frames=1).tolist() == [1, 1, 3, 3, 1, 0]
    assert frames_per_phoneme(logw, mask, 2.0, offset=-1.0, min_frames=1).tolist() == [1, 1, 5, 6, 1, 0]
    # VITS's rule is unchanged by default: ceil(exp(logw)), zero allowed.
    assert frames_per_phoneme(logw, mask, 1.0).tolist() == [1, 2, 4, 4, 1, 0]


def test_voice_frames_follow_coquis_durations(built_glow_voice, coqui):
    glow_voice = built_glow_voice
    ids = IDS[1]
    _, mel, coqui_frames = reference(coqui, ids, 0, 0.0)
    scales = glow_voice.engine.scales(SynthesisConfig(noise_scale=0.0))
    prepared = glow_voice.pipeline.prepare(ids, scales, np.random.default_rng(0), None)
    assert prepared.frames.min() >= 0 and prepared.n_frames == prepared.frames.sum() == mel.shape[1]
    assert prepared.n_frames % 2 == 0
    # Only the tail of the last phonemes may have been cut to the multiple, by less than one multiple.
    assert 0 <= coqui_frames.sum() - prepared.frames.sum() < 2
    np.testing.assert_array_equal(prepared.frames[:-1], coqui_frames[:-1])


def test_frame_multiple_trims_the_tail_or_fills_up():
    np.testing.assert_array_equal(fit_to_multiple(np.array([2, 3, 1, 1]), 2), [2, 3, 1, 0])
    np.testing.assert_array_equal(fit_to_multiple(np.array([2, 3, 0, 0]), 4), [2, 2, 0, 0])
    np.testing.assert_array_equal(fit_to_multiple(np.array([1]), 2), [2])
    np.testing.assert_array_equal(fit_to_multiple(np.array([2, 1, 1]), 2), [2, 1, 1])
    np.testing.assert_array_equal(fit_to_multiple(np.array([1, 2]), 1), [1, 2])


def test_decoder_windows_must_lie_on_the_frame_multiple(glow_voice):
    prepared = glow_voice.pipeline.prepare(IDS[1], glow_voice.engine.scales(),
                                         np.random.default_rng(0), None)
    with pytest.raises(ValueError, match="multiples of 2"):
        glow_voice.pipeline.decode(prepared, 1, 9)
    assert glow_voice.pipeline.decode(prepared, 2, 10).shape == (1, 16, 8)


@pytest.mark.parametrize("first,size", [(1, 1), (3, 17), (8, 512), (10_000, 10_000)])
def test_stream_equals_synthesize_on_the_hifigan_bundle(glow_voice, first, size):
    ref = glow_voice.synthesize(TEXT, seed=11)
    chunks = list(glow_voice.stream(TEXT, seed=11, first_chunk_frames=first, chunk_frames=size))
    out = np.concatenate([c.audio for c in chunks])
    assert out.shape == ref.shape and float(np.max(np.abs(out - ref))) <= 1e-4
    assert [c.offset for c in chunks] == np.cumsum([0] + [c.audio.size for c in chunks[:-1]]).tolist()
    if first == 1:
        assert chunks[0].audio.size == 32  # one frame first, though the decoder works on pairs


def test_reach_is_measured_on_the_frame_multiple(glow_voice):
    recorded = glow_voice.manifest.streaming
    assert recorded.decoder >= 1 and recorded.vocoder >= 1


def test_griffin_lim_bundle_gives_audio_of_the_right_length(griffin_lim_bundle, glow_voice):
    with Voice.load(griffin_lim_bundle, threads=1) as voice:
        assert "vocoder" not in voice.bundle.stages and voice.manifest.mel.griffin_lim_iters == 10
        prepared = voice.pipeline.prepare(IDS[1], voice.engine.scales(), np.random.default_rng(2), None)
        audio = voice.synthesize_ids(IDS[1], seed=2)
        assert audio.dtype == np.float32 and audio.shape == (prepared.n_frames * voice.hop_length,)
        assert np.all(np.isfinite(audio)) and np.abs(audio).max() <= 1.0 and audio.std() > 0
        mel = voice.pipeline.decode(prepared)  # the same mel the HiFi-GAN bundle would vocode
        np.testing.assert_array_equal(mel, glow_voice.pipeline.decode(prepared))
        expected = GriffinLim(voice.manifest.mel, voice.sample_rate, voice.hop_length)(mel)
        np.testing.assert_array_equal(audio, expected)
        # Not local in time: each sentence streams as one chunk, equal to synthesize.
        chunks = list(voice.stream("One sentence. And another one.", seed=4))
        assert [c.sentence_index for c in chunks] == [0, -1, 1]
        joined = np.concatenate([c.audio for c in chunks])
        np.testing.assert_array_equal(joined, voice.synthesize("One sentence. And another one.", seed=4))
        assert voice.reach.vocoder is None


@pytest.mark.skipif("openvino" not in available_runtimes(), reason="the openvino extra is not installed")
@pytest.mark.parametrize("bundle", ["hifigan_bundle", "griffin_lim_bundle"])
def test_every_stage_on_openvino_matches_onnxruntime(request, bundle):
    path = request.getfixturevalue(bundle)
    with Voice.load(path, threads=1) as cpu, Voice.load(path, runtime="openvino", threads=1) as ov:
        assert {s.runtime for s in ov.sessions.sessions.values()} == {"openvino"}
        for ids in IDS:
            want = cpu.synthesize_ids(ids, seed=5)
            got = ov.synthesize_ids(ids, seed=5)
            assert got.shape == want.shape
            # Griffin-Lim iterates on the mel: compare the decoder's output for that bundle.
            if bundle == "griffin_lim_bundle":
                prep = cpu.pipeline.prepare(ids, cpu.engine.scales(), np.random.default_rng(5), None)
                want, got = cpu.pipeline.decode(prep), ov.pipeline.decode(prep)
            assert float(np.max(np.abs(got - want))) <= 1e-3


def test_cli_builds_a_coqui_bundle(coqui, tmp_path):
    from voxport.cli import main

    out = tmp_path / "cli-bundle"
    assert main(["build", "--coqui", *map(str, coqui["files"]), "--vocoder", *map(str, coqui["voc_files"]),
                 "-o", str(out), "--quiet"]) == 0
    bundle = Bundle.load(out)
    assert set(bundle.stages) == {"encoder", "duration", "decoder", "vocoder"}
    assert bundle.manifest.source["kind"] == "coqui" and bundle.manifest.extra["vocoder"]["kind"] == "hifigan"


def test_manifest_fields_round_trip_and_are_validated(hifigan_bundle):
    data = json.loads((hifigan_bundle / "manifest.json").read_text())
    assert data["durations"] == {"offset": -1.0, "min_frames": 1} and data["frame_multiple"] == 2
    assert data["mel"]["normalization"]["kind"] == "range" and data["mel"]["n_mels"] == 16
    manifest = Manifest.from_dict(data)
    assert Manifest.from_dict(manifest.to_dict()) == manifest
    old = {k: v for k, v in data.items() if k not in ("durations", "frame_multiple", "mel")}
    legacy = Manifest.from_dict(old)  # manifests written before these fields load with VITS's defaults
    assert legacy.durations == DurationRule() and legacy.frame_multiple == 1 and legacy.mel is None
    assert set(legacy.to_dict()) == set(old)
    for field, edit in [("frame_multiple", lambda d: d.update(frame_multiple=0)),
                        ("durations.min_frames", lambda d: d["durations"].update(min_frames=-1)),
                        ("mel.win_length", lambda d: d["mel"].update(win_length=4096)),
                        ("mel.fmax", lambda d: d["mel"].update(fmax=9000.0)),
                        ("mel.normalization.kind", lambda d: d["mel"]["normalization"].update(kind="mean_std"))]:
        bad = json.loads(json.dumps(data))
        edit(bad)
        with pytest.raises(BundleFormatError, match=field.replace(".", r"\.")):
            Manifest.from_dict(bad)


def test_words_get_timestamps_from_the_fitted_frames(glow_voice):
    [chunk, *_] = glow_voice.stream("One two three.", seed=2)
    words = chunk.timing.words
    assert [w.word for w in words] == ["One", "two", "three"]
    for a, b in pairwise(words):
        assert a.start < a.end <= b.start
