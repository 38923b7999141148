"""`Voice.load(memory_mb=...)`: the fastest of the asked plan, "small" and lean whose measured memory fits.

The ladder's choices are tested with scripted measurements (what a plan holds depends on the machine);
the real path -- each rung loaded in a fresh process, its resident memory read there -- on the tiny voice."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from voxport import Voice
from voxport.pipeline import memory_budget as mb
from voxport.pipeline.memory_budget import Measured, MemoryBudgetWarning, Rung, ladder, load_within
from voxport.runtimes import available_runtimes


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Each test its own compile cache, where measurements are remembered between loads."""
    monkeypatch.setenv("VOXPORT_COMPILE_CACHE", str(tmp_path / "compiled"))
    return tmp_path / "compiled"


needs_proc = pytest.mark.skipif(mb.rss_mb() is None, reason="resident memory is read from /proc (Linux only)")


class FakeVoice:
    def __init__(self, rung: Rung) -> None:
        self.rung = rung
        self.memory_fit = None


def _run(budget: float, rungs: list[Rung], held: dict[Rung, float], dynamic: tuple[Rung, ...] = ()):
    measured: list[Rung] = []

    def measure(rung: Rung) -> Measured:
        measured.append(rung)
        return Measured(held[rung], rung in dynamic)

    voice = load_within(budget, rungs, measure, FakeVoice)
    return voice, measured


FIXED, SMALL, SMALL_LEAN = Rung(None, False), Rung("small", False), Rung("small", True)


def test_the_ladder_runs_from_the_asked_plan_to_small_then_lean():
    assert ladder(None, False, pads_some_stage=True) == [FIXED, SMALL, SMALL_LEAN]
    assert ladder(None, True, pads_some_stage=True) == [Rung(None, True), SMALL_LEAN]
    assert ladder("small", False, pads_some_stage=True) == [SMALL, SMALL_LEAN]
    # Nothing padded (onnxruntime's default): "small" would pad it, and lean is the only smaller rung.
    assert ladder(None, False, pads_some_stage=False) == [FIXED, Rung(None, True)]
    assert ladder("dynamic", True, pads_some_stage=False) == [Rung("dynamic", True)]


@needs_proc
def test_the_fastest_plan_that_fits_is_kept_and_says_what_was_over():
    held = {FIXED: 850.0, SMALL: 370.0, SMALL_LEAN: 290.0}
    voice, measured = _run(400, [FIXED, SMALL, SMALL_LEAN], held)
    assert voice.rung == SMALL and measured == [FIXED, SMALL]  # small+lean is never measured
    fit = voice.memory_fit
    assert fit.fits and fit.held_mb == 370 and fit.tried == ((FIXED, 850.0),)
    assert fit.describe() == "memory budget 400 MB: shapes=small holds 370 MB; shapes=None: 850 MB, over"
    assert _run(10_000, [FIXED, SMALL, SMALL_LEAN], held)[0].rung == FIXED


@needs_proc
def test_a_plan_without_lean_on_dynamic_shapes_is_never_judged_by_its_load():
    # onnxruntime held 139 MB after load and 514 MB after thirty sentences: the load says nothing.
    rungs = [Rung(None, False), Rung(None, True)]
    voice, _ = _run(300, rungs, {rungs[0]: 100.0, rungs[1]: 100.0}, dynamic=(rungs[0],))
    assert voice.rung == rungs[1] and voice.memory_fit.tried == ()


@needs_proc
def test_when_nothing_fits_the_smallest_is_loaded_with_one_warning():
    held = {FIXED: 850.0, SMALL: 370.0, SMALL_LEAN: 290.0}
    with pytest.warns(MemoryBudgetWarning, match="no plan fits memory_mb=250") as caught:
        voice, _ = _run(250, [FIXED, SMALL, SMALL_LEAN], held)
    assert len(caught) == 1 and "shapes=small, lean holds 290 MB" in str(caught[0].message)
    assert voice.rung == SMALL_LEAN and not voice.memory_fit.fits


def test_without_a_way_to_read_memory_the_smallest_is_loaded_with_a_warning(monkeypatch):
    monkeypatch.setattr(mb, "rss_mb", lambda: None)
    with pytest.warns(MemoryBudgetWarning, match="cannot be read on this system"):
        voice, measured = _run(500, [FIXED, SMALL, SMALL_LEAN], {})
    assert voice.rung == SMALL_LEAN and measured == [] and voice.memory_fit.held_mb is None


@pytest.mark.parametrize("budget", [0, -5, float("nan"), True, "300"])
def test_a_budget_that_is_no_positive_number_is_refused(budget):
    with pytest.raises(ValueError, match="memory_mb must be a positive number"):
        load_within(budget, [FIXED], lambda r: Measured(1.0, False), FakeVoice)


