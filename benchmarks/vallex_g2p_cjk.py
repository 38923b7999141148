"""How often voxport's VALL-E X Chinese and Japanese front-ends give exactly Plachtaa's IPA string.

    VALLEX_CHECKOUT=/path/to/VALL-E-X python benchmarks/vallex_g2p_cjk.py

Loads Plachtaa's `utils/g2p/mandarin.py` and `japanese.py` as standalone modules (their package __init__
imports torch and their tokenizer; these two files need only jieba, cn2an, pypinyin, pyopenjtalk, unidecode).
The sentences are tests/data/vallex_cjk_sentences.txt (20 per language, not used to write the code)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

SENTENCES = Path(__file__).resolve().parent.parent / "tests" / "data" / "vallex_cjk_sentences.txt"


def plachtaa_module(checkout: Path, name: str):  # noqa: ANN201 -- their module
    spec = importlib.util.spec_from_file_location(f"plachtaa_{name}", checkout / "utils" / "g2p" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sentences() -> dict[str, list[str]]:
    by_language: dict[str, list[str]] = {"zh": [], "ja": []}
    for line in SENTENCES.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            language, _, text = line.partition("\t")
            by_language[language].append(text)
    return by_language


def compare(checkout: Path) -> dict[str, tuple[int, int, list[tuple[str, str, str]]]]:
    from voxport.families.vallex.japanese import japanese_ipa
    from voxport.families.vallex.mandarin import mandarin_ipa

    theirs = {"zh": plachtaa_module(checkout, "mandarin").chinese_to_ipa,
              "ja": plachtaa_module(checkout, "japanese").japanese_to_ipa2}
    ours = {"zh": mandarin_ipa, "ja": japanese_ipa}
    out = {}
    for language, texts in sentences().items():
        diffs = [(t, theirs[language](t), ours[language](t)) for t in texts]
        diffs = [d for d in diffs if d[1] != d[2]]
        out[language] = (len(texts) - len(diffs), len(texts), diffs)
    return out


def main() -> int:
    checkout = Path(os.environ.get("VALLEX_CHECKOUT", "/work/ref/VALL-E-X"))
    for language, (same, total, diffs) in compare(checkout).items():
        print(f"{language}: {same}/{total} sentences identical")
        for text, theirs, ours in diffs:
            print(f"  {text}\n    theirs {theirs}\n    ours   {ours}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
