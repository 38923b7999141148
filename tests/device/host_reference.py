"""The host's half of `make test-arm64`: what the arm64 device must reproduce.

    python tests/device/host_reference.py SHARED [BUNDLE]

Copies the default voice's bundle (built here, on x86_64, as an edge user builds it on a desktop; or BUNDLE)
into SHARED/bundle and writes, with onnxruntime fp32 and the seed fixed:
- SHARED/reference.npz: the text, seed, threads, sample rate, the synthesized audio and the streamed audio joined;
- SHARED/speak.wav: `voxport speak` of the same text, for the device's CLI to match.
The device suite (tests/device/test_arm64.py) compares its own audio with these.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

TEXT = "Hello from arm."  # short: every synthesis takes minutes under qemu-user
SEED = 0
THREADS = 1


def copy_bundle(source: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("calibration", "*.lock"))


def write_reference(shared: Path, bundle: Path) -> None:
    from voxport import Voice

    with Voice.load(bundle, "onnxruntime", "fp32", threads=THREADS, shapes="dynamic", progress=False) as voice:
        audio = voice.synthesize(TEXT, seed=SEED)
        streamed = np.concatenate([chunk.audio for chunk in voice.stream(TEXT, seed=SEED)])
        rate = voice.sample_rate
    np.savez(shared / "reference.npz", text=np.array(TEXT), seed=np.array(SEED), threads=np.array(THREADS),
             sample_rate=np.array(rate), audio=audio.astype(np.float32), streamed=streamed.astype(np.float32))
    exe = Path(sys.executable).with_name("voxport")
    subprocess.run([str(exe), "speak", TEXT, "--bundle", str(bundle), "--seed", str(SEED), "--threads",
                    str(THREADS), "--runtime", "onnxruntime", "--precision", "fp32", "-o",
                    str(shared / "speak.wav")], check=True)


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print("usage: host_reference.py SHARED [BUNDLE]", file=sys.stderr)
        return 2
    shared = Path(argv[0])
    shared.mkdir(parents=True, exist_ok=True)
    if len(argv) == 2:
        source = Path(argv[1])
    else:
        from voxport.bundle.default_voice import ensure_default_bundle

        source = ensure_default_bundle(progress=False)
    copy_bundle(source, shared / "bundle")
    write_reference(shared, shared / "bundle")
    print(f"host reference: {source} -> {shared / 'bundle'}; {shared / 'reference.npz'}, {shared / 'speak.wav'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
