"""Reduced precision from a text corpus: capture real stage inputs, build int8 / bf16 / fp16 candidates per
backend, time them on this machine, gate them on measured quality, install the fastest policy that passes.

    from voxport.calibration import calibrate
    report = calibrate("path/to/bundle", runtime="openvino")  # graphs + policy + report into the bundle
    Voice.load("path/to/bundle", runtime="openvino", precision="calibrated")  # runs that policy

Needs the `calibration` extra (onnx for the quantizer, pocketsphinx for the intelligibility check).
"""

from __future__ import annotations

from voxport.calibration.calibrate import CalibrationRefused, calibrate
from voxport.calibration.gate import GateThresholds

__all__ = ["CalibrationRefused", "GateThresholds", "calibrate"]
