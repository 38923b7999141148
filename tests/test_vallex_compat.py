"""Opt-in: voxport's VALL-E X against Plachtaa/VALL-E-X's own code, both with the same random weights (no
trained weights are reachable). VALLEX_CHECKOUT points at a checkout of that repository (never copied
here); Vocos is compared with the `vocos` package when it is installed.

Plachtaa's `inference` samples with torch.multinomial; its AR logits are recorded at every step and its
tokens fed to voxport's prefill + step (teacher forcing), so both see the same sampled tokens.
"""

from __future__ import annotations

import os
import sys
import types

import pytest
from support.needs_export import torch

CHECKOUT = os.environ.get("VALLEX_CHECKOUT")
pytestmark = pytest.mark.skipif(not CHECKOUT, reason="VALLEX_CHECKOUT (a Plachtaa/VALL-E-X checkout) is not set")


def _reference(d_model: int, nhead: int, layers: int):  # noqa: ANN202 -- their VALLE
    sys.path.insert(0, CHECKOUT)  # type: ignore[arg-type]
    from models.vallex import VALLE

    torch.manual_seed(0)
    ref = VALLE(d_model, nhead, layers, norm_first=True, add_prenet=False, prefix_mode=1, share_embedding=True,
                nar_scale_factor=1.0, prepend_bos=True, num_quantizers=8).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(torch.randn_like(p) * 0.05)  # LayerNorms and alphas away from their init too
    return ref


def _teacher_forced(ref, mine, text, enroll, prompt, codes):  # noqa: ANN001, ANN202
    """voxport's AR logits on Plachtaa's tokens (growing and fixed-slot cache) and its NAR codes."""
    langs = torch.tensor([0, 1])
    p = prompt.shape[1]
    audio = torch.cat([torch.tensor([[1025]]), prompt[..., 0]], 1)
    logits, cache = mine.ar_prefill(text, enroll, langs, audio)
    out, gen = [logits], codes[0, :, 0]
    slots = cache.shape[4] + gen.numel() + 1
    fixed = torch.zeros(*cache.shape[:4], slots, cache.shape[5])
    fixed[..., : cache.shape[4], :] = cache
    for i, token in enumerate(gen):
        length = torch.tensor([cache.shape[4]])
        logits, cache = mine.ar_step(token.view(1, 1), torch.tensor([p + 1 + i]), cache)
        logits_fixed, fixed = mine.ar_step(token.view(1, 1), torch.tensor([p + 1 + i]), fixed, length)
        out.append(logits)
        assert torch.max(torch.abs(logits - logits_fixed)) < 1e-4
    full = torch.cat([prompt.transpose(1, 2), torch.zeros(1, 8, gen.numel(), dtype=torch.long)], 2)
    full[0, 0, p:] = gen
    for stage in range(1, 8):
        logits = mine.nar_stage(text, enroll, langs, full, torch.tensor(p), torch.tensor([stage]))
        full[0, stage, p:] = logits[0, p:].argmax(-1)
    return out, full[0, :, p:].T


@pytest.mark.parametrize("size", [(64, 4, 2), (1024, 16, 12)], ids=["small", "real"])
def test_vallex_matches_plachtaa(size: tuple[int, int, int]) -> None:
    from voxport.export.vallex.model import Vallex, VallexConfig

    ref = _reference(*size)
    mine = Vallex(VallexConfig(d_model=size[0], nhead=size[1], num_layers=size[2])).eval()
    mine.load_state_dict(ref.state_dict(), strict=True)
    text, enroll = torch.randint(0, 2048, (1, 6)), torch.tensor([2])
    prompt = torch.randint(0, 1024, (1, 10, 8))
    recorded: list[torch.Tensor] = []
    hook = ref.ar_predict_layer.register_forward_hook(lambda m, i, o: recorded.append(o.detach().clone()))
    torch.manual_seed(5)
    with torch.no_grad():
        codes = ref.inference(text, torch.tensor([6]), prompt, enroll_x_lens=enroll, top_k=-100, temperature=1.0,
                              prompt_language="en", text_language="zh")
        hook.remove()
        ours, nar = _teacher_forced(ref, mine, text, enroll, prompt, codes)
    diff = max(float(torch.max(torch.abs(a - b))) for a, b in zip(ours, recorded, strict=False))
    print(f"\n{size}: {codes.shape[1]} tokens, AR logits max |diff| {diff:.3g}, NAR codes equal "
          f"{torch.equal(nar, codes[0])}")
    assert len(recorded) >= codes.shape[1] and diff < 1e-3
    assert torch.equal(nar, codes[0])


