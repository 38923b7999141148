"""Calibrated policies per device class: detection, the choice `precision="calibrated"` makes on a machine
(faked with VOXPORT_DEVICE_CLASS), cross-calibration by emulation and `--time-only`.

The device a bundle is calibrated on is rarely the one it runs on: these tests build the bundle's policies
as a desktop would record them and load it as a board with other precisions would."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
from support import desktop_policy

from voxport.bundle import Bundle
from voxport.bundle.policy import CalibrationPolicy
from voxport.pipeline.calibrated import CalibrationFallbackWarning, choose
from voxport.pipeline.precision import resolve
from voxport.runtimes.device_class import DEVICE_CLASS_ENV, DeviceClass, isa_features, parse_device_class
from voxport.voice import Voice

STAGES = ("encoder", "duration", "decoder", "vocoder")
AMX = desktop_policy.AMX
ARM = DeviceClass("arm64", ("fp16", "dotprod"), ("fp32", "fp16", "int8"))
OLD_ARM = DeviceClass("arm64", (), ("fp32", "int8"))  # Cortex-A53/A72: no fp16 arithmetic


def _policy(device, precisions, timed=True, passed=None, runtime="openvino") -> CalibrationPolicy:
    return CalibrationPolicy(dict(precisions), "calibration/r.json", runtime=runtime, device=device, timed=timed,
                             passed=passed or {})


def test_isa_features_read_the_flags_that_decide_precision():
    x86 = frozenset(["fpu", "avx2", "avx512f", "avx512_vnni", "amx_bf16", "amx_int8", "sse4_2"])
    arm = frozenset(["fp", "asimd", "fphp", "asimdhp", "asimddp", "atomics"])
    assert isa_features("x86_64", x86) == ("amx-bf16", "amx-int8", "avx512-vnni", "avx512", "avx2")
    assert isa_features("arm64", arm) == ("fp16", "dotprod")
    assert parse_device_class("aarch64:fp16,dotprod:fp32,fp16,int8") == ARM
    with pytest.raises(ValueError, match="ARCH:FEATURE"):
        parse_device_class("arm64")


def test_the_policy_of_this_device_class_wins():
    mine = _policy(ARM, {"decoder": "fp16"})
    choice = choose([_policy(AMX, {"decoder": "bf16"}), mine], ARM, STAGES, "openvino")
    assert choice.how == "this device" and choice.policy == mine and choice.warning is None
    assert choice.precisions == {"encoder": "fp32", "duration": "fp32", "decoder": "fp16", "vocoder": "fp32"}


def test_a_policy_whose_precisions_the_device_lists_fits_without_a_warning():
    int8 = _policy(AMX, {"vocoder": "int8"})
    choice = choose([_policy(AMX, {"decoder": "bf16"}), int8], OLD_ARM, STAGES, "openvino")
    assert choice.how == "fits" and choice.policy == int8 and choice.warning is None


def test_no_fitting_policy_falls_back_to_what_the_gate_passed_alone_with_one_warning():
    desktop = _policy(AMX, {"decoder": "bf16", "vocoder": "int8-bf16"},
                      passed={"decoder": ["bf16", "fp16"], "vocoder": ["int8-bf16", "int8"]})
    choice = choose([desktop], ARM, STAGES, "openvino")
    # bf16 -> fp16 only because the gate ran fp16 on the decoder alone; int8-bf16 -> int8 likewise.
    assert choice.how == "fallback"
    assert choice.precisions == {"encoder": "fp32", "duration": "fp32", "decoder": "fp16", "vocoder": "int8"}
    assert "voxport calibrate --bundle DIR --runtime openvino" in choice.warning
    assert "never gated" in choice.warning and "decoder bf16->fp16" in choice.warning
    # Nothing proved safe that the device lists: fp32.
    bare = choose([_policy(AMX, {"decoder": "bf16"})], ARM, STAGES, "openvino")
    assert bare.precisions["decoder"] == "fp32" and bare.warning


def test_an_untimed_policy_is_used_with_a_warning_naming_time_only():
    choice = choose([_policy(ARM, {"decoder": "fp16"}, timed=False)], ARM, STAGES, "openvino")
    assert choice.how == "untimed" and choice.precisions["decoder"] == "fp16"
    assert "--time-only" in choice.warning
    # A timed policy of this class is preferred over an untimed one.
    timed = _policy(ARM, {"decoder": "fp32"})
    assert choose([_policy(ARM, {"decoder": "fp16"}, timed=False), timed], ARM, STAGES, "openvino").policy == timed


@pytest.fixture
def desktop_bundle(tiny_bundle, tmp_path):
    return desktop_policy.desktop_bundle(tiny_bundle, tmp_path / "desktop")


def test_a_desktop_bf16_policy_on_a_board_without_bf16_falls_back_and_speaks(desktop_bundle, monkeypatch):
    pytest.importorskip("openvino")
    monkeypatch.setenv(DEVICE_CLASS_ENV, "arm64::fp32,int8")  # a board whose OpenVINO lists no BF16/FP16
    with pytest.warns(CalibrationFallbackWarning, match="voxport calibrate"):
        plans = resolve(Bundle.load(desktop_bundle), "openvino", "calibrated")
    assert {s: p.precision for s, p in plans.items()} == dict.fromkeys(STAGES, "fp32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationFallbackWarning)
        with Voice.load(desktop_bundle, runtime="openvino", precision="calibrated", threads=1) as voice:
            audio = voice.synthesize("A desktop bundle on a board.", seed=0)
    assert audio.size > 0 and np.isfinite(audio).all() and np.abs(audio).max() > 0
    # The same bundle on an fp16 board runs the decoder at fp16, which the gate passed alone.
    monkeypatch.setenv(DEVICE_CLASS_ENV, "arm64:fp16,dotprod:fp32,fp16,int8")
    with pytest.warns(CalibrationFallbackWarning):
        plans = resolve(Bundle.load(desktop_bundle), "openvino", "calibrated")
    assert plans["decoder"].precision == "fp16" and plans["vocoder"].precision == "fp32"


def test_cross_calibration_records_an_untimed_policy_for_the_target(tiny_bundle, tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    from voxport.calibration.cross import cross_calibrate

    root = shutil.copytree(tiny_bundle, tmp_path / "cross")
    report = cross_calibrate(root, "arm64-fp16", max_sentences=8, check_wer=False, threads=1)
    assert report["target"] == "arm64-fp16" and report["emulated"] and not report["timed"]
    assert report["result"]["reduced_stages"], report["evaluations"]  # fp16 keeps a random tiny voice intact
    (policy,) = Bundle.load(root).manifest.calibration  # no graph file added: fp16 compiles from fp32
    assert policy.runtime == "openvino" and policy.device == ARM and not policy.timed and policy.emulated
    assert set(policy.precisions.values()) <= {"fp16", "fp32"}
    assert (root / policy.report).is_file() and not (root / "calibration" / "emulated-openvino-arm64-fp16").exists()
    monkeypatch.setenv(DEVICE_CLASS_ENV, "arm64:fp16,dotprod:fp32,fp16,int8")
    with pytest.warns(CalibrationFallbackWarning, match="--time-only"):
        plans = resolve(Bundle.load(root), "openvino", "calibrated")
    assert {s: p.precision for s, p in plans.items()} == {s: policy.precisions.get(s, "fp32") for s in STAGES}


def test_emulated_fp16_rounds_what_a_device_would_round():
    onnx = pytest.importorskip("onnx")
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from voxport.calibration.emulate import emulate_precision, round_to

    w = np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"]), helper.make_node("Mul", ["y", "y"], ["z"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 8])], [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = 3 * np.random.default_rng(1).standard_normal((1, 8)).astype(np.float32)
    for precision in ("fp16", "bf16"):
        emulated = emulate_precision(model, precision)
        onnx.checker.check_model(emulated)
        out = ort.InferenceSession(emulated.SerializeToString(), providers=["CPUExecutionProvider"]).run(
            None, {"x": x})[0]
        y = round_to(round_to(x, precision) @ round_to(w, precision), precision)
        assert np.array_equal(out, round_to(y * y, precision))  # every tensor rounded, onnxruntime kept the casts
        assert not np.array_equal(out, (x @ w) ** 2)
    assert round_to(np.float32([70000.0]), "fp16")[0] == np.inf  # fp16 overflow, as on the device


def test_time_only_keeps_only_stages_faster_than_fp32_here(tiny_bundle, tmp_path):
    """An untimed int8 policy (the int8 'graph' is a copy of the fp32 one: this tests the keeping, not
    int8) is timed on this machine; a stage keeps int8 exactly when its cold time beat fp32's."""
    pytest.importorskip("openvino")
    from voxport.bundle import describe_graph_file
    from voxport.calibration.time_only import NothingToTime, time_only
    from voxport.runtimes.device_class import this_device

    root = shutil.copytree(tiny_bundle, tmp_path / "timed")
    with pytest.raises(NothingToTime, match="voxport calibrate --target"):
        time_only(root, "openvino", threads=1)
    manifest = json.loads((root / "manifest.json").read_text())
    for stage in ("decoder", "vocoder"):
        (root / "int8").mkdir(exist_ok=True)
        shutil.copyfile(root / manifest["graphs"][stage]["variants"]["fp32"]["file"], root / f"int8/{stage}.onnx")
        manifest["graphs"][stage]["variants"]["int8"] = describe_graph_file(root, f"int8/{stage}.onnx").to_dict()
    manifest["calibration"] = [_policy(OLD_ARM, {"decoder": "int8", "vocoder": "int8"}, timed=False).to_dict()]
    (root / "manifest.json").write_text(json.dumps(manifest))
    report = time_only(root, "openvino", threads=1)
    speed = report["speed"]
    expected = {s: "int8" for s in ("decoder", "vocoder") if speed[s]["candidates_ms"]["int8"] < speed[s]["fp32_ms"]}
    assert report["result"]["precisions"] == expected
    policies = Bundle.load(root).manifest.calibration
    mine = [p for p in policies if p.device == this_device("openvino")]
    assert len(policies) == 2 and len(mine) == 1 and mine[0].timed and mine[0].precisions == expected


def test_calibration_needs_no_torch():
    """`voxport calibrate` runs on the device, where there is no torch: none of its modules may import it."""
    pytest.importorskip("onnx", reason="calibration builds its candidates with onnx (the calibration extra)")
    code = ("import sys; import voxport.calibration, voxport.calibration.cross, voxport.calibration.time_only; "
            "import voxport.cli.main; sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0
