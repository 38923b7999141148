"""Opt-in: voxport's Kokoro against the `kokoro` package's own KModel (random weights from a Kokoro-shaped
config written here, `disable_complex=True`), fed the same source noise and initial phases. Durations must be
identical and the audio equal to fp32 rounding.

Skipped unless `kokoro` imports. To run it: `pip install kokoro==0.9.4 --no-deps loguru "transformers<5"
"huggingface_hub<1" "tokenizers<0.23" safetensors regex` (the `misaki` G2P it imports at the top is not needed:
a stand-in module is put in its place when it is absent)."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")


def _import_kmodel():  # noqa: ANN202
    try:
        import misaki  # noqa: F401
    except ImportError:  # kokoro's package __init__ imports its G2P; KModel never uses it
        stub = types.ModuleType("misaki")
        stub.en = stub.espeak = types.SimpleNamespace(MToken=object, G2P=object, EspeakFallback=object,
                                                      EspeakG2P=object)
        sys.modules["misaki"] = stub
    try:
        from kokoro.model import KModel
    except ImportError as e:
        pytest.skip(f"the kokoro package is not importable ({e}); see this module's docstring to install it")
    return KModel


CONFIG = {
    "vocab": {c: i for i, c in enumerate("$;:,.!?abcdefghijklmnopqrstuvwxyz", start=0) if i},
    "n_token": 40, "hidden_dim": 512, "style_dim": 128, "n_layer": 1, "max_dur": 8, "dropout": 0.2, "n_mels": 80,
    "text_encoder_kernel_size": 5,
    "plbert": {"hidden_size": 64, "num_attention_heads": 2, "intermediate_size": 128,
               "max_position_embeddings": 512, "num_hidden_layers": 2, "dropout": 0.1},
    "istftnet": {"upsample_kernel_sizes": [20, 12], "upsample_rates": [10, 6], "gen_istft_hop_size": 5,
                 "gen_istft_n_fft": 20, "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
                 "resblock_kernel_sizes": [3, 7, 11], "upsample_initial_channel": 512},
}


def test_same_durations_and_audio_as_kmodel(tmp_path, monkeypatch):
    KModel = _import_kmodel()
    from support.tiny_kokoro import randomize
    from test_kokoro_model import kokoro_layout

    from voxport.export.kokoro.model import KokoroModel
    from voxport.export.kokoro.reference import synthesize
    from voxport.families.kokoro.source import SourceDraws

    ours = randomize(KokoroModel(CONFIG), seed=3)
    torch.save(kokoro_layout(ours), tmp_path / "model.pth")
    theirs = KModel(repo_id="hexgrad/Kokoro-82M", config=CONFIG, model=str(tmp_path / "model.pth"),
                    disable_complex=True).eval()
    ids = [0, *np.random.default_rng(0).integers(1, 40, 30).tolist(), 0]
    ref_s = (0.3 * np.random.default_rng(1).standard_normal((1, 256))).astype(np.float32)
    drawn: list[SourceDraws] = []

    def draws(samples: int) -> SourceDraws:
        drawn.append(SourceDraws.draw(np.random.default_rng(7), samples))
        return drawn[-1]

    audio, frames = synthesize(ours, ids, ref_s, 1.1, draws)
    d = drawn[0]
    monkeypatch.setattr(torch, "rand", lambda *shape, **kw: torch.tensor(d.initial_phase[None], dtype=torch.float32))
    monkeypatch.setattr(torch, "randn_like", lambda x, **kw: torch.from_numpy(d.noise[None].astype(np.float32))
                        if x.shape[-1] == d.noise.shape[1] else torch.zeros_like(x))
    captured = []
    theirs.decoder.generator.m_source.l_sin_gen.register_forward_hook(lambda m, i, out: captured.append(out[0]))
    with torch.no_grad():
        their_audio, their_frames = theirs.forward_with_tokens(torch.tensor([ids]), torch.from_numpy(ref_s), 1.1)
    their_audio = their_audio.numpy()
    np.testing.assert_array_equal(frames, their_frames.numpy())
    # The source: kokoro accumulates its phase in float32, voxport in float64 (exact over long utterances).
    their_source = captured[0].transpose(1, 2).contiguous()
    ours_source = harmonics_of(ours, ids, ref_s, 1.1, d)
    source_diff = float(np.max(np.abs(ours_source - their_source.numpy())))
    diff = float(np.max(np.abs(audio - their_audio)))
    # Given kokoro's own source, the decoder graph's computation is kokoro's to fp32 rounding.
    same_source = decode_with(ours, ids, ref_s, 1.1, their_source)
    exact = float(np.max(np.abs(same_source - their_audio)))
    print(f"kokoro KModel vs voxport: {frames.sum()} frames, source max |diff| {source_diff:.2e}, audio max |diff| "
          f"{diff:.2e} (peak {np.abs(their_audio).max():.3f}), with kokoro's source {exact:.2e}")
    assert source_diff < 1e-3
    assert exact < 1e-5
    assert diff < 0.02 * np.abs(their_audio).max()


@torch.no_grad()
def _stages(model, ids, ref_s, speed):  # noqa: ANN001, ANN202
    from voxport.families.kokoro.regulate import expand, frames_of

    s = torch.from_numpy(ref_s)
    durations, pf, tf = model.encode(torch.tensor([ids]), s)
    frames = frames_of(durations.numpy(), speed)
    f0, energy = model.prosody(torch.from_numpy(expand(pf.numpy(), frames)), s)
    return s, torch.from_numpy(expand(tf.numpy(), frames)), f0, energy


def harmonics_of(model, ids, ref_s, speed, draws):  # noqa: ANN001, ANN201
    from voxport.families.kokoro.source import harmonics

    _, _, f0, _ = _stages(model, ids, ref_s, speed)
    return harmonics(f0.numpy()[0], model.hop_length // 2, 24000, draws)


@torch.no_grad()
def decode_with(model, ids, ref_s, speed, source):  # noqa: ANN001, ANN201
    s, asr, f0, energy = _stages(model, ids, ref_s, speed)
    return model.decode(asr, f0, energy, s, source).numpy()[0]
