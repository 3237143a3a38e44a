"""Raw-input contracts, I/O and point-in-time feature pipelines for riskmodel.

Public names are loaded lazily so ``import features`` stays cheap: ``Sources``,
``FeaturePipeline``, ``build_table``, ``catalogue``, ``catalogue_frame``, ``catalogue_json``
and ``describe``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from features.catalogue import catalogue, catalogue_frame, catalogue_json, describe
    from features.sources import Sources
    from features.table import FeaturePipeline, build_table

__all__ = [
    "FeaturePipeline",
    "Sources",
    "build_table",
    "catalogue",
    "catalogue_frame",
    "catalogue_json",
    "describe",
]

_HOME = {
    "Sources": "features.sources",
    "FeaturePipeline": "features.table",
    "build_table": "features.table",
    "catalogue": "features.catalogue",
    "catalogue_frame": "features.catalogue",
    "catalogue_json": "features.catalogue",
    "describe": "features.catalogue",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(_HOME[name]), name)
    raise AttributeError(f"module 'features' has no attribute {name!r}")
