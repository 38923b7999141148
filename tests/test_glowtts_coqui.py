"""Against Coqui TTS itself: Coqui's own GlowTTS and HiFi-GAN with random weights, saved by Coqui, must
come out of a voxport bundle sample for sample (same noise), and Griffin-Lim must match Coqui's.

coqui-tts is not part of `make test`: with its dependencies it would replace this project's torch. To
run these tests, install it beside the dev environment without dependencies (see README, "GlowTTS").
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from support.needs_export import torch

pytest.importorskip(
    "TTS.tts.models.glow_tts", exc_type=ImportError,
    reason="coqui-tts is not importable here (kept out of the default install; see README, GlowTTS)",
)

from support.tiny_glowtts import coqui_config, hifigan_config  # noqa: E402
from TTS.config import load_config  # noqa: E402
from TTS.tts.models.glow_tts import GlowTTS as CoquiGlowTTS  # noqa: E402
from TTS.utils.audio import AudioProcessor  # noqa: E402
from TTS.vocoder.models import setup_model  # noqa: E402

from voxport import Voice  # noqa: E402
from voxport.export.glowtts.build import build_from_coqui  # noqa: E402
from voxport.pipeline.griffin_lim import GriffinLim  # noqa: E402
from voxport.synthesis import SynthesisConfig  # noqa: E402
from voxport.text.phoneme_ids import PhonemeIdMapper  # noqa: E402

IDS = [[3, 10, 20, 5, 30, 40, 7, 9], [0] + [i for p in range(10, 60, 3) for i in (p, 0)], [0, 44, 0]]
SPEAKERS = ["ana", "ben", "cid"]


def coqui_model(tmp_path, config: dict, seed: int):
    """Coqui's GlowTTS from a config.json; random weights (its zero-initialized layers perturbed)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    c = load_config(str(path))
    c.use_phonemes = False  # Coqui's espeak phonemizer needs a system espeak; the layers do not care
    torch.manual_seed(seed)
    model = CoquiGlowTTS(c).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("logs", "bias", "gamma", "beta")) or ".end." in name:
                p.add_(0.1 * torch.randn_like(p))
        model.encoder.duration_predictor.proj.bias.fill_(1.4)
        model.encoder.duration_predictor.proj.weight.mul_(0.2)
    torch.save({"model": model.state_dict(), "config": config}, tmp_path / "model.pth")
    return model, c, (path, tmp_path / "model.pth")


def coqui_vocoder(tmp_path, config: dict, seed: int):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    c = load_config(str(path))
    torch.manual_seed(seed)
    gan = setup_model(c).eval()  # generator (model_g) and discriminator (model_d), weight-normed
    torch.save({"model": gan.state_dict()}, tmp_path / "model.pth")
    return gan, c, (path, tmp_path / "model.pth")


