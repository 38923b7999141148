"""VALL-E X on tiny random-weight checkpoints (never speech): the bundle, the SDK's AR loop, NAR passes,
streaming, prompts and the offline import errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from support.needs_export import torch  # noqa: F401 -- skips the module without the export extra

from voxport.families.vallex import contract as v
from voxport.families.vallex.prompt import VoicePrompt
from voxport.families.vallex.sampling import TokenSampler


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory):
    from support.tiny_vallex import build_tiny_bundle

    tmp = tmp_path_factory.mktemp("vallex")
    return build_tiny_bundle(tmp / "bundle", tmp / "work", stop="cap", fixed_slots=400, encodec=True)


@pytest.fixture(scope="module")
def prompt_file(tmp_path_factory: pytest.TempPathFactory):
    codes = np.random.default_rng(0).integers(0, 1024, (8, 20))
    return VoicePrompt(codes, np.array([3, 4, 5]), "en").save(tmp_path_factory.mktemp("p") / "voice.npz")


def test_speaks_to_the_cap_with_a_warning_same_seed_same_audio(bundle, prompt_file) -> None:
    from voxport import Voice

    with Voice.load(bundle) as voice, pytest.warns(RuntimeWarning, match="length cap"):
        a = voice.synthesize("Hi there.", seed=3, prompt=str(prompt_file))
        b = voice.synthesize("Hi there.", seed=3, prompt=str(prompt_file), fixed_step=True)
        c = voice.synthesize("Hi there.", seed=4, prompt=str(prompt_file))
    n_ids = len(voice.frontend.ids(voice.frontend.phonemes("Hi there.")))
    assert a.size == 16 * (n_ids + 3) * 320  # 16 tokens per text token (prompt's 3 included), 320 samples each
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_stream_joins_into_the_whole_sentence(bundle, prompt_file) -> None:
    from voxport import Voice

    with Voice.load(bundle) as voice, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        whole = voice.synthesize("Hi there.", seed=1, prompt=str(prompt_file))
        chunks = list(voice.stream("Hi there.", seed=1, prompt=str(prompt_file)))
    assert len(chunks) > 1
    joined = np.concatenate([np.asarray(getattr(c, "audio", c)) for c in chunks])
    assert joined.shape == whole.shape and np.max(np.abs(joined - whole)) < 1e-5


def test_fixed_slot_step_gives_the_growing_steps_logits(bundle) -> None:
    from voxport.bundle import Bundle
    from voxport.families.vallex.pipeline import CodecLoopPipeline
    from voxport.pipeline.engine import Engine
    from voxport.pipeline.sessions import StageSessions

    b = Bundle.load(bundle)
    with StageSessions.open(b) as sessions:
        pipe = CodecLoopPipeline(Engine(b.manifest, sessions))
        out = pipe.engine.run(v.AR_PREFILL, {v.TEXT_IDS: np.arange(1, 8)[None], v.PROMPT_TEXT_LENGTH: np.array([2]),
                                             v.LANGUAGES: np.array([0, 0]), v.AUDIO_IDS: np.array([[v.BOS, 5, 9]])})
        fixed, growing = pipe._stepper(out[v.CACHE], 10, True), pipe._stepper(out[v.CACHE], 10, False)
        for i, token in enumerate([7, 1000, 3, 512]):
            a, b_ = fixed(token, 3 + i), growing(token, 3 + i)
            assert np.max(np.abs(a - b_)) < 1e-4


class _EosEngine:
    """An engine whose AR always says EOS (the loop's stop, without a graph)."""

    class manifest:  # noqa: N801
        params = {"max_tokens_per_text_token": 16}

    def run(self, stage: str, feeds: dict) -> dict:
        logits = np.zeros((1, 1025), np.float32)
        logits[0, v.EOS] = 100.0
        return {v.LOGITS: logits, v.CACHE: np.zeros((1, 2, 1, 1, 4, 2), np.float32)}


def test_eos_at_once_warns_and_gives_no_tokens() -> None:
    from voxport.families.vallex.pipeline import CodecLoopPipeline

    pipe = CodecLoopPipeline(_EosEngine())  # type: ignore[arg-type]
    feeds = {v.TEXT_IDS: np.ones((1, 4), np.int64)}
    with pytest.warns(RuntimeWarning, match="EOS at once"):
        assert pipe.ar_tokens(feeds, VoicePrompt.empty("en"), TokenSampler(0)).size == 0


def test_sampler_is_seeded_and_top_k_one_is_argmax() -> None:
    logits = np.random.default_rng(0).standard_normal(1025)
    draws = [TokenSampler(7)(logits) for _ in range(2)]
    assert draws[0] == draws[1]
    assert TokenSampler(1, top_k=1)(logits) == int(np.argmax(logits))
    with pytest.raises(ValueError, match="temperature"):
        TokenSampler(0, temperature=0)


def test_prompt_round_trips_in_plachtaas_layout(tmp_path) -> None:
    p = VoicePrompt(np.arange(16).reshape(8, 2), np.array([1, 2]), "ja").save(tmp_path / "v.npz")
    with np.load(p) as f:
        assert f["audio_tokens"].shape == (1, 2, 8) and f["text_tokens"].shape == (1, 2) and int(f["lang_code"]) == 2
    back = VoicePrompt.load(p)
    assert np.array_equal(back.codes, np.arange(16).reshape(8, 2)) and back.language == "ja"
    np.savez(tmp_path / "bad.npz", audio_tokens=np.zeros((1, 2, 4)), text_tokens=np.zeros((1, 1)), lang_code=0)
    with pytest.raises(ValueError, match=r"bad\.npz: audio_tokens must be \[1, frames, 8\]"):
        VoicePrompt.load(tmp_path / "bad.npz")


def test_build_without_vocos_files_names_them_and_fails(tmp_path, capsys) -> None:
    from support.tiny_vallex import write_checkpoint, write_symbols

    from voxport.cli.main import main

    ckpt, bpe = write_checkpoint(tmp_path / "vallex-checkpoint.pt"), write_symbols(tmp_path / "bpe.json")
    (tmp_path / "vocos").mkdir()
    status = main(["build", "--vallex", str(ckpt), "--vocos", str(tmp_path / "vocos"), "--bpe", str(bpe),
                   "-o", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status != 0 and len(err) == 1
    assert "config.yaml is missing" in err[0] and "charactr/vocos-encodec-24khz" in err[0]
    assert not (tmp_path / "out").exists()


def test_mismatched_checkpoint_names_the_key(tmp_path) -> None:
    from voxport.export.vallex.build import CheckpointError, load_vallex_checkpoint

    torch.save({"model": {"ar_text_embedding.word_embeddings.weight": torch.zeros(2048, 64)}}, tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match="lacks 'ar_predict_layer.weight'"):
        load_vallex_checkpoint(tmp_path / "c.pt")
    torch.save({"state_dict": {}}, tmp_path / "d.pt")
    with pytest.raises(CheckpointError, match="expected a dict with key 'model'"):
        load_vallex_checkpoint(tmp_path / "d.pt")


def test_calibration_refuses_the_family() -> None:
    from voxport.families import family_named

    assert "sampled" in family_named("vallex").calibration_refusal


def _tone(path, seconds: float, rate: int = 44100, channels: int = 2):  # noqa: ANN001, ANN202
    import wave

    t = np.arange(int(rate * seconds)) / rate
    x = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.repeat(x, channels).tobytes())
    return path


def test_prompt_make_then_speak_with_it(bundle, tmp_path, capsys) -> None:
    from voxport import Voice
    from voxport.cli.main import main

    wav, out = _tone(tmp_path / "a.wav", 3.5), tmp_path / "voice.npz"
    assert main(["prompt", "make", str(wav), "Hello world.", "-o", str(out), "--bundle", str(bundle)]) == 0
    prompt = VoicePrompt.load(out)
    assert prompt.codes.shape == (8, 3.5 * 24000 // 320) and prompt.language == "en" and prompt.text_ids.size
    with Voice.load(bundle) as voice, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert voice.synthesize("Hi.", seed=0, prompt=str(out)).size > 0
    _tone(tmp_path / "short.wav", 1.0)
    assert main(["prompt", "make", str(tmp_path / "short.wav"), "Hi.", "-o", str(out), "--bundle", str(bundle)]) == 1
    assert "1.00 s of audio; a prompt is 3-10 s" in capsys.readouterr().err


def test_prompt_make_with_a_japanese_transcript(bundle, tmp_path) -> None:
    pytest.importorskip("pyopenjtalk", reason="needs the vallex-ja extra")
    pytest.importorskip("unidecode", reason="needs the vallex-ja extra")
    from voxport import Voice
    from voxport.cli.main import main

    wav, out = _tone(tmp_path / "a.wav", 3.5), tmp_path / "voice.npz"
    assert main(["prompt", "make", str(wav), "がっこう", "-o", str(out), "--bundle", str(bundle),
                 "--language", "ja"]) == 0
    prompt = VoicePrompt.load(out)
    with Voice.load(bundle) as voice:
        ja = voice.frontend.for_language("ja")
        assert prompt.language == "ja" and prompt.text_ids.tolist() == ja.ids(ja.phonemes("がっこう"))
        assert ja.phonemes("がっこう") == "ga↑k#koo."


def test_decoder_steps_forces_the_token_count_and_profile_shows_per_call_times(bundle, tmp_path) -> None:
    from voxport import Voice
    from voxport.cli.main import main

    with Voice.load(bundle) as voice:
        assert voice.synthesize("Hi.", seed=0, decoder_steps=7).size == 7 * 320  # no cap warning: forced
    (tmp_path / "t.txt").write_text("Hi there.\n")
    report = tmp_path / "r.md"
    assert main(["profile", "--bundle", str(bundle), "--texts", str(tmp_path / "t.txt"), "--runs", "1",
                 "--passes", "1", "--cold", "0", "--no-baseline", "--in-process", "--threads", "1",
                 "--decoder-steps", "12", "--markdown", str(report), "--quiet"]) == 0
    text = report.read_text()
    assert "| ar_step | 12.0 |" in text and "| nar | 7.0 |" in text


def test_chinese_text_goes_through_the_zh_frontend_and_language_id(bundle) -> None:
    pytest.importorskip("pypinyin", reason="needs the vallex-zh extra")
    pytest.importorskip("jieba", reason="needs the vallex-zh extra")
    pytest.importorskip("cn2an", reason="needs the vallex-zh extra")
    from voxport import Voice

    seen: list[dict] = []
    with Voice.load(bundle) as voice:
        run = voice.pipeline.engine.run

        def spy(stage: str, feeds: dict) -> dict:  # the languages feed each graph call gets
            seen.append(feeds)
            return run(stage, feeds)

        voice.pipeline.engine.run = spy
        audio = voice.synthesize("你好。", language="zh", seed=0, decoder_steps=5)
        zh = voice.frontend.for_language("zh")
        expected = zh.ids(zh.phonemes("你好。"))  # "ni↓↑xɑʊ↓↑." in the tiny bundle's symbols
    assert audio.size == 5 * 320
    assert expected and seen[0][v.TEXT_IDS][0].tolist() == expected
    assert np.array_equal(seen[0][v.LANGUAGES], [v.LANGUAGE_IDS["zh"]] * 2)  # no prompt: it takes the text's language


def test_chinese_text_without_the_extra_is_refused_in_one_line(bundle, monkeypatch) -> None:
    import sys

    from voxport import Voice

    monkeypatch.setitem(sys.modules, "jieba", None)  # as if the vallex-zh extra were not installed
    with Voice.load(bundle) as voice, pytest.raises(ValueError, match=r"pip install 'voxport\[vallex-zh\]'"):
        voice.synthesize("你好", language="zh")


def test_serve_voice_speaks_with_its_configured_prompt(bundle, prompt_file) -> None:
    import asyncio

    pytest.importorskip("voxport.server.registry")
    from voxport import Voice
    from voxport.cli.serve import with_voice_options
    from voxport.server.registry import VoiceRegistry, VoiceSpec
    from voxport.synthesis import SynthesisConfig

    specs = with_voice_options([VoiceSpec("alice", bundle)], [f"alice:prompt={prompt_file}"])
    assert with_voice_options(specs, ["alice:fixed_step=false"])[0].options == (("fixed_step", False),)
    with pytest.raises(ValueError, match="not configured: bob"):
        with_voice_options(specs, ["bob:prompt=x.npz"])
    with pytest.raises(ValueError, match="'alice': speed is not a setting of its family 'vallex'"):
        VoiceRegistry.load([VoiceSpec("alice", bundle, (("speed", "2"),))], workers=1, queue_size=1)

    async def speak() -> np.ndarray:
        stream = await registry.open_stream("alice", "Hi.", SynthesisConfig(seed=2, options={"prompt": "x.npz"}))
        return np.concatenate([np.asarray(c.audio) async for c in stream])

    registry = VoiceRegistry.load(specs, workers=1, queue_size=1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            served = asyncio.run(speak())
            with Voice.load(bundle) as voice:
                direct = voice.synthesize("Hi.", seed=2, prompt=str(prompt_file))
    finally:
        registry.close()
    assert np.allclose(served, direct, atol=1e-6)


def test_same_seed_same_codes_on_onnxruntime_and_openvino(bundle, prompt_file) -> None:
    """The AR tokens are drawn on the host from each runtime's logits: one seed, one token sequence."""
    pytest.importorskip("openvino")
    from voxport import Voice
    from voxport.synthesis import SynthesisConfig

    config = SynthesisConfig(seed=5, decoder_steps=40, options={"prompt": str(prompt_file)})
    codes = {}
    for runtime in ("onnxruntime", "openvino"):
        with Voice.load(bundle, runtime) as voice:
            ids = voice.frontend.ids(voice.frontend.phonemes("Hi there."))
            codes[runtime] = voice.pipeline.utterance(ids, config, voice.pipeline.draws(config)).codes
    assert np.array_equal(codes["onnxruntime"], codes["openvino"])
