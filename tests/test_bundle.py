"""Tests for voxport.bundle: manifest round-trip, validation, path safety and integrity checks."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from voxport.bundle import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    Bundle,
    BundleError,
    BundleFormatError,
    BundleIntegrityError,
    BundleNotFoundError,
    BundlePathError,
    BundleVersionError,
    GraphEntry,
    GraphVariant,
    Manifest,
    MissingStageError,
    MissingVariantError,
    describe_graph_file,
    sha256_file,
    write_manifest,
)
from voxport.bundle import directory as bmod
from voxport.runtimes import TensorSpec
from voxport.synthesis import Scales

ENC_IN = (TensorSpec("phoneme_ids", "int64", (1, "phonemes")), TensorSpec("phoneme_lengths", "int64", (1,)))
ENC_OUT = (TensorSpec("hidden", "float32", (1, 192, "phonemes")),
           TensorSpec("prior_mean", "float32", (1, 4, "phonemes")),
           TensorSpec("prior_log_std", "float32", (1, 4, "phonemes")),
           TensorSpec("phoneme_mask", "float32", (1, 1, "phonemes")))
DUR_IN = (TensorSpec("hidden", "float32", (1, 192, "phonemes")),
          TensorSpec("phoneme_mask", "float32", (1, 1, "phonemes")))
DUR_OUT = (TensorSpec("log_durations", "float32", (1, 1, "phonemes")),)
DEC_IN = (TensorSpec("prior_latent", "float32", (1, 192, "frames")),
          TensorSpec("frame_mask", "float32", (1, 1, "frames")))
DEC_OUT = (TensorSpec("latent", "float32", (1, 192, "frames")),)


def make_bundle(root: Path) -> Manifest:
    root.mkdir(parents=True, exist_ok=True)
    (root / "encoder.onnx").write_bytes(b"ENC" + bytes(range(256)) * 40)
    (root / "graphs").mkdir()
    (root / "graphs" / "decoder.onnx").write_bytes(b"DEC" * 3000)
    (root / "graphs" / "decoder.fp16.onnx").write_bytes(b"D16" * 1500)
    (root / "graphs" / "duration.onnx").write_bytes(b"DUR" * 100)
    manifest = Manifest(
        family="vits",
        name="tiny-test",
        sample_rate=22050,
        hop_length=256,
        graphs={
            "encoder": GraphEntry(ENC_IN, ENC_OUT, {"fp32": describe_graph_file(root, "encoder.onnx")}),
            "duration": GraphEntry(DUR_IN, DUR_OUT, {"fp32": describe_graph_file(root, "graphs/duration.onnx")}),
            "decoder": GraphEntry(DEC_IN, DEC_OUT, {
                "fp32": describe_graph_file(root, "graphs/decoder.onnx"),
                "fp16": describe_graph_file(root, "graphs/decoder.fp16.onnx"),
            }),
        },
        n_vocab=20,
        phoneme_id_map={"_": [0], "^": [1], "$": [2], "a": [14]},
        phonemizer={"type": "espeak", "voice": "en-us", "pad": "_", "bos": "^", "eos": "$",
                    "pad_after_bos": True},
        inference=Scales(noise_scale=0.667, length_scale=1, noise_w=0.8),
        source={"url": "https://example.invalid/tiny.ckpt", "license": "MIT", "sha256": "0" * 64},
        extra={"created_by": "voxport test", "hidden_channels": 192},
    )
    write_manifest(root, manifest)
    return manifest


@pytest.fixture
def bdir(tmp_path: Path) -> Path:
    root = tmp_path / "bundle"
    make_bundle(root)
    return root


def edit_manifest(root: Path, fn) -> Path:
    path = root / MANIFEST_NAME
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))
    return path


def test_load_and_round_trip(bdir: Path) -> None:
    b = Bundle.load(bdir)
    m = b.manifest
    assert b.root == bdir.resolve()
    assert m.format_version == FORMAT_VERSION and m.family == "vits" and m.name == "tiny-test"
    assert b.stages == ("encoder", "duration", "decoder")  # pipeline order, whatever the JSON's order
    assert b.graph_path("decoder") == (bdir / "graphs" / "decoder.onnx").resolve()
    assert b.graph_path("decoder", "fp16").name == "decoder.fp16.onnx"
    assert m.graphs["encoder"].inputs[0] == TensorSpec("phoneme_ids", "int64", (1, "phonemes"))
    assert m.inference.length_scale == 1.0 and isinstance(m.inference.length_scale, float)
    assert json.loads((bdir / MANIFEST_NAME).read_text())["inference"]["length_scale"] == 1.0
    assert "1.0" in (bdir / MANIFEST_NAME).read_text()
    assert m.num_speakers == 1 and m.speaker_id_map == {}
    assert m.phonemizer["pad_after_bos"] is True
    # Dict -> Manifest -> dict is lossless, and so is the file on disk.
    assert Manifest.from_dict(m.to_dict()) == m
    assert Manifest.from_dict(json.loads(json.dumps(m.to_dict()))) == m
    assert Bundle.load(bdir / MANIFEST_NAME).manifest == m


def test_manifest_file_format(bdir: Path) -> None:
    text = (bdir / MANIFEST_NAME).read_text()
    assert text.endswith("}\n")
    data = json.loads(text)
    assert list(data["graphs"]) == ["encoder", "duration", "decoder"]  # written in pipeline order
    assert data["graphs"]["encoder"]["inputs"][0]["shape"] == [1, "phonemes"]
    assert data["graphs"]["decoder"]["variants"]["fp16"]["file"] == "graphs/decoder.fp16.onnx"
    # The atomic write must leave no temporary file behind.
    assert sorted(p.name for p in bdir.iterdir()) == ["encoder.onnx", "graphs", MANIFEST_NAME]


def test_describe_graph_file(bdir: Path) -> None:
    v = describe_graph_file(bdir, "./encoder.onnx")
    assert v == GraphVariant("encoder.onnx", sha256_file(bdir / "encoder.onnx"), 3 + 256 * 40)
    assert v.sha256 == hashlib.sha256((bdir / "encoder.onnx").read_bytes()).hexdigest()
    assert sha256_file(bdir / "encoder.onnx", chunk=7) == v.sha256
    with pytest.raises(BundleIntegrityError, match="nope.onnx"):
        describe_graph_file(bdir, "nope.onnx")
    with pytest.raises(BundlePathError):
        describe_graph_file(bdir, "../encoder.onnx")


def test_truncated_graph(bdir: Path) -> None:
    f = bdir / "graphs" / "decoder.onnx"
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(BundleIntegrityError, match="truncated") as ei:
        Bundle.load(bdir)
    assert "graphs/decoder.onnx" in str(ei.value)
    assert ei.value.path == f.resolve()


def test_truncation_reported_before_hashing(bdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (bdir / "graphs" / "decoder.fp16.onnx").write_bytes(b"short")
    monkeypatch.setattr(bmod, "sha256_file", lambda *a, **k: pytest.fail("hashed before size check"))
    with pytest.raises(BundleIntegrityError, match="decoder.fp16.onnx"):
        Bundle.load(bdir)


def test_modified_graph_same_size(bdir: Path) -> None:
    f = bdir / "encoder.onnx"
    data = bytearray(f.read_bytes())
    data[100] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match="modified") as ei:
        Bundle.load(bdir)
    assert "encoder.onnx" in str(ei.value)


def test_missing_graph_file(bdir: Path) -> None:
    (bdir / "encoder.onnx").unlink()
    with pytest.raises(BundleIntegrityError, match=r"encoder\.onnx.*missing"):
        Bundle.load(bdir)


def test_manifest_sha_edited(bdir: Path) -> None:
    edit_manifest(bdir, lambda d: d["graphs"]["encoder"]["variants"]["fp32"].update(sha256="ab" * 32))
    with pytest.raises(BundleIntegrityError, match="encoder.onnx"):
        Bundle.load(bdir)


def test_manifest_sha_malformed(bdir: Path) -> None:
    path = edit_manifest(bdir, lambda d: d["graphs"]["encoder"]["variants"]["fp32"].update(sha256="xyz"))
    with pytest.raises(BundleFormatError, match="graphs.encoder.variants.fp32.sha256") as ei:
        Bundle.load(bdir)
    assert str(path) in str(ei.value)


@pytest.mark.parametrize("field", ["sample_rate", "graphs", "phoneme_id_map", "family", "format_version"])
def test_manifest_field_removed(bdir: Path, field: str) -> None:
    path = edit_manifest(bdir, lambda d: d.pop(field))
    with pytest.raises(BundleFormatError) as ei:
        Bundle.load(bdir)
    assert field in str(ei.value) and str(path) in str(ei.value)
    assert ei.value.field == field


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d.update(sample_rate="22050"), "sample_rate"),
        (lambda d: d.update(hop_length=True), "hop_length"),
        (lambda d: d.update(inference={"noise_scale": "high"}), "inference.noise_scale"),
        (lambda d: d["graphs"]["decoder"]["inputs"][0].pop("dtype"), "graphs.decoder.inputs[0].dtype"),
        (lambda d: d["graphs"]["decoder"]["variants"]["fp32"].update(size=-1),
         "graphs.decoder.variants.fp32.size"),
        (lambda d: d.update(phoneme_id_map={"a": [1, "2"]}), "phoneme_id_map.a[1]"),
        (lambda d: d.update(speaker_id_map={"bob": 3}), "speaker_id_map.bob"),
        (lambda d: d.update(hop_lenght=256), "hop_lenght"),
    ],
)
def test_manifest_field_ill_typed(bdir: Path, edit, field: str) -> None:
    edit_manifest(bdir, edit)
    with pytest.raises(BundleFormatError) as ei:
        Bundle.load(bdir)
    assert ei.value.field == field and repr(field) in str(ei.value)


def test_manifest_invalid_json(bdir: Path) -> None:
    path = bdir / MANIFEST_NAME
    path.write_text(path.read_text()[:-5])
    with pytest.raises(BundleFormatError, match="invalid JSON") as ei:
        Bundle.load(bdir)
    assert str(path) in str(ei.value)
    path.write_text("[1, 2]")
    with pytest.raises(BundleFormatError, match="must be an object"):
        Bundle.load(bdir)


@pytest.mark.parametrize("version", [FORMAT_VERSION + 1, "1", 1.0, 0])
def test_bad_format_version(bdir: Path, version) -> None:
    edit_manifest(bdir, lambda d: d.update(format_version=version))
    with pytest.raises(BundleVersionError, match="upgrade voxport") as ei:
        Bundle.load(bdir)
    assert repr(version) in str(ei.value) or str(version) in str(ei.value)
    assert str(FORMAT_VERSION) in str(ei.value)


def test_newer_version_checked_before_fields(bdir: Path) -> None:
    # A future format may rename fields; the user should hear "upgrade", not "field missing".
    edit_manifest(bdir, lambda d: (d.update(format_version=99, new_thing=1), d.pop("graphs")))
    with pytest.raises(BundleVersionError, match="99"):
        Bundle.load(bdir)


@pytest.mark.parametrize("entry", ["../x.onnx", "graphs/../../x.onnx", "/etc/passwd", "C:/x.onnx",
                                   "graphs\\decoder.onnx", "", "."])
def test_unsafe_file_entries(bdir: Path, entry: str) -> None:
    edit_manifest(bdir, lambda d: d["graphs"]["encoder"]["variants"]["fp32"].update(file=entry))
    with pytest.raises((BundlePathError, BundleFormatError)) as ei:
        Bundle.load(bdir, verify=False)
    if entry:  # the empty string is a format problem (non-empty string required)
        assert isinstance(ei.value, BundlePathError)


def test_symlink_outside_bundle(tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    make_bundle(root)
    outside = tmp_path / "outside.onnx"
    outside.write_bytes((root / "encoder.onnx").read_bytes())
    (root / "encoder.onnx").unlink()
    try:
        os.symlink(outside, root / "encoder.onnx")
    except OSError:
        pytest.skip("symlinks not supported here")
    with pytest.raises(BundlePathError, match="outside the bundle"):
        Bundle.load(root, verify=False)
    # The writer applies the same rule.
    with pytest.raises(BundlePathError):
        describe_graph_file(root, "encoder.onnx")


def test_symlink_inside_bundle_is_fine(tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    make_bundle(root)
    (root / "graphs" / "decoder.onnx").rename(root / "real.onnx")
    os.symlink(root / "real.onnx", root / "graphs" / "decoder.onnx")
    assert Bundle.load(root).graph_path("decoder") == (root / "real.onnx").resolve()


def test_missing_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleNotFoundError, match="no bundle directory"):
        Bundle.load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleNotFoundError, match=MANIFEST_NAME):
        Bundle.load(tmp_path / "empty")


def test_missing_variant_and_stage(bdir: Path) -> None:
    b = Bundle.load(bdir)
    with pytest.raises(MissingVariantError) as ei:
        b.graph_path("decoder", "int8")
    err = ei.value
    assert isinstance(err, KeyError) and isinstance(err, BundleError)
    assert "'int8'" in str(err) and "fp16, fp32" in str(err) and "'decoder'" in str(err)
    assert err.available == ["fp16", "fp32"] and err.precision == "int8"
    assert not str(err).startswith('"')  # not KeyError's repr-quoted message
    with pytest.raises(MissingVariantError, match="precisions present: fp32$"):
        b.manifest.graphs["encoder"].variant("fp16")
    with pytest.raises(MissingStageError, match="vocoder"):
        b.graph_path("vocoder")


def test_verify_false_skips_hashing(bdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = bdir / "encoder.onnx"
    f.write_bytes(b"corrupted")
    monkeypatch.setattr(bmod, "sha256_file", lambda *a, **k: pytest.fail("hashed with verify=False"))
    b = Bundle.load(bdir, verify=False)
    assert b.graph_path("encoder") == f.resolve()
    monkeypatch.undo()
    with pytest.raises(BundleIntegrityError):
        b.verify()


def test_write_manifest_rejects_bad_manifest(tmp_path: Path) -> None:
    m = make_bundle(tmp_path / "b")
    with pytest.raises(BundleFormatError, match="sample_rate"):
        write_manifest(tmp_path / "b", replace(m, sample_rate=0))
    bad_graph = GraphEntry(ENC_IN, ENC_OUT, {"fp32": GraphVariant("../x.onnx", "0" * 64, 1)})
    with pytest.raises(BundlePathError):
        write_manifest(tmp_path / "b", replace(m, graphs={**m.graphs, "encoder": bad_graph}))
    with pytest.raises(BundleVersionError):
        write_manifest(tmp_path / "b", replace(m, format_version=FORMAT_VERSION + 1))
    # Failed writes leave the previous manifest intact and no temp files.
    assert Bundle.load(tmp_path / "b").manifest == m
    assert not [p for p in (tmp_path / "b").iterdir() if p.name.endswith(".tmp")]


def test_bundle_module_imports_no_heavy_deps() -> None:
    # numpy is a core dependency (tensor specs normalise dtypes with it); export and runtime libraries are not.
    code = "import sys, voxport.bundle; print(sorted({'torch', 'onnx', 'onnxruntime'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
