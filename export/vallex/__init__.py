"""VALL-E X (Plachtaa/VALL-E-X) for export: its transformer, the Vocos decoder, graphs, import."""
