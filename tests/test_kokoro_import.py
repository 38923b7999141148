"""`voxport build --kokoro`: a checkpoint in the kokoro package's layout, its config.json and voice packs in each
format users have (kokoro-onnx's voices-*.bin npz, per-voice .pt and .npy) into a bundle that loads; bad packs
and stray options are one-line errors naming them."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from support.tiny_kokoro import tiny_config, tiny_model  # noqa: E402
from test_kokoro_model import kokoro_layout  # noqa: E402

from voxport.cli import main  # noqa: E402
from voxport.export.kokoro.voices import VoicePackError, read_voice_packs  # noqa: E402


def _pack(seed: int, rows: int = 60) -> np.ndarray:
    return (0.3 * np.random.default_rng(seed).standard_normal((rows, 1, 16))).astype(np.float32)


def test_every_pack_format_reads_and_wrong_shapes_are_named(tmp_path):
    np.savez(tmp_path / "voices-v1.0.bin", af_a=_pack(0), af_b=_pack(1))
    (tmp_path / "voices-v1.0.bin.npz").rename(tmp_path / "voices-v1.0.bin")
    torch.save(torch.from_numpy(_pack(2)), tmp_path / "am_c.pt")
    np.save(tmp_path / "bf_d.npy", _pack(3)[:, 0, :])
    packs = read_voice_packs([tmp_path / "voices-v1.0.bin", tmp_path / "am_c.pt", tmp_path / "bf_d.npy"], 16)
    assert list(packs) == ["af_a", "af_b", "am_c", "bf_d"]
    np.testing.assert_array_equal(packs["am_c"], _pack(2)[:, 0, :])
    np.save(tmp_path / "wide.npy", np.zeros((60, 1, 32), np.float32))
    with pytest.raises(VoicePackError, match=r"wide.npy: voice 'wide' has shape \[60, 1, 32\], expected"):
        read_voice_packs([tmp_path / "wide.npy"], 16)
    np.save(tmp_path / "short.npy", np.zeros((10, 16), np.float32))
    with pytest.raises(VoicePackError, match="differ in rows"):
        read_voice_packs([tmp_path / "bf_d.npy", tmp_path / "short.npy"], 16)
    (tmp_path / "junk.bin").write_bytes(b"nope")
    with pytest.raises(VoicePackError, match="junk.bin is not a Kokoro voice pack"):
        read_voice_packs([tmp_path / "junk.bin"], 16)


def test_voxport_build_kokoro_writes_a_bundle_that_speaks(tmp_path, capsys):
    torch.save(kokoro_layout(tiny_model()), tmp_path / "kokoro-tiny.pth")
    (tmp_path / "config.json").write_text(json.dumps(tiny_config()), encoding="utf-8")
    np.savez(tmp_path / "voices.npz", af_a=_pack(0), af_b=_pack(1))
    out = tmp_path / "bundle"
    args = ["build", "--kokoro", str(tmp_path / "kokoro-tiny.pth"),  # config.json beside it
            "--voices", str(tmp_path / "voices.npz"), "--default-voice", "af_b", "-o", str(out), "--quiet"]
    assert main(args) == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["family"] == "kokoro" and manifest["params"]["voices"] == ["af_a", "af_b"]
    assert manifest["params"]["default_voice"] == "af_b" and manifest["speaker_id_map"] == {"af_a": 0, "af_b": 1}
    assert main(["speak", "--bundle", str(out), "-o", str(tmp_path / "a.wav"), "Hello there."]) == 0
    capsys.readouterr()
    assert main(["build", "--voices", str(tmp_path / "voices.npz"), "-o", str(tmp_path / "x")]) == 2
    assert "--voices goes with --kokoro" in capsys.readouterr().err
    assert main(["build", "--kokoro", str(tmp_path / "kokoro-tiny.pth"), "--kokoro-config", str(tmp_path / "no.json"),
                 "--voices", str(tmp_path / "voices.npz"), "-o", str(tmp_path / "y")]) == 2
    assert "needs its config.json: none at" in capsys.readouterr().err
