"""The optional packages of VALL-E X's Chinese and Japanese front-ends, refused in one line when absent."""

from __future__ import annotations

import importlib
from types import ModuleType

from voxport.text.frontend import FrontendError

# The extra for each language, and the modules its route imports (pyopenjtalk comes from pyopenjtalk-plus).
EXTRAS = {"zh": ("vallex-zh", ("cn2an", "jieba", "pypinyin")),
          "ja": ("vallex-ja", ("pyopenjtalk", "unidecode"))}


def require(extra: str, module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise FrontendError(f"VALL-E X {'Chinese' if extra.endswith('zh') else 'Japanese'} text needs the "
                            f"{module} package: pip install 'voxport[{extra}]'") from exc


def missing(language: str) -> str | None:
    """The one-line refusal for `language` when its extra is not installed, else None."""
    extra, modules = EXTRAS[language]
    for module in modules:
        try:
            require(extra, module)
        except FrontendError as exc:
            return str(exc)
    return None