def coqui_inference(model, ids, eps: np.ndarray, noise_scale: float, sid: int | None = None) -> torch.Tensor:
    """Coqui's GlowTTS.inference with torch.randn_like giving voxport's noise (the frame Coqui's squeeze
    drops gets any noise: it is cut before the decoder)."""
    model.inference_noise_scale, model.length_scale = noise_scale, 1.0

    def noise(t: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        return torch.cat([torch.from_numpy(eps), torch.zeros(1, eps.shape[1], t.shape[2] - eps.shape[2])], 2)

    aux = {"x_lengths": torch.tensor([len(ids)]), "d_vectors": None,
           "speaker_ids": None if sid is None else torch.tensor([sid])}
    original, torch.randn_like = torch.randn_like, noise
    try:
        return model.inference(torch.tensor([ids]), aux_input=aux)["model_outputs"].transpose(1, 2)
    finally:
        torch.randn_like = original


@pytest.mark.parametrize("multi_speaker", [False, True], ids=["one-speaker", "three-speakers"])
def test_voxport_reproduces_coquis_glowtts_and_hifigan(tmp_path, phonemes, multi_speaker):
    extra = {"use_speaker_embedding": True, "num_speakers": 3, "speakers": SPEAKERS} if multi_speaker else {}
    model, c, files = coqui_model(tmp_path / "tts", coqui_config(phonemes, **extra), seed=0)
    gan, vc, voc_files = coqui_vocoder(tmp_path / "voc", hifigan_config(symmetric_norm=False, max_norm=1.0), 1)
    bundle = build_from_coqui(*files, tmp_path / "bundle", vocoder=voc_files)
    ap_model, ap_vocoder = AudioProcessor(c.audio), AudioProcessor(vc.audio)
    pad = gan.model_g.inference_padding * 32
    sid = 1 if multi_speaker else None
    with Voice.load(bundle, threads=1) as voice:
        assert voice.manifest.speaker_id_map == ({n: i for i, n in enumerate(SPEAKERS)} if multi_speaker else {})
        for ids in IDS:
            for noise_scale in (0.0, 0.667):
                ours = voice.synthesize_ids(ids, noise_scale=noise_scale, seed=7, speaker="ben" if sid else None)
                prepared = voice.pipeline.prepare(ids, voice.engine.scales(SynthesisConfig(noise_scale=noise_scale)),
                                                np.random.default_rng(7), voice.engine.speaker_id(sid))
                rng = np.random.default_rng(7)
                rng.standard_normal((1, 2, len(ids)), dtype=np.float32)
                eps = rng.standard_normal((1, 16, prepared.n_frames), dtype=np.float32)
                mel = coqui_inference(model, ids, eps, noise_scale, sid)
                np.testing.assert_allclose(voice.pipeline.decode(prepared), mel.numpy(), atol=1e-4)
                # Coqui's Synthesizer._run_vocoder: renormalize for the vocoder, then its inference().
                x = ap_vocoder.normalize(ap_model.denormalize(mel[0].numpy()))
                with torch.no_grad():
                    wav = gan.inference(torch.from_numpy(x)[None].float())[0, 0].numpy()
                assert wav.size == ours.size + 2 * pad  # Coqui also returns its 5 padding frames each side
                assert float(np.max(np.abs(wav[pad:-pad] - ours))) <= 1e-4


@pytest.mark.parametrize("add_blank,bos_eos", [(True, False), (False, True), (True, True)])
def test_phoneme_ids_match_coquis_tokenizer(tmp_path, phonemes, add_blank, bos_eos):
    config = coqui_config(phonemes, add_blank=add_blank, enable_eos_bos_chars=bos_eos)
    model, _, files = coqui_model(tmp_path, config, seed=0)
    bundle = build_from_coqui(*files, tmp_path / "bundle")
    m = Voice.load(bundle).manifest
    ph = m.phonemizer
    mapper = PhonemeIdMapper(m.phoneme_id_map, pad=ph["pad"], bos=ph["bos"], eos=ph["eos"],
                             pad_after_bos=ph["pad_after_bos"])
    tokenizer = model.tokenizer
    for text in ["həlˈoʊ wˈɜːld!", "ðɪs ɪz ɐ tˈɛst, ɔːlsoʊ."]:
        ids = tokenizer.encode(text)
        ids = tokenizer.intersperse_blank_char(ids) if add_blank else ids
        ids = tokenizer.pad_with_bos_eos(ids) if bos_eos else ids
        assert mapper.to_ids(text) == ids


def test_griffin_lim_matches_coquis(tmp_path, phonemes, monkeypatch):
    config = coqui_config(phonemes)
    _, c, files = coqui_model(tmp_path, config, seed=0)
    voice = Voice.load(build_from_coqui(*files, tmp_path / "bundle"))
    ap = AudioProcessor(c.audio)
    t = np.arange(16000 // 2) / 16000
    wave = (0.1 * np.sin(2 * np.pi * 220 * t) + 0.03 * np.sin(2 * np.pi * 1250 * t)).astype(np.float32)
    mel = ap.melspectrogram(wave)  # a realistic, normalized mel [16, T]
    gl = GriffinLim(voice.manifest.mel, voice.sample_rate, voice.hop_length)
    phase = np.random.default_rng(gl.seed).random((c.audio.fft_size // 2 + 1, mel.shape[1]))
    monkeypatch.setattr(np.random, "rand", lambda *shape: phase)
    ref = ap.inv_melspectrogram(mel)  # Coqui: (T - 1) * hop samples
    ours = gl(mel[None])
    assert ours.size == mel.shape[1] * 32 and ref.size == ours.size - 32
    assert np.abs(ref).max() < 1.0  # within voxport's clip, so the clip does not hide a difference
    assert float(np.max(np.abs(ours[: ref.size] - ref))) <= 1e-4 * max(1.0, float(np.abs(ref).max()))
