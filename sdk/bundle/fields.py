"""Reading JSON fields with errors that name the offending field by its dotted path
(``graphs.encoder.variants.fp32.sha256``), so a hand-edited or damaged manifest is fixable from the
message alone."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from voxport.bundle.errors import BundleFormatError

ManifestPath = str | Path | None  # the manifest path, used only to make error messages actionable


def fail(mp: ManifestPath, fld: str, msg: str) -> NoReturn:
    raise BundleFormatError(f"{mp or '<manifest>'}: field {fld!r} {msg}", field=fld, manifest_path=mp)


def check_int(v: Any, fld: str, mp: ManifestPath, minimum: int = 0) -> int:
    # bool is an int subclass; `true` for a sample rate is a bug, not a 1.
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        fail(mp, fld, f"must be an integer >= {minimum}, got {type(v).__name__} {v!r}")
    return v


class JsonObject:
    """A JSON object under validation; knows its dotted field name for error messages."""

    def __init__(self, v: Any, fld: str, mp: ManifestPath, allowed: set[str] | None = None):
        self.fld, self.mp = fld, mp
        if not isinstance(v, Mapping) or not all(isinstance(k, str) for k in v):
            fail(mp, fld or "<top level>", f"must be an object with string keys, got {type(v).__name__}")
        self.d: dict[str, Any] = dict(v)
        # Rejecting unknown keys catches typos ("hop_lenght") that would otherwise silently use defaults.
        for key in sorted(set(self.d) - (allowed if allowed is not None else set(self.d))):
            fail(mp, self.name(key), "is not a known manifest field (put free-form data under 'extra')")

    def name(self, key: str) -> str:
        return f"{self.fld}.{key}" if self.fld else key

    def get(self, key: str, default: Any = ...) -> Any:
        if key not in self.d:
            if default is ...:
                fail(self.mp, self.name(key), "is required but missing")
            return copy.deepcopy(default)
        return self.d[key]

    def string(self, key: str) -> str:
        v = self.get(key)
        if not isinstance(v, str) or not v:
            fail(self.mp, self.name(key), f"must be a non-empty string, got {type(v).__name__} {v!r}")
        return v

    def integer(self, key: str, minimum: int = 0, default: Any = ...) -> int:
        return check_int(self.get(key, default), self.name(key), self.mp, minimum)

    def array(self, key: str) -> list[Any]:
        if not isinstance(v := self.get(key), (list, tuple)):
            fail(self.mp, self.name(key), f"must be a list, got {type(v).__name__}")
        return list(v)

    def obj(self, key: str, default: Any = ..., allowed: set[str] | None = None) -> JsonObject:
        return JsonObject(self.get(key, default), self.name(key), self.mp, allowed)

    def number(self, key: str, default: Any = ..., *, above: float | None = None, at_least: float | None = None,
               below: float | None = None) -> float:
        v = self.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            fail(self.mp, self.name(key), f"must be a finite number, got {type(v).__name__} {v!r}")
        for bad, what in ((above is not None and v <= above, f"> {above}"),
                          (at_least is not None and v < at_least, f">= {at_least}"),
                          (below is not None and v >= below, f"< {below}")):
            if bad:
                fail(self.mp, self.name(key), f"must be {what}, got {v!r}")
        return float(v)

    def boolean(self, key: str, default: Any = ...) -> bool:
        if not isinstance(v := self.get(key, default), bool):
            fail(self.mp, self.name(key), f"must be true or false, got {type(v).__name__} {v!r}")
        return v

    def choice(self, key: str, options: tuple[str, ...], default: Any = ...) -> str:
        if (v := self.get(key, default)) not in options:
            fail(self.mp, self.name(key), f"must be one of {list(options)}, got {v!r}")
        return v
