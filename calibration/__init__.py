"""int8 from a text corpus: capture real stage inputs, quantize per backend, gate on measured quality.

    from voxport.calibration import calibrate
    report = calibrate("path/to/bundle", runtime="onnxruntime")  # int8 graphs + report into the bundle

Needs the `calibration` extra (onnx for the quantizer, pocketsphinx for the intelligibility check).
"""

from __future__ import annotations

from voxport.calibration.calibrate import CalibrationRefused, calibrate
from voxport.calibration.gate import GateThresholds

__all__ = ["CalibrationRefused", "GateThresholds", "calibrate"]
