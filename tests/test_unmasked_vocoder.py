"""The vocoder's unmasked copy ("fp32:unmasked"): written, hashed and verified with the bundle, equal to
the masked graph fed a ones mask, opened only for calls that are never padded, and optional (bundles
without it run the masked graph)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from voxport import Voice
from voxport.bundle import Bundle, BundleIntegrityError
from voxport.bundle import contract as c
from voxport.bundle.manifest import Manifest, unmasked_variant
from voxport.pipeline.sessions import StageSessions
from voxport.runtimes import ShapePlan, available_runtimes, open_session

UNMASKED = unmasked_variant("fp32")
TEXT = "A somewhat longer sentence, with a comma and several words in it."


def _vocoder_file(voice: Voice) -> str:
    return voice.sessions[c.VOCODER].model_path.as_posix()


def _without_copy(src: Path, dst: Path) -> Path:
    """A copy of `src` as bundles were before the unmasked copy: no variant, no file."""
    shutil.copytree(src, dst)
    manifest = json.loads((dst / "manifest.json").read_text(encoding="utf-8"))
    del manifest["graphs"][c.VOCODER]["variants"][UNMASKED]
    (dst / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    shutil.rmtree(dst / "unmasked")
    return dst


def test_unmasked_variant_key():
    assert unmasked_variant("fp32") == "fp32:unmasked"


def test_the_build_writes_and_hashes_the_copy(tiny_bundle):
    bundle = Bundle.load(tiny_bundle)  # verify=True: the copy's size and sha256 are checked with the rest
    entry = bundle.graph(c.VOCODER)
    assert entry.variants[UNMASKED].file == "unmasked/vocoder.onnx"
    assert c.FRAME_MASK in {t.name for t in entry.inputs}  # the entry stays the masked graph's
    # Only the vocoder has one, and the bf16/fp16 (polyphase) files are the masked graph's.
    assert [s for s, g in bundle.manifest.graphs.items() if UNMASKED in g.variants] == [c.VOCODER]
    assert bundle.manifest.extra["max_abs_diff_vs_torch"]["vocoder:unmasked"] <= 1e-3
    onnx = pytest.importorskip("onnx", reason="reading the graph's nodes needs onnx (the export extra)")

    graph = onnx.load(str(bundle.graph_path(c.VOCODER, UNMASKED)))
    assert [i.name for i in graph.graph.input] == [c.LATENT]
    assert not any(n.op_type == "Mul" for n in graph.graph.node)  # nothing left to multiply a mask by


def test_a_tampered_copy_is_refused(tiny_bundle, tmp_path):
    bundle_dir = Path(shutil.copytree(tiny_bundle, tmp_path / "tampered"))
    with open(bundle_dir / "unmasked" / "vocoder.onnx", "r+b") as f:
        data = bytearray(f.read())
        data[-1] ^= 0xFF  # same size: caught by the hash, not the size check
        f.seek(0)
        f.write(data)
    with pytest.raises(BundleIntegrityError, match="fp32:unmasked"):
        Bundle.load(bundle_dir)


def test_the_copy_computes_what_the_masked_graph_does_with_a_ones_mask(tiny_bundle):
    bundle = Bundle.load(tiny_bundle)
    entry = bundle.graph(c.VOCODER)
    unmasked_inputs = tuple(t for t in entry.inputs if t.name != c.FRAME_MASK)
    rng = np.random.default_rng(0)
    channels = entry.inputs[0].shape[1]
    with open_session("onnxruntime", bundle.graph_path(c.VOCODER), entry.inputs, entry.outputs) as masked, \
            open_session("onnxruntime", bundle.graph_path(c.VOCODER, UNMASKED), unmasked_inputs,
                         entry.outputs) as unmasked:
        for n in (1, 7, 64, 301):
            latent = rng.standard_normal((1, channels, n)).astype(np.float32)
            want = masked.run({c.LATENT: latent, c.FRAME_MASK: np.ones((1, 1, n), np.float32)})[c.AUDIO]
            got = unmasked.run({c.LATENT: latent})[c.AUDIO]
            assert got.shape == want.shape
            assert float(np.max(np.abs(got - want))) <= 1e-6


def test_onnxruntime_dynamic_opens_the_copy_and_speaks_as_the_masked_graph(tiny_bundle, tmp_path):
    old = _without_copy(tiny_bundle, tmp_path / "old")
    with Voice.load(tiny_bundle, threads=1) as new_voice, Voice.load(old, threads=1) as old_voice:
        assert _vocoder_file(new_voice).endswith("unmasked/vocoder.onnx")
        assert c.FRAME_MASK not in new_voice.sessions.input_names(c.VOCODER)
        assert c.VOCODER not in new_voice.engine.runners  # dynamic: never padded
        # A bundle from before the copy still loads, and runs its masked graph as it did.
        assert _vocoder_file(old_voice).endswith("/vocoder.onnx") and "unmasked" not in _vocoder_file(old_voice)
        assert c.FRAME_MASK in old_voice.sessions.input_names(c.VOCODER)
        for seed, text in enumerate(("Hi.", TEXT)):
            got, want = new_voice.synthesize(text, seed=seed), old_voice.synthesize(text, seed=seed)
            assert got.shape == want.shape and float(np.max(np.abs(got - want))) <= 1e-6
        streamed = np.concatenate([ch.audio for ch in new_voice.stream(TEXT, seed=3)])
        np.testing.assert_allclose(streamed, old_voice.synthesize(TEXT, seed=3), atol=1e-6)


@pytest.mark.parametrize("shapes", ["fixed", ShapePlan(phoneme_buckets=(16, 48, 512), frame_buckets=(24, 40))],
                         ids=["fixed", "windowed-plan"])
def test_fixed_shapes_open_the_masked_graph_and_still_pad_exactly(tiny_bundle, shapes):
    with Voice.load(tiny_bundle, shapes=shapes, threads=1) as fixed, \
            Voice.load(tiny_bundle, shapes="dynamic", threads=1) as dynamic:
        assert "unmasked" not in _vocoder_file(fixed) and c.VOCODER in fixed.engine.runners
        assert "unmasked" in _vocoder_file(dynamic)
        np.testing.assert_allclose(fixed.synthesize(TEXT, seed=1), dynamic.synthesize(TEXT, seed=1), atol=1e-4)


@pytest.mark.skipif("openvino" not in available_runtimes(), reason="OpenVINO is not installed")
def test_openvino_opens_the_copy_only_when_dynamic(tiny_bundle):
    with Voice.load(tiny_bundle, runtime="openvino", threads=1) as fixed:  # its default: fixed shapes
        assert "unmasked" not in _vocoder_file(fixed) and c.VOCODER in fixed.engine.runners
    with Voice.load(tiny_bundle, runtime="ov", shapes="dynamic", threads=1) as dynamic:
        assert "unmasked" in _vocoder_file(dynamic)
    # bf16 runs the polyphase file, which has no unmasked copy (what is opened, decided before any CPU is asked).
    from voxport.pipeline.precision import resolve

    bundle = Bundle.load(tiny_bundle)
    plan = resolve(bundle, "openvino", "bf16", unpadded=bundle.stages)[c.VOCODER]
    assert plan.path(bundle).as_posix().endswith("polyphase/vocoder.onnx") and c.FRAME_MASK in {
        t.name for t in plan.inputs}


def test_stage_sessions_open_the_copy_only_when_asked(tiny_bundle, tmp_path):
    bundle = Bundle.load(tiny_bundle)
    with StageSessions.open(bundle) as plain:
        assert c.FRAME_MASK in plain.input_names(c.VOCODER)
    with StageSessions.open(bundle, unpadded=bundle.stages) as unpadded:
        assert c.FRAME_MASK not in unpadded.input_names(c.VOCODER)
        assert c.FRAME_MASK in unpadded.input_names(c.DECODER)  # the decoder has no copy
    # A file override (a calibration candidate) is opened as given, with the manifest's inputs.
    masked = bundle.graph_path(c.VOCODER)
    with StageSessions.open(bundle, files={c.VOCODER: masked}, unpadded=bundle.stages) as candidate:
        assert candidate[c.VOCODER].model_path == masked
        assert c.FRAME_MASK in candidate.input_names(c.VOCODER)


def test_manifest_round_trip_keeps_the_key(tiny_bundle):
    manifest = Bundle.load(tiny_bundle).manifest
    again = Manifest.from_dict(json.loads(json.dumps(manifest.to_dict())))
    assert again.graphs[c.VOCODER].variants[UNMASKED] == manifest.graphs[c.VOCODER].variants[UNMASKED]
    assert again == manifest


@pytest.mark.parametrize("overrides", [{}, {"n_speakers": 3, "gin_channels": 8}], ids=["single", "multi-speaker"])
def test_exported_copy_equals_the_masked_export(tmp_path, overrides):
    pytest.importorskip("torch", reason="exporting graphs needs the export extra (torch)")
    from support.tiny import tiny_model

    from voxport.export.onnx_export import export_graph
    from voxport.export.vits.graphs import vits_graph_specs, vits_unmasked_specs

    model = tiny_model(**overrides)
    masked, unmasked = vits_graph_specs(model)[c.VOCODER], vits_unmasked_specs(model)[c.VOCODER]
    assert [t.name for t in unmasked.inputs] == [t.name for t in masked.inputs if t.name != c.FRAME_MASK]
    assert export_graph(masked, tmp_path / "m.onnx") <= masked.atol
    assert export_graph(unmasked, tmp_path / "u.onnx") <= unmasked.atol
    import onnxruntime as ort

    m = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    u = ort.InferenceSession(str(tmp_path / "u.onnx"), providers=["CPUExecutionProvider"])
    feeds = unmasked.example(40, np.random.default_rng(0))
    want = m.run(None, {**feeds, c.FRAME_MASK: np.ones((1, 1, 40), np.float32)})[0]
    assert float(np.max(np.abs(u.run(None, feeds)[0] - want))) <= 1e-6


def test_a_copy_whose_inputs_are_not_the_masked_ones_minus_the_mask_is_refused(tmp_path):
    pytest.importorskip("torch", reason="exporting graphs needs the export extra (torch)")
    from support.tiny import tiny_model

    from voxport.bundle.manifest import GraphEntry
    from voxport.export.bundle_writer import _unmasked_copy
    from voxport.export.vits.graphs import vits_graph_specs

    masked = vits_graph_specs(tiny_model())[c.VOCODER]
    entry = GraphEntry(masked.inputs, masked.outputs, {})
    with pytest.raises(ValueError, match="inputs minus 'frame_mask'"):
        _unmasked_copy(tmp_path, c.VOCODER, masked, entry)  # still takes frame_mask
