"""Tacotron2 in NVIDIA DeepLearningExamples' layout: torch modules with NVIDIA's parameter names, the
checkpoint importer, the encoder / decoder_step / postnet graphs, DLE's HiFi-GAN and the bundle build."""
