"""Embedding voxport in an application: load a voice once, then synthesize as often as needed.

    python examples/speak_in_app.py [--bundle DIR] [--out-dir out/]

Each reply is written to a WAV file here; an app would hand the float32 samples to its audio output
(`voice.sample_rate` Hz, mono, values in [-1, 1]).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from voxport import SynthesisConfig, Voice
from voxport.audio import write_wav

REPLIES = [
    "Good morning! Your first meeting starts at 9:30 am.",
    "The weather today: 21°C and sunny, with a 10% chance of rain.",
    "Your package, order No. 1234, costs $19.99 and arrives on March 3rd.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", help="bundle directory (default: the default voice)")
    parser.add_argument("--out-dir", default="out")
    args = parser.parse_args()

    calm = SynthesisConfig(length_scale=1.05)  # one reusable setting for every reply
    with Voice.load(args.bundle) as voice:  # the slow part happens once
        for i, text in enumerate(REPLIES):
            audio = voice.synthesize(text, calm, seed=i)
            path = write_wav(Path(args.out_dir) / f"reply_{i}.wav", audio, voice.sample_rate)
            print(f"{path}: {audio.size / voice.sample_rate:.2f} s  <- {text!r}")


if __name__ == "__main__":
    main()
