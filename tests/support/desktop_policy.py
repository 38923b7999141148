"""A bundle as an AMX desktop leaves it after `voxport calibrate --runtime openvino`, without running it.

The policy is bf16 on the decoder and vocoder (compiled from the fp32 files, so no graph file of its own),
the decoder having passed the gate alone at fp16 too: what a board without BF16 must fall back from. Used
by tests/test_device_classes.py (a faked board) and by the ARM64 device run (`python -m
support.desktop_policy SRC DST` on the host, then the device loads DST with precision="calibrated").
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from voxport.bundle.policy import CalibrationPolicy
from voxport.runtimes.device_class import DeviceClass

AMX = DeviceClass("x86_64", ("amx-bf16", "avx512-bf16", "avx512"), ("fp32", "bf16", "int8", "int8-bf16"))
POLICY = CalibrationPolicy({"decoder": "bf16", "vocoder": "bf16"}, "calibration/r.json", runtime="openvino",
                           device=AMX, machine="a desktop with AMX (written by tests/support/desktop_policy.py)",
                           passed={"decoder": ["bf16", "fp16"]})


def desktop_bundle(source: Path, target: Path) -> Path:
    """A copy of `source` at `target` whose manifest holds only POLICY."""
    root = Path(shutil.copytree(source, target))
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["calibration"] = [POLICY.to_dict()]
    manifest["format_version"] = max(3, manifest.get("format_version", 3))  # a list of policies is format 3
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return root


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m support.desktop_policy SOURCE_BUNDLE TARGET_DIR")
    print(desktop_bundle(Path(sys.argv[1]), Path(sys.argv[2])))
