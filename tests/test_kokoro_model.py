"""Kokoro's torch side on the tiny Kokoro-shaped model: its stage graphs export and match torch, a checkpoint
in the `kokoro` package's layout (weight norm, `module.` prefixes) loads by name, and bad files are refused
with an error naming what is wrong."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

import numpy as np  # noqa: E402
from support.tiny_kokoro import tiny_config, tiny_model  # noqa: E402

from voxport.export.errors import MissingTensorError  # noqa: E402
from voxport.export.kokoro.checkpoint import NotKokoroError, VocabMismatchError, load_kokoro  # noqa: E402
from voxport.export.kokoro.graphs import specs  # noqa: E402
from voxport.export.onnx_export import FORBIDDEN_OPS, export_graph  # noqa: E402
from voxport.families.kokoro import contract as k  # noqa: E402

# The convolutions kokoro does not weight-norm (its loader is not strict: a wrong name would go unnoticed).
PLAIN_CONVS = ("generator.noise_convs.", "F0_proj.", "N_proj.")


def kokoro_layout(model) -> dict:  # noqa: ANN001
    """The model's weights saved as kokoro does: five parts, `module.`-prefixed, convolutions weight-normed."""
    parts = {}
    for part in ("bert", "bert_encoder", "predictor", "text_encoder", "decoder"):
        state = {}
        for key, value in getattr(model, part).state_dict().items():
            if key.endswith(".weight") and value.dim() == 3 and not key.startswith(PLAIN_CONVS):
                # a weight-normed conv: saved as g * v / |v| with v = 2 * weight
                v = 2.0 * value
                state[f"module.{key[:-len('weight')]}weight_g"] = value.flatten(1).norm(dim=1).view(-1, 1, 1)
                state[f"module.{key[:-len('weight')]}weight_v"] = v
            elif ".norm.weight" in key or ".norm.bias" in key:
                continue  # trained without instance-norm affine parameters, as kokoro's checkpoints are
            else:
                state[f"module.{key}"] = value
        parts[part] = state
    return parts


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def test_every_stage_exports_and_matches_torch(model, tmp_path):
    for name, spec in specs(model, 24000).items():
        diff = export_graph(spec, tmp_path / f"{name}.onnx")
        assert diff < spec.atol
        ops = {n.op_type for n in onnx.load(str(tmp_path / f"{name}.onnx")).graph.node}
        assert not ops & FORBIDDEN_OPS, name
    assert [t.name for t in specs(model, 24000)[k.DECODER].inputs] == list(k.CONTRACTS[k.DECODER].inputs)


def test_checkpoint_in_kokoro_layout_loads_by_name(model, tmp_path):
    path = tmp_path / "kokoro.pth"
    torch.save(kokoro_layout(model), path)
    loaded = load_kokoro(path, tiny_config())
    ids = torch.tensor([[0, 3, 9, 12, 8, 0]])
    style = torch.randn(1, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for a, b in zip(model.encode(ids, style), loaded.encode(ids, style), strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)
    norm = loaded.decoder.encode.norm1.norm
    assert torch.all(norm.weight == 1) and torch.all(norm.bias == 0)


def test_bad_files_are_named(model, tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "other.pth")
    with pytest.raises(NotKokoroError, match="other.pth is not a Kokoro checkpoint"):
        load_kokoro(tmp_path / "other.pth", tiny_config())
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(NotKokoroError, match="junk.pth"):
        load_kokoro(tmp_path / "junk.pth", tiny_config())
    parts = kokoro_layout(model)
    del parts["decoder"]["module.F0_conv.bias"]
    torch.save(parts, tmp_path / "short.pth")
    with pytest.raises(MissingTensorError, match="decoder.F0_conv.bias"):
        load_kokoro(tmp_path / "short.pth", tiny_config())
    cfg = tiny_config()
    cfg["vocab"]["ʒ"] = 99
    with pytest.raises(VocabMismatchError, match="ʒ"):
        load_kokoro(tmp_path / "short.pth", cfg)
    cfg = tiny_config()
    del cfg["istftnet"]
    with pytest.raises(NotKokoroError, match="istftnet"):
        load_kokoro(tmp_path / "short.pth", cfg)


def test_stft_variants_compute_what_they_name():
    from voxport.export.kokoro.istft import RealSTFT

    g = torch.Generator().manual_seed(0)
    mag, phase = torch.exp(torch.randn(1, 11, 40, generator=g)), torch.randn(1, 11, 40, generator=g)
    window = torch.hann_window(20)
    ref = torch.istft(mag * torch.exp(1j * phase), 20, 5, 20, window=window, center=True)
    with torch.no_grad():
        exact = RealSTFT(20, 5, "torch").inverse(mag, phase)[0, 0]
        monolith = RealSTFT(20, 5, "monolith").inverse(mag, phase)[0, 0]
        wave = torch.randn(1, 400, generator=g)
        m, p = RealSTFT(20, 5, "torch").transform(wave)
    assert float((exact - ref[0]).abs().max()) < 1e-5
    # kokoro-onnx's v1.0 files overlap-add without dividing by the window: 1.5x torch.istft at hop n_fft / 4
    assert float((monolith[20:-20] - 1.5 * ref[0, 20:-20]).abs().max()) < 1e-5
    spec = torch.stft(wave, 20, 5, 20, window=window, center=True, return_complex=True)
    assert float((m - spec.abs()).abs().max()) < 1e-5
    assert float((torch.cos(p) - torch.cos(spec.angle())).abs().max()) < 1e-4
