"""OpenVINO bucket copies: a static compile per bucket for the stages the fixed-shape runner specialises."""

from __future__ import annotations

import numpy as np
import pytest

from voxport import Voice
from voxport.bundle import Bundle
from voxport.families.vits import FAMILY as VITS
from voxport.runtimes import (
    RuntimeOptions,
    ShapePlan,
    TensorSpec,
    available_runtimes,
    open_session,
)
from voxport.runtimes.openvino_buckets import static_shapes

needs_openvino = pytest.mark.skipif("openvino" not in available_runtimes(), reason="OpenVINO is not installed")


def test_static_shapes_fix_the_axis_and_batch_and_refuse_a_second_symbolic_axis():
    latent = TensorSpec("latent", "float32", ("batch", 192, "frames"))
    mask = TensorSpec("frame_mask", "float32", ("batch", 1, "frames"))
    assert static_shapes([latent, mask], "frames", 48) == {"latent": [1, 192, 48], "frame_mask": [1, 1, 48]}
    z = TensorSpec("z", "float32", ("batch", 8, "z_steps"))
    assert static_shapes([latent, z], "frames", 48) is None


def _vocoder(bundle_path, **extra):
    bundle = Bundle.load(bundle_path)
    entry = bundle.graph("vocoder")
    return open_session("openvino", bundle.graph_path("vocoder", "fp32"), entry.inputs, entry.outputs,
                        precision="fp32", options=RuntimeOptions(threads=1, extra=extra), name="vocoder")


@needs_openvino
def test_calls_at_a_bucket_run_on_its_copy_and_equal_the_dynamic_model(tiny_bundle):
    rng = np.random.default_rng(0)
    with _vocoder(tiny_bundle) as copied, _vocoder(tiny_bundle) as dynamic:
        copied.prepare_buckets("frames", [16, 32], specialize=True)
        assert copied._copies is not None and copied._copies.sizes == (16, 32)
        channels = copied.inputs[0].shape[1]
        for n in (16, 32, 23):  # 23: no copy, so the dynamic model answers
            feeds = {"latent": rng.standard_normal((1, channels, n)).astype(np.float32),
                     "frame_mask": (np.arange(n) < n - 2).astype(np.float32).reshape(1, 1, n)}
            assert (copied._copies.request_for(feeds) is None) == (n == 23)
            np.testing.assert_allclose(copied.run(feeds)["audio"], dynamic.run(feeds)["audio"], atol=1e-5)


@needs_openvino
def test_no_copies_unless_asked_or_when_turned_off(tiny_bundle):
    with _vocoder(tiny_bundle) as plain, _vocoder(tiny_bundle, bucket_copies=False) as off:
        plain.prepare_buckets("frames", [16, 32])
        off.prepare_buckets("frames", [16, 32], specialize=True)
        assert plain._copies is None and off._copies is None


@needs_openvino
def test_a_fixed_shape_voice_compiles_a_copy_per_vocoder_bucket_only(tiny_bundle):
    with Voice.load(tiny_bundle, runtime="openvino", shapes="fixed", threads=1) as voice:
        assert voice.sessions["vocoder"]._copies.sizes == voice.engine.runners["vocoder"].buckets
        assert all(voice.sessions[s]._copies is None for s in ("encoder", "duration", "decoder"))


@needs_openvino
@pytest.mark.parametrize("plan", [ShapePlan(specialize=VITS.latency_specialize), "latency"], ids=["plan", "string"])
def test_a_latency_plan_also_copies_the_phoneme_stages_and_speaks_the_same(tiny_bundle, plan):
    with Voice.load(tiny_bundle, runtime="openvino", shapes=plan, threads=1) as voice, \
            Voice.load(tiny_bundle, shapes="dynamic", threads=1) as dynamic:
        for stage in ("encoder", "duration"):
            assert voice.sessions[stage]._copies.sizes == ShapePlan().phoneme_buckets
        assert voice.sessions["decoder"]._copies is None
        text = "A latency plan speaks exactly what the dynamic shapes speak, word for word."
        np.testing.assert_allclose(voice.synthesize(text, seed=2), dynamic.synthesize(text, seed=2), atol=1e-4)


def test_shape_plan_specialize_takes_graph_names_and_stays_out_of_the_bundle(tiny_bundle):
    assert ShapePlan().specialize is None  # the family's choice, filled in when a voice loads
    with Voice.load(tiny_bundle, shapes="fixed", threads=1) as voice:
        assert voice.engine.runners["vocoder"].plan.specialize == VITS.specialize == ("vocoder",)
    assert "specialize" not in ShapePlan(specialize=VITS.latency_specialize).to_dict()
    with pytest.raises(ValueError, match="specialize"):
        ShapePlan(specialize="vocoder")


def test_an_unknown_shapes_choice_names_the_ones_there_are(tiny_bundle):
    with pytest.raises(ValueError, match="'fixed', 'dynamic', 'latency'"):
        Voice.load(tiny_bundle, shapes="fastest", threads=1)
