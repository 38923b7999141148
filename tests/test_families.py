"""Model families are plugins: a family defined outside voxport runs through Voice, streaming, profiling and
`voxport info` after one `register` call; shared code never asks which family it runs (checked on the tree)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import pytest
from support import toy_family

from voxport import Voice
from voxport.bundle import Bundle, BundleFormatError
from voxport.families import UnknownFamilyError, family_named, registered, unregister

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def toy_bundle(tiny_bundle, tmp_path_factory) -> Path:
    toy_family.install()
    yield toy_family.toy_bundle(tiny_bundle, tmp_path_factory.mktemp("toy") / "toy")
    unregister(toy_family.NAME)


def test_the_built_in_families_are_registered_by_name():
    assert registered()[:3] == ["vits", "glowtts", "tacotron2"]
    assert family_named("tacotron2").stages == ("encoder", "decoder_step", "postnet", "vocoder")
    with pytest.raises(UnknownFamilyError, match="'nope'.*known: vits, glowtts, tacotron2"):
        family_named("nope")


def test_a_bundle_of_an_unknown_family_is_a_one_line_format_error(tiny_bundle, tmp_path):
    import shutil

    copy = tmp_path / "unknown"
    shutil.copytree(tiny_bundle, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["family"] = "no-such-family"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleFormatError, match="family.*'no-such-family' is not known") as caught:
        Bundle.load(copy, verify=False)
    assert "\n" not in str(caught.value)


def test_a_registered_family_speaks_through_voice_and_streams_exactly(toy_bundle, tiny_voice):
    with Voice.load(toy_bundle, threads=1) as voice:
        assert voice.family is toy_family.FAMILY and voice.bundle.stages == ("encoder", "duration", "vocoder")
        text = "A family of its own. It has no decoder graph at all."
        audio = voice.synthesize(text, seed=3)
        assert audio.size > 0 and np.all(np.isfinite(audio))
        # The identity decoder hands the vocoder the prior latent: not what VITS's flow makes of it.
        assert audio.size == tiny_voice.synthesize(text, seed=3).size
        assert not np.allclose(audio, tiny_voice.synthesize(text, seed=3))
        assert voice.reach.decoder == 0 and voice.reach.vocoder > 0  # measured: the bundle records none
        chunks = list(voice.stream(text, seed=3, first_chunk_frames=4))
        assert len([ch for ch in chunks if ch.sentence_index == 0]) > 1
        np.testing.assert_array_equal(np.concatenate([ch.audio for ch in chunks]), audio)
        words = [w.word for w in chunks[0].timing.words]
        assert words[:2] == ["A", "family"]


def test_a_registered_family_runs_on_fixed_shapes(toy_bundle):
    with Voice.load(toy_bundle, shapes="fixed", threads=1) as fixed, \
            Voice.load(toy_bundle, shapes="dynamic", threads=1) as dynamic:
        assert set(fixed.engine.runners) == {"encoder", "duration", "vocoder"}
        text = "Buckets are a runtime matter, not a family's."
        np.testing.assert_allclose(fixed.synthesize(text, seed=1), dynamic.synthesize(text, seed=1), atol=1e-4)


def test_a_registered_family_is_described_and_profiled(toy_bundle, capsys):
    from voxport.cli import main

    assert main(["info", str(toy_bundle), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["family"] == toy_family.NAME and set(facts["precisions"]) == {"encoder", "duration", "vocoder"}
    assert main(["profile", "--bundle", str(toy_bundle), "--in-process", "--no-baseline", "--runs", "1",
                 "--warmup", "0", "--passes", "1", "--cold", "0", "--threads", "1", "--quiet"]) == 0
    table = capsys.readouterr().out
    assert "vocoder" in table and "decoder " not in table


def test_knobs_a_family_does_not_read_warn_once(tiny_bundle):
    tacotron2 = family_named("tacotron2")
    assert {"length_scale", "noise_scale", "noise_w"} <= tacotron2.ignored_knobs()
    assert family_named("vits").ignored_knobs() == {"sigma", "decoder_steps"}
    with Voice.load(tiny_bundle, threads=1) as voice, pytest.warns(UserWarning, match="sigma has no effect"):
        voice.synthesize("One.", sigma=0.5)


# --- the tree: shared code does not branch on families; the SDK does not reach up --------------------------

SHARED = ("sdk", "cli", "runtimes", "calibration", "tools", "benchmarks")
FAMILY_FOLDERS = ("sdk/families",)


def _python_files(*folders: str) -> list[Path]:
    return [p for f in folders for p in sorted((ROOT / f).rglob("*.py"))]


def test_no_shared_module_tests_which_family_it_runs():
    branch = re.compile(r"\.autoregressive\b(?!\")|\bfamily\s*(==|!=)|\bfamily\s+(not\s+)?in\s*[(\[{]|"
                        r"AUTOREGRESSIVE_FAMILIES")
    found = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in _python_files(*SHARED)
             if not any(str(p.relative_to(ROOT)).startswith(f) for f in FAMILY_FOLDERS)
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if branch.search(line)]
    assert found == []


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_sdk_imports_nothing_from_export_calibration_tools_or_the_cli():
    upward = ("voxport.export", "voxport.calibration", "voxport.tools", "voxport.cli")
    # __main__ is the `python -m voxport` entry point: it starts the CLI, it is not library code.
    found = {str(p.relative_to(ROOT)): sorted(n for n in _imports(p) if n.startswith(upward))
             for p in _python_files("sdk") if p.name != "__main__.py"}
    assert {k: v for k, v in found.items() if v} == {}


def test_runtimes_name_no_pipeline_stage():
    stages = {"encoder", "duration", "decoder", "vocoder", "decoder_step", "postnet"}
    found = []
    for path in _python_files("runtimes"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef)) and n.body
                      and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        found += [f"{path.name}:{n.lineno} {n.value!r}" for n in ast.walk(tree)
                  if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
                  and stages & set(re.findall(r"\w+", n.value))]
    assert found == []


def test_graph_hints_reach_the_runtime_per_graph_and_old_bundles_get_their_familys(tiny_bundle, tmp_path):
    import shutil

    graphs = Bundle.load(tiny_bundle, verify=False).manifest.graphs
    assert graphs["decoder"].hints == graphs["duration"].hints == {"keep_fp32_ops": True}  # written by export
    assert not graphs["encoder"].hints and not graphs["vocoder"].hints
    old = tmp_path / "old"
    shutil.copytree(tiny_bundle, old)
    manifest = json.loads((old / "manifest.json").read_text())
    for entry in manifest["graphs"].values():
        entry.pop("hints", None)  # as written before the exporter recorded hints
    (old / "manifest.json").write_text(json.dumps(manifest))
    for path in (tiny_bundle, old):
        with Voice.load(path, threads=1) as voice:
            hints = {s: voice.sessions[s].options.hints for s in voice.bundle.stages}
        assert hints == {"encoder": {}, "duration": {"keep_fp32_ops": True}, "decoder": {"keep_fp32_ops": True},
                         "vocoder": {}}


def test_a_familys_own_options_pass_through_voice_methods_and_others_are_refused(toy_bundle, monkeypatch):
    seen = []

    class Listening(toy_family.IdentityDecoderPipeline):
        def utterance(self, ids, config, draws):
            seen.append(dict(config.options))
            return super().utterance(ids, config, draws)

    from dataclasses import replace

    from voxport.families import register

    register(replace(toy_family.FAMILY, pipeline=Listening, options=frozenset({"shimmer"})), replace=True)
    try:
        with Voice.load(toy_bundle, threads=1) as voice:
            voice.synthesize("Options reach the pipeline.", shimmer=0.5, seed=0)
            list(voice.stream("And when streaming.", shimmer=0.25, seed=0))
            with pytest.raises(TypeError, match="'glitter'.*known:.*'shimmer'"):
                voice.synthesize("No.", glitter=1)
    finally:
        toy_family.install()
    assert seen == [{"shimmer": 0.5}, {"shimmer": 0.25}]
    assert hash(__import__("voxport").SynthesisConfig(options={"a": 1})) is not None  # still usable as a key


def test_the_flat_module_names_of_0_1_still_import_for_one_release_with_a_warning():
    import importlib
    import sys

    from voxport._moved import MOVED

    for old, new in MOVED.items():
        sys.modules.pop(old, None)
        with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}"):
            module = importlib.import_module(old)
        assert module is importlib.import_module(new)
