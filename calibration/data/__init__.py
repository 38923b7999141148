"""Data files: the CC0 calibration corpus and held-out sentences (README.md beside them); a package so that
setup.py finds it like every other folder and ships its files (package-data in pyproject.toml)."""
