"""The manifest against the stage contract: pipeline order, required stages and tensors, typed fields
the engine reads (n_vocab, streaming reach, calibration policies), and reading format-1 bundles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_bundle import edit_manifest, make_bundle

from voxport.bundle import Bundle, BundleFormatError
from voxport.bundle.contract import CONTRACTS, STAGES, pipeline_order
from voxport.bundle.manifest import CalibrationPolicy, Reach


@pytest.fixture
def bdir(tmp_path: Path) -> Path:
    make_bundle(tmp_path / "bundle")
    return tmp_path / "bundle"


def test_pipeline_order_ignores_json_order(bdir: Path) -> None:
    def reverse(d: dict) -> None:
        d["graphs"] = dict(reversed(list(d["graphs"].items())))

    edit_manifest(bdir, reverse)
    assert list(json.loads((bdir / "manifest.json").read_text())["graphs"])[0] == "decoder"
    assert Bundle.load(bdir).stages == ("encoder", "duration", "decoder")
    assert pipeline_order({"vocoder", "encoder"}) == ("encoder", "vocoder")


@pytest.mark.parametrize(
    ("edit", "field", "message"),
    [
        (lambda d: d["graphs"].pop("duration"), "graphs.duration", "required"),
        (lambda d: d["graphs"].update(postnet=d["graphs"]["decoder"]), "graphs.postnet", "not a pipeline stage"),
        (lambda d: d["graphs"]["decoder"]["inputs"][0].update(name="z"), "graphs.decoder",
         "lacks the input 'prior_latent'"),
        (lambda d: d["graphs"]["duration"]["outputs"][0].update(name="logw"), "graphs.duration",
         "unknown output 'logw'"),
        (lambda d: d.pop("n_vocab"), "n_vocab", "required"),
        (lambda d: d.update(inference={"length_scale": 0}), "inference", "length_scale must be > 0"),
        (lambda d: d.update(inference={"speed": 1.0}), "inference.speed", "not a known manifest field"),
        (lambda d: d.update(streaming={"decoder_context_frames": -1}), "streaming.decoder_context_frames", ">= 0"),
        (lambda d: d.update(calibration={"openvino": {"precisions": {"decoder": "int4"}, "report": "r.json"}}),
         "calibration.openvino.precisions.decoder", "must be one of"),
        (lambda d: d.update(calibration={"openvino": {"precisions": {"vocoder": "int8"}, "report": "r.json"}}),
         "calibration.openvino.precisions.vocoder", "not a stage of this bundle"),
    ],
)
def test_contract_and_engine_fields_are_validated(bdir: Path, edit, field: str, message: str) -> None:
    edit_manifest(bdir, edit)
    with pytest.raises(BundleFormatError, match=message) as ei:
        Bundle.load(bdir)
    assert ei.value.field == field


def test_typed_fields_round_trip(bdir: Path) -> None:
    edit_manifest(bdir, lambda d: d.update(
        streaming={"decoder_context_frames": 32, "vocoder_context_frames": None},
        calibration={"openvino": {"precisions": {"decoder": "int8-bf16"}, "report": "calibration/r.json",
                                  "seed": 3}}))
    m = Bundle.load(bdir).manifest
    assert m.streaming == Reach(32, None)
    # The format-2 object keyed by runtime reads as one policy of unrecorded device class.
    assert m.calibration == (CalibrationPolicy({"decoder": "int8-bf16"}, "calibration/r.json", 3, runtime="openvino"),)
    assert m.policies_for("openvino")[0].int8_stages == ["decoder"] and m.policies_for("onnxruntime") == ()
    assert type(m).from_dict(json.loads(json.dumps(m.to_dict()))) == m


def test_policies_per_device_class_round_trip(bdir: Path) -> None:
    arm = {"arch": "arm64", "features": ["fp16", "dotprod"], "precisions": ["fp32", "fp16", "int8"]}
    edit_manifest(bdir, lambda d: d.update(calibration=[
        {"runtime": "openvino", "precisions": {"decoder": "bf16"}, "report": "a.json", "machine": "Xeon",
         "device": {"arch": "x86_64", "features": ["amx-bf16"], "precisions": ["fp32", "bf16", "int8"]},
         "passed": {"decoder": ["bf16", "fp16"]}},
        {"runtime": "openvino", "precisions": {"decoder": "fp16"}, "report": "b.json", "device": arm,
         "timed": False, "emulated": True}]))
    m = Bundle.load(bdir).manifest
    first, second = m.policies_for("openvino")
    assert first.device.features == ("amx-bf16",) and first.safe("decoder") == ["bf16", "fp16"] and first.timed
    assert second.device.arch == "arm64" and not second.timed and second.emulated
    assert "quality-checked by emulation" in second.describe()
    assert type(m).from_dict(json.loads(json.dumps(m.to_dict()))) == m


@pytest.mark.parametrize(("policy", "field"), [
    ({"precisions": {"decoder": "bf16"}, "report": "a.json"}, "calibration[0].runtime"),
    ({"runtime": "openvino", "precisions": {}, "report": "a.json", "passed": {"decoder": ["int4"]}},
     "calibration[0].passed.decoder[0]"),
    ({"runtime": "openvino", "precisions": {}, "report": "a.json", "device": {"arch": "arm64", "cores": 4}},
     "calibration[0].device.cores"),
])
def test_bad_policy_fields_are_named(bdir: Path, policy: dict, field: str) -> None:
    edit_manifest(bdir, lambda d: d.update(calibration=[policy]))
    with pytest.raises(BundleFormatError) as ei:
        Bundle.load(bdir)
    assert ei.value.field == field


def test_format_1_manifest_is_read(bdir: Path) -> None:
    """Bundles written before the engine's fields were typed kept them in `extra`."""
    def to_version_1(d: dict) -> None:
        d["format_version"] = 1
        d.pop("n_vocab")
        d["extra"] = {"model_config": {"n_vocab": 42}, "streaming": {"decoder_context_frames": 5,
                                                                     "vocoder_context_frames": 7},
                      "calibration": {"cpu": {"precisions": {"decoder": "int8"}, "report": "r.json"}}}

    edit_manifest(bdir, to_version_1)
    m = Bundle.load(bdir).manifest
    assert m.n_vocab == 42 and m.streaming == Reach(5, 7)
    assert [p.runtime for p in m.calibration] == ["onnxruntime"]
    assert m.policies_for("onnxruntime")[0].precisions == {"decoder": "int8"}
    assert m.extra == {"model_config": {"n_vocab": 42}}


def test_contract_covers_every_stage() -> None:
    assert tuple(CONTRACTS) == STAGES
    assert [s for s in STAGES if not CONTRACTS[s].required] == ["vocoder"]
