"""Measurement tools around the SDK: latency profiling (`voxport profile`), audio quality measures, and
the original single-graph Piper voice they are compared against.

They live outside the on-device SDK (`voxport` proper) because an application speaking text needs
none of them; they import the SDK, never the other way round (the CLI imports `voxport profile`
lazily).
"""
