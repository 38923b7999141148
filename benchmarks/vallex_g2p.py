"""How often voxport's English phonemes for VALL-E X equal Plachtaa's English G2P (`english_to_ipa2`:
eng_to_ipa's CMU-dictionary IPA), word by word, before and after voxport's rewrite (voxport.families.vallex.text).

Needs a Plachtaa/VALL-E-X checkout (its utils/g2p/english.py is loaded from there, never copied) and its
English G2P's packages (eng-to-ipa, inflect, unidecode):

    VALLEX_CHECKOUT=/path/to/VALL-E-X python benchmarks/vallex_g2p.py [--texts FILE]

Words are compared where both sides give the same number of words for a sentence (number reading and
abbreviations differ between the two normalizers); words eng_to_ipa does not know (marked "*") are left out.
Punctuation is stripped from both before comparing.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
from pathlib import Path

TEXTS = """The quick brown fox jumps over the lazy dog.
Hello world, this is a test of the speech system.
She sells seashells by the seashore every summer.
Yesterday the butter was better than the bread.
Please call Stella and ask her to bring these things with her from the store.
Six spoons of fresh snow peas, five thick slabs of blue cheese, and maybe a snack for her brother Bob.
We also need a small plastic snake and a big toy frog for the kids.
She can scoop these things into three red bags, and we will go meet her Wednesday at the train station.
When the sunlight strikes raindrops in the air, they act as a prism and form a rainbow.
The rainbow is a division of white light into many beautiful colors.
These take the shape of a long round arch, with its path high above, and its two ends apparently beyond the horizon.
There is, according to legend, a boiling pot of gold at one end.
People look, but no one ever finds it.
When a man looks for something beyond his reach, his friends say he is looking for the pot of gold.
The birch canoe slid on the smooth planks.
Glue the sheet to the dark blue background.
It's easy to tell the depth of a well.
These days a chicken leg is a rare dish.
Rice is often served in round bowls.
The juice of lemons makes fine punch.
The box was thrown beside the parked truck.
The hogs were fed chopped corn and garbage.
Four hours of steady work faced us.
A large size in stockings is hard to sell.
The boy was there when the sun rose.
A rod is used to catch pink salmon.
The source of the huge river is the clear spring.
Kick the ball straight and follow through.
Help the woman get back to her feet.
A pot of tea helps to pass the evening.
Smoky fires lack flame and heat.
The soft cushion broke the man's fall.
The salt breeze came across from the sea.
The girl at the booth sold fifty bonds.
The small pup gnawed a hole in the sock.
The fish twisted and turned on the bent hook.
Press the pants and sew a button on the vest.
The swan dive was far short of perfect.
The beauty of the view stunned the young boy.
Two blue fish swam in the tank."""


def _plachtaa_english(checkout: str):  # noqa: ANN202 -- their english_to_ipa2
    spec = importlib.util.spec_from_file_location("plachtaa_english", Path(checkout) / "utils/g2p/english.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.english_to_ipa2


def _words(s: str) -> list[str]:
    return [w for w in (re.sub(r"[^\w\u0250-\u02ff\u00e6\u00f0\u014b\u03b8ˈˌ*]", "", w) for w in s.split()) if w]


def _ours(ours_of, text: str) -> list[str]:  # noqa: ANN001
    from voxport.families.vallex.text import split_joined

    return split_joined(_words(ours_of(text)))


def measure(texts: list[str], theirs_of, ours_of) -> dict[str, float]:  # noqa: ANN001
    from voxport.families.vallex.text import to_plachtaa_ipa

    raw = mapped = compared = skipped = 0
    for text in texts:
        theirs, ours = _words(theirs_of(text)), _ours(ours_of, text)
        if len(theirs) != len(ours):
            skipped += 1
            continue
        for t, o in zip(theirs, ours, strict=True):
            if "*" in t:
                continue
            compared += 1
            raw += t == o  # espeak's word as is (after splitting joined words)
            mapped += t == to_plachtaa_ipa(o)
    return {"words": compared, "sentences_skipped": skipped, "raw_equal": raw / max(compared, 1),
            "rewritten_equal": mapped / max(compared, 1),
            "rewritten_equal_ignoring_stress": _unstressed(texts, theirs_of, ours_of)}


def _unstressed(texts: list[str], theirs_of, ours_of) -> float:  # noqa: ANN001
    from voxport.families.vallex.text import to_plachtaa_ipa

    same = total = 0
    for text in texts:
        theirs, ours = _words(theirs_of(text)), _ours(ours_of, text)
        if len(theirs) == len(ours):
            for t, o in zip(theirs, ours, strict=True):
                if "*" not in t:
                    total += 1
                    same += re.sub("[ˈˌ]", "", t) == re.sub("[ˈˌ]", "", to_plachtaa_ipa(o))
    return same / max(total, 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--texts", help="one sentence per line (default: 40 built-in sentences)")
    args = p.parse_args()
    texts = (Path(args.texts).read_text() if args.texts else TEXTS).strip().splitlines()
    from voxport.text.frontend import TextFrontend

    frontend = TextFrontend({"_": [0], "^": [1], "$": [2]}, espeak_voice="en-us")
    result = measure(texts, _plachtaa_english(os.environ["VALLEX_CHECKOUT"]), frontend.phonemes)
    print(f"{result['words']} words compared ({result['sentences_skipped']} sentences skipped: word counts differ)")
    print(f"  espeak as is           equal to Plachtaa's: {100 * result['raw_equal']:.1f} %")
    print(f"  rewritten by voxport   equal to Plachtaa's: {100 * result['rewritten_equal']:.1f} %")
    print(f"  rewritten, stress marks ignored:            {100 * result['rewritten_equal_ignoring_stress']:.1f} %")


if __name__ == "__main__":
    main()