@needs_proc
def test_onnxruntime_under_a_budget_runs_lean_and_speaks_the_same(tiny_bundle):
    with Voice.load(tiny_bundle, threads=1, memory_mb=2000) as voice, \
            Voice.load(tiny_bundle, threads=1, lean=True) as lean:
        fit = voice.memory_fit
        # Its stages run dynamic on onnxruntime, so only a lean rung is judged by its load.
        assert fit.rung == Rung(None, True) and fit.fits and 0 < fit.held_mb < 2000
        assert all(s._run_options is not None for s in voice.sessions.sessions.values())
        np.testing.assert_array_equal(voice.synthesize("Within budget.", seed=1),
                                      lean.synthesize("Within budget.", seed=1))


@needs_proc
@pytest.mark.skipif("openvino" not in available_runtimes(), reason="openvino is not installed")
def test_openvino_keeps_the_asked_plan_when_it_fits_and_the_smallest_when_nothing_does(tiny_bundle):
    with Voice.load(tiny_bundle, runtime="openvino", threads=1, memory_mb=100_000) as roomy:
        assert roomy.memory_fit.rung == FIXED and roomy.memory_fit.fits
        assert roomy.engine.runners  # the default plan pads on OpenVINO
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Voice.load(tiny_bundle, runtime="openvino", threads=1, memory_mb=1) as tight:
            fit = tight.memory_fit
            assert fit.rung == SMALL_LEAN and not fit.fits
            assert [r for r, _ in fit.tried] == [FIXED, SMALL]
            assert all(held > 1 for _, held in fit.tried)
            assert tight.sessions.sessions["vocoder"].options.lean
            assert tight.synthesize("Tight.", seed=2).size > 0
    assert sum(issubclass(w.category, MemoryBudgetWarning) for w in caught) == 1


def test_the_cli_passes_memory_mb_and_prints_the_choice(tiny_bundle, tmp_path, capsys):
    from voxport.cli import main

    assert main(["speak", "Budget.", "--bundle", str(tiny_bundle), "-o", str(tmp_path / "a.wav"),
                 "--memory-mb", "2000", "--threads", "1"]) == 0
    assert "memory budget 2000 MB: shapes=None, lean holds" in capsys.readouterr().err


def test_the_cli_refuses_a_negative_budget_in_one_line(tiny_bundle, tmp_path, capsys):
    from voxport.cli import main

    assert main(["speak", "Budget.", "--bundle", str(tiny_bundle), "-o", str(tmp_path / "a.wav"),
                 "--memory-mb", "-1"]) != 0
    err = capsys.readouterr().err
    assert "memory_mb must be a positive number" in err and "Traceback" not in err


@needs_proc
def test_a_measuring_process_that_fails_hands_the_load_to_this_one(tiny_bundle, monkeypatch):
    monkeypatch.setattr(mb, "measure_in_fresh_process",
                        lambda root, kwargs, rung: Measured(None, False, "ImportError: no module named x"))
    with pytest.warns(MemoryBudgetWarning, match=r"could not be measured \(ImportError"), \
            Voice.load(tiny_bundle, threads=1, memory_mb=500) as voice:
        assert voice.memory_fit.held_mb is None and voice.synthesize("Still speaks.").size > 0
    # A rung that cannot load at all fails here with the real error, not with a budget message.
    with pytest.raises(Exception, match="nosuchruntime"):
        Voice.load(tiny_bundle, runtime="nosuchruntime", memory_mb=500)


def _count_measurements(monkeypatch) -> list[Rung]:
    measured: list[Rung] = []
    real = mb.measure_in_fresh_process

    def counting(root, kwargs, rung):
        measured.append(rung)
        return real(root, kwargs, rung)

    monkeypatch.setattr(mb, "measure_in_fresh_process", counting)
    return measured


@needs_proc
def test_a_second_start_loads_the_chosen_plan_without_measuring_again(tiny_bundle, own_cache, monkeypatch):
    measured = _count_measurements(monkeypatch)
    with Voice.load(tiny_bundle, threads=1, memory_mb=2000) as first:
        assert not first.memory_fit.remembered
    assert len(measured) == 1 and list(own_cache.glob("*/memory-budget.json"))
    with Voice.load(tiny_bundle, threads=1, memory_mb=2000) as second:
        assert second.memory_fit.remembered and second.memory_fit.held_mb == first.memory_fit.held_mb
        assert "(measured at an earlier start)" in second.memory_fit.describe()
    assert len(measured) == 1
    # Other settings are another measurement; so is a damaged file, which is then rewritten.
    with Voice.load(tiny_bundle, threads=2, memory_mb=2000):
        pass
    assert len(measured) == 2
    for store in own_cache.glob("*/memory-budget.json"):
        store.write_text("{not json")
    with Voice.load(tiny_bundle, threads=1, memory_mb=2000) as again:
        assert not again.memory_fit.remembered
    assert len(measured) == 3


@needs_proc
def test_without_the_compile_cache_nothing_is_remembered(tiny_bundle, own_cache, monkeypatch):
    measured = _count_measurements(monkeypatch)
    for _ in range(2):
        with Voice.load(tiny_bundle, threads=1, memory_mb=2000, compile_cache=False) as voice:
            assert not voice.memory_fit.remembered
    assert len(measured) == 2 and not own_cache.exists()
