"""From phoneme ids to audio: the graph sessions of a bundle (runtime and precision per stage), the
`Engine` that runs them, and the host-side steps between graphs (length regulation, noise, shaped
execution on buckets, windows, streaming, receptive fields, timestamps). A model family's pipeline
strategy (voxport.families) decides which of these steps it takes and in which order."""
