"""OpenVINO refuses a reduced precision the device emulates, by measurement (the probe's timing is
simulated here: no CPU in CI emulates bf16), and accepts one that runs at a normal speed."""

from __future__ import annotations

import pickle
import warnings

import pytest

pytest.importorskip("openvino", reason="the openvino extra is not installed: pip install 'voxport[openvino]'")

from voxport.bundle import Bundle  # noqa: E402
from voxport.runtimes import DevicePrecisionError, RuntimeOptions, VoxportRuntimeError, open_session  # noqa: E402
from voxport.runtimes import openvino_probe as probe  # noqa: E402
from voxport.runtimes.openvino_backend import SlowPrecisionWarning, shared_core  # noqa: E402


def cpu_can(capability: str) -> bool:
    return capability in list(shared_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


@pytest.fixture(autouse=True)
def fresh_probe_cache():
    probe.clear_cache()
    yield
    probe.clear_cache()  # a simulated measurement must not outlive its test


def simulate(monkeypatch, factor: float) -> list[str]:
    """Make the probe measure f32 at 1 ms and every other hint at `factor` ms; returns the hints timed."""
    timed: list[str] = []

    def fake_time(core, model, device, config):
        hint = config["INFERENCE_PRECISION_HINT"]
        timed.append(hint)
        return 1.0 if hint == "f32" else factor

    monkeypatch.setattr(probe, "_time_model", fake_time)
    return timed


def _open(bundle_dir, precision: str, **extra):
    bundle = Bundle.load(bundle_dir)
    entry = bundle.graph("vocoder")
    return open_session("openvino", bundle.graph_path("vocoder"), entry.inputs, entry.outputs, precision,
                        RuntimeOptions(threads=1, extra=extra), "vocoder")


@pytest.fixture
def bf16_cpu():
    if not cpu_can("BF16"):
        pytest.skip("this CPU lists no BF16: the capability check refuses bf16 before any measurement")


def test_an_emulated_precision_is_refused_with_the_measured_factor(tiny_bundle, bf16_cpu, monkeypatch):
    timed = simulate(monkeypatch, 250.0)
    with pytest.raises(DevicePrecisionError) as info:
        _open(tiny_bundle, "bf16")
    err = info.value
    message = str(err)
    assert "250.0x slower at bf16 than at f32" in message and "emulates" in message
    assert "allow_slow_precision" in message and err.device == "CPU"
    assert "bf16" not in err.supported and "int8-bf16" not in err.supported and "fp32" in err.supported
    assert str(pickle.loads(pickle.dumps(err))) == message
    # int8 with a bf16 remainder runs the same bf16 arithmetic: refused from the cached measurement.
    with pytest.raises(DevicePrecisionError, match="250.0x"):
        _open(tiny_bundle, "int8-bf16")
    assert timed == ["f32", "bf16"]  # measured once per device and precision


def test_a_normal_factor_is_accepted_and_recorded(tiny_bundle, bf16_cpu, monkeypatch):
    simulate(monkeypatch, 0.6)
    with _open(tiny_bundle, "bf16") as session:
        (measured,) = session.precision_probes
        assert measured.device == "CPU" and measured.hint == "bf16" and measured.factor == pytest.approx(0.6)


def test_allow_slow_precision_warns_instead(tiny_bundle, bf16_cpu, monkeypatch):
    simulate(monkeypatch, 250.0)
    with pytest.warns(SlowPrecisionWarning, match="250.0x"), _open(tiny_bundle, "bf16", allow_slow_precision=True) \
            as session:
        assert session.precision == "bf16"
    with pytest.raises(VoxportRuntimeError, match="must be a bool"):
        _open(tiny_bundle, "bf16", allow_slow_precision="yes")


def test_fp32_is_never_probed(tiny_bundle, monkeypatch):
    timed = simulate(monkeypatch, 250.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with _open(tiny_bundle, "fp32") as session:
            assert session.precision_probes == ()
    assert timed == []


def test_the_real_probe_is_cheap_and_cached(bf16_cpu):
    first = probe.measure(shared_core(), "CPU", "bf16", {"INFERENCE_NUM_THREADS": 1})
    assert first.f32_ms > 0 and first.reduced_ms > 0 and first.cost_s < 5.0
    assert probe.measure(shared_core(), "CPU", "bf16") is first
    # Native bf16 (AVX512-BF16 or AMX) is not emulated: the probe must not refuse it.
    assert first.factor < probe.MAX_SLOWDOWN, first.describe()
