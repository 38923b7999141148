"""Share of synthesis time spent in the front-end (normalization + phonemization), per covered language.

    python benchmarks/frontend_share.py [--threads N]

Each language's sentence (numbers, money, a time, a percentage) goes through that language's front-end
(`TextFrontend(espeak_voice=...)`), and its ids are synthesized by the default voice: the voice's
speed does not depend on the language, so the ratio is what a voice of that language would see. The
target (issue 15) is under 5 %. Medians over repeated calls after one warm-up (espeak loads each
language once).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

from voxport import Voice
from voxport.text.frontend import TextFrontend

SENTENCES = {
    "en-us": "I paid $25.50 for 3 tickets at 14:30, a 25% discount.",
    "fr": "J'ai payé 25,50 € pour 3 billets à 14h30, soit 25 % de remise.",
    "de": "Ich zahlte am 3. Mai 25,50 € für 3 Karten um 14:30, 25 % Rabatt.",
    "es": "Pagué 25,50 € por 3 entradas a las 14:30, un 25 % de descuento.",
    "it": "Ho pagato 25,50 € per 3 biglietti alle 14:30, uno sconto del 25 %.",
    "pt": "Paguei 25,50 € por 3 bilhetes às 14:30, um desconto de 25 %.",
    "nl": "Ik betaalde 25,50 € voor 3 kaartjes om 14:30, 25 % korting.",
    "ru": "Я заплатил 25,50 € за 3 билета в 14:30, скидка 25 %.",
    "uk": "Я заплатив 25,50 € за 3 квитки о 14:30, знижка 25 %.",
    "pl": "Zapłaciłem 25,50 € za 3 bilety o 14:30, rabat 25 %.",
    "cs": "Zaplatil jsem 25,50 € za 3 lístky ve 14:30, sleva 25 %.",
}


def _median_s(fn: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    with Voice.load(threads=args.threads, progress=False) as voice:
        id_map = voice.manifest.phoneme_id_map
        print(f"{'voice':6} {'front ms':>9} {'synth ms':>9} {'front %':>8}")
        for lang, text in SENTENCES.items():
            frontend = TextFrontend(id_map, espeak_voice=lang)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # symbols the English voice's map lacks
                run = lambda f=frontend, t=text: list(f.text_to_ids(t))  # noqa: E731
                ids = [i for _, _, sentence_ids in run() for i in sentence_ids]
                front = _median_s(run, 20)
            voice.synthesize_ids(ids)
            synth = _median_s(lambda i=ids: voice.synthesize_ids(i), 3)
            print(f"{lang:6} {1000 * front:9.2f} {1000 * synth:9.1f} {100 * front / synth:7.2f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