def _stub_torchaudio() -> None:
    """`vocos` imports torchaudio (mel features, file I/O) at import; no torchaudio exists for this torch."""
    for name in ("torchaudio", "torchaudio.functional", "torchaudio.functional.functional", "torchaudio.transforms"):
        module = sys.modules.setdefault(name, types.ModuleType(name))
        for attr in ("_hz_to_mel", "_mel_to_hz", "MelSpectrogram", "Spectrogram"):
            setattr(module, attr, getattr(module, attr, None))
    sys.modules["torchaudio"].functional = sys.modules["torchaudio.functional"]  # type: ignore[attr-defined]
    sys.modules["torchaudio.functional"].functional = sys.modules["torchaudio.functional.functional"]  # type: ignore[attr-defined]
    sys.modules["torchaudio"].transforms = sys.modules["torchaudio.transforms"]  # type: ignore[attr-defined]


def test_vocos_matches_the_vocos_package() -> None:
    pytest.importorskip("scipy")
    _stub_torchaudio()
    heads = pytest.importorskip("vocos.heads")
    models = pytest.importorskip("vocos.models")
    from voxport.export.vallex.vocos import VocosConfig, VocosDecoder

    torch.manual_seed(0)
    backbone = models.VocosBackbone(input_channels=128, dim=384, intermediate_dim=1152, num_layers=8,
                                    adanorm_num_embeddings=4)
    head = heads.ISTFTHead(dim=384, n_fft=1280, hop_length=320, padding="same")
    with torch.no_grad():
        for p in [*backbone.parameters(), *head.parameters()]:
            p.add_(torch.randn_like(p) * 0.02)
    state = {**{f"backbone.{k}": t for k, t in backbone.state_dict().items()},
             **{f"head.{k}": t for k, t in head.state_dict().items()}}
    mine = VocosDecoder(VocosConfig()).eval()
    mine.load_state_dict(state, strict=True)
    features = torch.randn(1, 128, 75)
    with torch.no_grad():
        theirs = head(backbone(features, bandwidth_id=torch.tensor([2])))
        ours = mine(features)[:, 0]
    diff = float(torch.max(torch.abs(theirs - ours)))
    print(f"\nVocos audio max |diff| {diff:.3g} (peak {float(theirs.abs().max()):.3g})")
    assert ours.shape == theirs.shape and diff < 1e-4


def test_encodec_encoder_matches_the_encodec_package() -> None:
    _stub_torchaudio()
    encodec = pytest.importorskip("encodec")
    from voxport.export.vallex.encodec import EncodecEncoder

    torch.manual_seed(0)
    ref = encodec.EncodecModel.encodec_model_24khz(pretrained=False)
    ref.set_target_bandwidth(6.0)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(torch.randn_like(p) * 0.01)
        for layer in ref.quantizer.vq.layers:
            layer._codebook.embed.normal_()
    state = {k: t for k, t in ref.state_dict().items() if k.startswith("encoder.") or k.endswith("_codebook.embed")}
    mine = EncodecEncoder(32).eval()
    mine.load_state_dict(state, strict=True)
    audio = 0.3 * torch.randn(1, 1, 320 * 225)  # 3 s, a whole number of frames
    with torch.no_grad():
        theirs, ours = ref.encode(audio)[0][0], mine(audio)
    same = float((theirs == ours).float().mean())
    print(f"\nEnCodec codes identical: {same:.4f} of {theirs.numel()}")
    assert theirs.shape == ours.shape and same == 1.0


