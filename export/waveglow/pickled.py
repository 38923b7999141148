"""Reading a checkpoint that pickled a whole model object without the classes it names, and without
running any code from it.

NVIDIA's original WaveGlow repository saved `{'model': <glow.WaveGlow>, ...}`; torch's weights-only
loader refuses that (it names `glow.WaveGlow`), and a full unpickle would need NVIDIA's code on the path
and would run whatever the pickle asks. This unpickler resolves only an allowlist of torch tensor
rebuilders and plain containers; every other class or function the pickle names becomes an inert
stand-in that just records the state it is given. The module tree's `_parameters` / `_buffers` /
`_modules` dicts then give the tensors under their dotted names.
"""

from __future__ import annotations

import pickle
import types
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("torch", "Size"): torch.Size,
    ("torch.nn.parameter", "Parameter"): torch.nn.Parameter,
    **{("torch._utils", name): getattr(torch._utils, name)
       for name in ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter", "_rebuild_parameter_with_state")
       if hasattr(torch._utils, name)},
}


class Stub:
    """Stands in for a class or function the pickle names; instances keep what the pickle gives them."""

    stub_path = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.stub_args = args

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (__dict__, __slots__ values)
            state = {**(state[0] or {}), **(state[1] or {})}
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.stub_state = state


class _StubUnpickler(pickle.Unpickler):
    _stubs: dict[str, type[Stub]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        path = f"{module}.{name}"
        if path not in self._stubs:
            self._stubs[path] = type(name, (Stub,), {"stub_path": path})
        return self._stubs[path]


def _stub_pickle_module() -> types.ModuleType:
    """What torch.load's `pickle_module` must offer: Unpickler and load (read by the legacy format)."""
    module = types.ModuleType("voxport_stub_pickle")
    module.Unpickler = _StubUnpickler  # type: ignore[attr-defined]
    module.load = lambda f, **kwargs: _StubUnpickler(f, **kwargs).load()  # type: ignore[attr-defined]
    return module


def load_with_stubs(path: str | Path) -> Any:
    """torch.load of `path` (zip or legacy format) with every non-allowlisted global stubbed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's notice about weights_only=False: no foreign code runs here
        return torch.load(str(path), map_location="cpu", weights_only=False, pickle_module=_stub_pickle_module())


def is_module(obj: Any) -> bool:
    """A pickled torch.nn.Module (stubbed or real): it has the module tree's dicts."""
    state = getattr(obj, "__dict__", {})
    return isinstance(state.get("_modules"), Mapping) and isinstance(state.get("_parameters"), Mapping)


def module_tensors(obj: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    """Parameters and (persistent) buffers of a pickled module tree under their dotted state-dict names."""
    out: dict[str, torch.Tensor] = {}
    transient = obj.__dict__.get("_non_persistent_buffers_set") or set()
    for kind in ("_parameters", "_buffers"):
        for name, value in (obj.__dict__.get(kind) or {}).items():
            if isinstance(value, torch.Tensor) and not (kind == "_buffers" and name in transient):
                out[prefix + name] = value.detach()
    for name, child in obj.__dict__["_modules"].items():
        if child is not None and is_module(child):
            out.update(module_tensors(child, f"{prefix}{name}."))
    return out


def class_path(obj: Any) -> str:
    return getattr(type(obj), "stub_path", f"{type(obj).__module__}.{type(obj).__qualname__}")
