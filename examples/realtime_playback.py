"""Real-time playback: speak while synthesizing, from text that arrives in pieces (as from an LLM).

    python examples/realtime_playback.py [--bundle DIR] [--output WAV]

Needs an audio output (pip install 'voxport[audio]'; on Linux also apt-get install libportaudio2).
Without one it says so and writes the audio to out/realtime.wav instead.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from contextlib import ExitStack

import numpy as np

from voxport import Voice
from voxport.audio import write_wav
from voxport.audio.playback import AudioDeviceError, AudioPlayer

REPLY = (
    "Sure! Here is the plan for today. First, we review the draft at ten. "
    "Then lunch with the team, and at three the demo for our customers."
)


def tokens(text: str, delay_s: float = 0.02) -> Iterator[str]:
    """Pretend to be a language model: a few characters every 20 ms."""
    for i in range(0, len(text), 4):
        time.sleep(delay_s)
        yield text[i : i + 4]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", help="bundle directory (default: the default voice)")
    parser.add_argument("--output", help="also write what was played to this WAV file")
    args = parser.parse_args()
    with Voice.load(args.bundle) as voice, ExitStack() as stack:
        try:
            player: AudioPlayer | None = stack.enter_context(AudioPlayer(voice.sample_rate))
        except AudioDeviceError as exc:
            print(f"no playback: {exc}")
            player = None
        start = time.perf_counter()
        pieces, shown = [], None
        for chunk in voice.stream(tokens(REPLY), seed=0):
            if not pieces:
                print(f"first audio after {1000 * (time.perf_counter() - start):.0f} ms (text still arriving)")
            if chunk.timing is not None and chunk.timing is not shown:
                shown = chunk.timing
                print(f"  {shown.start:6.2f} s  {shown.text}")
            pieces.append(chunk.audio)
            if player is not None:
                player.write(chunk.audio)
    if player is not None:
        # underruns: the synthesizer (or the text) was late; device: the audio stack ran dry on its own.
        print(f"underruns: {player.stats.underruns} (device: {player.stats.device_underruns})")
    output = args.output or (None if player is not None else "out/realtime.wav")
    if output:
        print(f"wrote {write_wav(output, np.concatenate(pieces), voice.sample_rate)}")

if __name__ == "__main__":
    main()
