"""WaveGlow (NVIDIA DeepLearningExamples layout) as a vocoder graph with z and the denoiser as inputs.

    vocoder = load_waveglow("waveglow.pt")             # WaveGlowVocoder (torch module, eval mode)
    spec = waveglow_graph_spec(vocoder, n_mel=80)       # GraphSpec for export/onnx_export.export_graph
    noise = default_vocoder_noise(vocoder)              # the manifest's vocoder_noise
"""

from .checkpoint import CheckpointFormatError, load_waveglow
from .config import WaveGlowConfig
from .graphs import default_vocoder_noise, waveglow_graph_spec
from .reference import waveglow_infer
from .vocoder import WaveGlowVocoder, reach_frames, z_channel_layout

__all__ = [
    "CheckpointFormatError",
    "WaveGlowConfig",
    "WaveGlowVocoder",
    "default_vocoder_noise",
    "load_waveglow",
    "reach_frames",
    "waveglow_graph_spec",
    "waveglow_infer",
    "z_channel_layout",
]
