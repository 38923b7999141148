"""Static-shape graphs per bucket (for NPUs): written into the bundle, compiled by OpenVINO with fully
static shapes, and giving the dynamic graphs' audio."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("onnx", reason="writing static graphs needs onnx (the export extra)")

from voxport import Voice  # noqa: E402
from voxport.bundle import Bundle  # noqa: E402
from voxport.export.static_shapes import add_static_graphs  # noqa: E402
from voxport.runtimes import ShapePlan, available_runtimes  # noqa: E402

PLAN = ShapePlan(phoneme_buckets=(32, 256), frame_buckets=(32, 64, 128))
TEXT = "Static shapes only. A second sentence, long enough to be cut into several windows of frames."


@pytest.fixture(scope="module")
def static_bundle(tiny_bundle, tmp_path_factory):
    path = tmp_path_factory.mktemp("static") / "tiny"
    shutil.copytree(tiny_bundle, path)
    written = add_static_graphs(path, PLAN)
    assert written == {"encoder": [32, 256], "duration": [32, 256], "decoder": [32, 64, 128],
                       "vocoder": [32, 64, 128]}
    return path


def test_static_graphs_are_recorded_and_verified(static_bundle):
    bundle = Bundle.load(static_bundle)  # verifies every file's hash, the static copies included
    assert bundle.manifest.shapes == PLAN
    assert bundle.graph("vocoder").static_sizes() == [32, 64, 128]
    assert bundle.graph_path("decoder", "fp32@64").name == "decoder.64.onnx"


@pytest.mark.parametrize("runtime", [r for r in ("onnxruntime", "openvino") if r in available_runtimes()])
def test_static_graphs_give_the_dynamic_audio(static_bundle, tiny_bundle, runtime):
    with Voice.load(tiny_bundle, shapes="dynamic", threads=1) as dynamic, \
            Voice.load(static_bundle, runtime=runtime, static=True, threads=1) as static:
        for a, b in zip(dynamic.iter_sentences(TEXT, seed=2), static.iter_sentences(TEXT, seed=2), strict=True):
            np.testing.assert_array_equal(a.frames, b.frames)
            np.testing.assert_allclose(b.audio, a.audio, atol=1e-4)
        streamed = np.concatenate([c.audio for c in static.stream(TEXT, seed=2)])
        np.testing.assert_allclose(streamed, dynamic.synthesize(TEXT, seed=2), atol=1e-4)


@pytest.mark.skipif("openvino" not in available_runtimes(), reason="the openvino extra is not installed")
def test_openvino_compiles_every_static_graph_with_static_shapes(static_bundle):
    with Voice.load(static_bundle, runtime="openvino", static=True, threads=1) as voice:
        for stage, sessions in voice.sessions.sessions.items():
            for size, session in sessions.by_size.items():
                compiled = session.compiled_model
                assert all(port.get_partial_shape().is_static for port in compiled.inputs), (stage, size)


def test_static_needs_the_bundle_plan(tiny_bundle):
    with pytest.raises(ValueError, match="voxport build --static"):
        Voice.load(tiny_bundle, static=True)


def test_a_lean_static_voice_trims_after_every_sentence_too(static_bundle, monkeypatch):
    import voxport.voice as voice_module

    trims = []
    monkeypatch.setattr(voice_module, "release_freed_memory", lambda: trims.append(1) or True)
    with Voice.load(static_bundle, static=True, threads=1, lean=True) as voice:
        assert voice.sessions.lean
        trims.clear()
        voice.synthesize(TEXT)
        assert len(trims) == 2  # two sentences
