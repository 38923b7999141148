"""`voxport speak` with a family's own settings: `--option KEY=VALUE` and `--prompt FILE`, on the tiny
random-weight VALL-E X bundle (never speech)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import soundfile as sf
from support.needs_export import torch  # noqa: F401 -- skips the module without the export extra

from voxport.cli import main
from voxport.families.vallex.prompt import VoicePrompt


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory):
    from support.tiny_vallex import build_tiny_bundle

    tmp = tmp_path_factory.mktemp("vallex")
    return build_tiny_bundle(tmp / "bundle", tmp / "work", stop="cap")


@pytest.fixture(scope="module")
def prompt_file(tmp_path_factory: pytest.TempPathFactory):
    codes = np.random.default_rng(0).integers(0, 1024, (8, 20))
    return VoicePrompt(codes, np.array([3, 4, 5]), "en").save(tmp_path_factory.mktemp("p") / "voice.npz")


def speak(bundle, out, *argv: str) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # random weights run to the length cap
        assert main(["speak", "Hi.", "--bundle", str(bundle), "-o", str(out), "--seed", "2", *argv]) == 0
    return sf.read(out, dtype="int16")[0]


def test_prompt_reaches_the_voice_as_in_the_python_api(bundle, prompt_file, tmp_path) -> None:
    from voxport import Voice

    plain = speak(bundle, tmp_path / "a.wav")
    sugar = speak(bundle, tmp_path / "b.wav", "--prompt", str(prompt_file))
    generic = speak(bundle, tmp_path / "c.wav", "--option", f"prompt={prompt_file}", "--option", "top_k=-100",
                    "--option", "fixed_step=false")
    with Voice.load(bundle) as voice, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        api = voice.synthesize("Hi.", seed=2, prompt=str(prompt_file))
        n_ids = len(voice.frontend.ids(voice.frontend.phonemes("Hi.")))
    assert plain.size == 16 * n_ids * 320  # the cap counts the text's tokens...
    assert sugar.size == api.size == 16 * (n_ids + 3) * 320  # ...and the prompt's 3: the prompt was used
    assert np.array_equal(sugar, generic)


def test_top_k_option_changes_the_draws(bundle, tmp_path) -> None:
    assert not np.array_equal(speak(bundle, tmp_path / "a.wav", "--option", "top_k=1"),
                              speak(bundle, tmp_path / "b.wav", "--option", "top_k=50"))


@pytest.mark.parametrize(("argv", "message"), [
    (["--option", "speed=2"], "vallex voices have no setting 'speed' (known: fixed_step, language, prompt, "
                              "temperature, top_k)"),
    (["--option", "top_k"], "--option is KEY=VALUE, got 'top_k'"),
])
def test_bad_option_fails_in_one_line(bundle, tmp_path, capsys, argv: list[str], message: str) -> None:
    assert main(["speak", "Hi.", "--bundle", str(bundle), "-o", str(tmp_path / "x.wav"), *argv]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_prompt_on_a_voice_without_prompts_is_refused(capsys, tmp_path) -> None:
    assert main(["speak", "Hi.", "-o", str(tmp_path / "x.wav"), "--prompt", "v.npz"]) != 0  # the default voice
    # (the first use builds the default voice, with progress lines before the error)
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        "voxport speak: vits voices have no setting 'prompt' (known: none)"
