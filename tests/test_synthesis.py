"""SynthesisConfig: None means the voice's default, keywords override a config, one object for every
synthesis method; and the engine's replayable draws."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from voxport.bundle.manifest import Manifest
from voxport.pipeline.noise import RandomNoise
from voxport.synthesis import DEFAULT_SCALES, Scales, SynthesisConfig


def test_none_falls_back_to_the_voice_defaults() -> None:
    voice_defaults = Scales(length_scale=1.2, noise_scale=0.5, noise_w=0.6)
    assert SynthesisConfig().scales(voice_defaults) == voice_defaults
    assert SynthesisConfig(noise_scale=0.0).scales(voice_defaults) == Scales(1.2, 0.0, 0.6)


def test_default_scales_stand_in_only_where_the_manifest_records_none(tiny_voice, monkeypatch) -> None:
    """What None means is the voice's own scales (its manifest's "inference"); DEFAULT_SCALES fills in
    a scale only where the manifest records none."""
    data = tiny_voice.bundle.manifest.to_dict()
    data["inference"] = {"length_scale": 1.3, "noise_scale": 0.2, "noise_w": 0.4}
    own = Manifest.from_dict(data)
    assert own.inference == Scales(1.3, 0.2, 0.4)  # recorded: the defaults play no part
    data["inference"] = {"noise_w": 0.4}
    assert Manifest.from_dict(data).inference == replace(DEFAULT_SCALES, noise_w=0.4)
    del data["inference"]
    assert Manifest.from_dict(data).inference == DEFAULT_SCALES
    # The engine a voice runs: a scale left None is the recorded one, one given wins.
    monkeypatch.setattr(tiny_voice.engine, "manifest", own)
    assert tiny_voice.engine.scales(SynthesisConfig()) == Scales(1.3, 0.2, 0.4)
    assert tiny_voice.engine.scales(SynthesisConfig(noise_scale=0.0)) == Scales(1.3, 0.0, 0.4)


def test_keywords_override_a_config_and_none_keeps_it() -> None:
    base = SynthesisConfig(seed=3, length_scale=1.5)
    assert SynthesisConfig.of(base, length_scale=None, noise_w=0.1) == SynthesisConfig(
        seed=3, length_scale=1.5, noise_w=0.1)
    with pytest.raises(TypeError, match="unknown synthesis setting.*'sed'"):
        SynthesisConfig.of(base, sed=1)


@pytest.mark.parametrize("bad", [{"length_scale": 0}, {"noise_scale": -1}, {"noise_w": float("nan")}])
def test_bad_scales_are_refused(bad) -> None:
    with pytest.raises(ValueError):
        SynthesisConfig(**bad).scales(DEFAULT_SCALES)


def test_bad_volume_is_refused() -> None:
    with pytest.raises(ValueError, match="volume"):
        SynthesisConfig(volume=-1)


def test_a_config_object_equals_the_same_keywords_everywhere(tiny_voice) -> None:
    config = SynthesisConfig(seed=11, noise_scale=0.3, length_scale=1.1, volume=0.5)
    text = "One config. For every method."
    by_keywords = tiny_voice.synthesize(text, seed=11, noise_scale=0.3, length_scale=1.1, volume=0.5)
    np.testing.assert_array_equal(tiny_voice.synthesize(text, config), by_keywords)
    streamed = np.concatenate([c.audio for c in tiny_voice.stream(text, config)])
    np.testing.assert_allclose(streamed, by_keywords, atol=1e-4)
    first = next(tiny_voice.iter_sentences(text, config))
    ids = first.phoneme_ids
    np.testing.assert_array_equal(tiny_voice.synthesize_ids(ids, config), first.audio)
    # A keyword beside a config wins over the config's field.
    assert not np.array_equal(tiny_voice.synthesize(text, config, seed=12), by_keywords)


def test_replayed_draws_and_forced_frames_reproduce_an_utterance(tiny_voice) -> None:
    pipeline = tiny_voice.pipeline
    ids = next(tiny_voice.iter_sentences("Replay me.")).phoneme_ids
    scales = tiny_voice.engine.scales()
    first = pipeline.prepare(ids, scales, RandomNoise(np.random.default_rng(4)))
    again = pipeline.prepare(ids, scales, first.replay(), frames=first.frames)
    np.testing.assert_array_equal(again.prior_latent, first.prior_latent)
    longer = first.frames + 1
    stretched = pipeline.prepare(ids, scales, RandomNoise(np.random.default_rng(4)), frames=longer)
    assert stretched.n_frames == int(longer.sum())
    np.testing.assert_array_equal(stretched.predicted_frames, first.frames)
    with pytest.raises(ValueError, match="replay with the recorded frames"):
        pipeline.prepare(ids, scales, first.replay(), frames=longer)
