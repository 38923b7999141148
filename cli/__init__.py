"""The `voxport` command line: build, speak, info, calibrate, serve, profile, runtimes, phonemize.

It is the one package that imports everything (the SDK, export, calibration, tools); the SDK imports
none of it."""

from voxport.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
