"""VALL-E X (Plachtaa/VALL-E-X): an AR loop over the first codebook with its KV cache, 7 NAR passes,
Vocos. Torch-free: the graphs come from voxport.export.vallex."""