def test_plachtaas_preset_prompts_load() -> None:
    """Their presets/*.npz (made by their make_prompt with the real EnCodec) load as voxport prompts, and
    their text ids lie in bpe_69.json's 70 symbols, the table voxport's front-end maps to."""
    from pathlib import Path

    from voxport.families.vallex.prompt import VoicePrompt

    files = sorted(Path(CHECKOUT, "presets").glob("*.npz"))  # type: ignore[arg-type]
    if not files:
        pytest.skip("the checkout has no presets/*.npz")
    prompts = [VoicePrompt.load(f) for f in files]
    assert all(p.codes.shape[0] == 8 and p.codes.shape[1] > 0 and p.text_ids.max() < 70 for p in prompts)
    print(f"\n{len(prompts)} presets loaded: " + ", ".join(
        f"{lang} {sum(p.language == lang for p in prompts)}" for lang in ("en", "zh", "ja")))


class _Replay:
    """A sampler that draws Plachtaa's tokens in order (then EOS), keeping the logits it was shown."""

    def __init__(self, tokens: list[int]) -> None:
        self.tokens, self.seen = list(tokens), []

    def __call__(self, logits) -> int:  # noqa: ANN001
        self.seen.append(logits.copy())
        return self.tokens.pop(0) if self.tokens else 1024


def test_the_sdk_loop_on_the_exported_graphs_matches_plachtaa(tmp_path) -> None:
    """Their inference against voxport's whole path: the bundle's ONNX graphs run by the SDK's loop and NAR
    passes (onnxruntime), fed their sampled tokens."""
    from support.tiny_vallex import write_symbols, write_vocos

    from voxport.bundle import Bundle
    from voxport.export.vallex.build import build_from_files
    from voxport.export.vallex.importer import bpe_symbols
    from voxport.families.vallex.pipeline import CodecLoopPipeline
    from voxport.families.vallex.prompt import VoicePrompt
    from voxport.pipeline.engine import Engine
    from voxport.pipeline.sessions import StageSessions
    from voxport.synthesis import SynthesisConfig

    ref = _reference(64, 4, 2)
    torch.save({"model": ref.state_dict()}, tmp_path / "vallex-checkpoint.pt")
    out = build_from_files(tmp_path / "vallex-checkpoint.pt", write_vocos(tmp_path / "vocos"), tmp_path / "b",
                           phoneme_id_map=bpe_symbols(write_symbols(tmp_path / "bpe.json")), nhead=4)
    text, prompt = torch.randint(0, 2048, (1, 6)), torch.randint(0, 1024, (1, 10, 8))
    recorded: list[torch.Tensor] = []
    hook = ref.ar_predict_layer.register_forward_hook(lambda m, i, o: recorded.append(o.detach().clone()))
    torch.manual_seed(7)
    with torch.no_grad():
        codes = ref.inference(text, torch.tensor([6]), prompt, enroll_x_lens=torch.tensor([2]), top_k=-100,
                              prompt_language="en", text_language="en")[0]
    hook.remove()
    replay = _Replay(codes[:, 0].tolist())
    voice_prompt = VoicePrompt(prompt[0].T.numpy(), text[0, :2].numpy(), "en")
    bundle = Bundle.load(out)
    with StageSessions.open(bundle) as sessions:
        pipe = CodecLoopPipeline(Engine(bundle.manifest, sessions))
        ours = pipe.utterance(text[0, 2:].tolist(), SynthesisConfig(options={"prompt": voice_prompt}), replay)
    assert len(replay.seen) == len(recorded)  # the same number of AR steps, ended the same way
    diff = max(float(abs(a - b[0].numpy()).max()) for a, b in zip(replay.seen, recorded, strict=True))
    print(f"\nSDK on ONNX: {codes.shape[0]} tokens, AR logits max |diff| {diff:.3g}, codes equal "
          f"{(ours.codes == codes.T.numpy()).all()}")
    assert diff < 1e-3 and ours.codes.shape == codes.T.shape and (ours.codes == codes.T.numpy()).all()
