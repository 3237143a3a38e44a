"""riskmodel: seizure-risk modelling for customs targeting.

The notebook API (``riskmodel.train(config)``, ``riskmodel.evaluate(...)``, ``tune``,
``promote``, ``sample``, ``validate``, ``score``, ``explain``, ``verify``) and
:class:`RiskModel` are exported lazily: importing the package stays fast, and mlflow, optuna,
shap and matplotlib load only when a function that needs them runs.

``train`` and ``evaluate`` are also names of submodules. Python's import system sets a
package attribute to a submodule when the submodule is first imported, which would make
``riskmodel.train`` the module or the function depending on import order. The package's
module class therefore keeps the API functions under those names; reach the modules with
``from riskmodel.train import fit_model`` or ``importlib.import_module("riskmodel.train")``
(not ``import riskmodel.train as m``, which reads the package attribute).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from riskmodel.api import (
        evaluate,
        explain,
        promote,
        sample,
        score,
        train,
        tune,
        validate,
        verify,
    )
    from riskmodel.model import RiskModel

__all__ = [
    "RiskModel",
    "evaluate",
    "explain",
    "promote",
    "sample",
    "score",
    "train",
    "tune",
    "validate",
    "verify",
]

_HOMES = {
    "train": "riskmodel.api",
    "evaluate": "riskmodel.api",
    "tune": "riskmodel.api",
    "promote": "riskmodel.api",
    "sample": "riskmodel.api",
    "validate": "riskmodel.api",
    "score": "riskmodel.api",
    "explain": "riskmodel.api",
    "verify": "riskmodel.api",
    "RiskModel": "riskmodel.model",
}


class _Package(types.ModuleType):
    """The package module: a submodule import never replaces an exported API name."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _HOMES and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    """Import an exported name from its home module on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'riskmodel' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
