"""NVIDIA Tacotron2 (+ WaveGlow / HiFi-GAN): the decoder loop on the host, its manifest fields and its
text front-end."""
