"""`voxport serve`'s runtime options reach every loaded copy of every voice."""

from __future__ import annotations

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("wyoming")
pytest.importorskip("openvino", reason="the options are checked on a second runtime; openvino is not installed")

from voxport.cli import main  # noqa: E402


def _reduced_precision() -> str | None:
    """A precision besides fp32 that this CPU's OpenVINO runs from the fp32 file (bf16, else fp16)."""
    import openvino as ov

    caps = list(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    return next((p for p, cap in (("bf16", "BF16"), ("fp16", "FP16")) if cap in caps), None)


def test_runtime_precision_and_shapes_reach_every_worker(monkeypatch, tiny_bundle):
    import voxport.server.app as app

    precision = _reduced_precision()
    if precision is None:
        pytest.skip("this CPU's OpenVINO lists neither BF16 nor FP16, so no second precision can be told apart")

    seen = {}

    async def fake_serve(registry, options):  # the registry as the server would get it, then stop
        pool = registry.pools["tiny"]
        seen["sessions"] = [{s: (v.sessions[s].runtime, v.sessions[s].precision) for s in v.sessions.sessions}
                            for v in pool._voices]
        seen["fixed"] = [sorted(v.engine.runners) for v in pool._voices]

    monkeypatch.setattr(app, "serve", fake_serve)
    argv = ["serve", "--voice", f"tiny={tiny_bundle}", "--preload", "--workers", "2", "--port", "0", "--wyoming",
            "none", "--runtime", "vocoder=openvino,default=onnxruntime", "--precision", f"vocoder={precision}",
            "--shapes", "dynamic"]
    assert main(argv) == 0
    assert len(seen["sessions"]) == 2
    for sessions in seen["sessions"]:
        assert sessions["vocoder"] == ("openvino", precision) and sessions["decoder"] == ("onnxruntime", "fp32")
    assert seen["fixed"] == [[], []]  # --shapes dynamic: no stage padded to buckets


def test_a_bad_stage_option_is_one_line(capsys, tiny_bundle):
    assert main(["serve", "--voice", f"tiny={tiny_bundle}", "--precision", "vocoder=", "--port", "0"]) == 1
    assert "--precision 'vocoder='" in capsys.readouterr().err
