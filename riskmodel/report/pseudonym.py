"""Keyed pseudonyms for entity ids, so a shared report can be matched without raw ids.

A pseudonym is ``P-`` + the first 16 hex digits (64 bits) of HMAC-SHA256(key, id). The same
id gives the same pseudonym under one key, whichever field it appears in (an importer in one
report and an exporter in another stay matchable); another key gives unrelated pseudonyms,
and without the key a pseudonym cannot be recomputed from a guessed id. The sender, who holds
the key, re-links a pseudonym by hashing its own ids.

Pseudonymised fields (:data:`ENTITY_FIELDS`): ``declaration_id`` (a key into the
administration's own files that names a trader's filing), ``importer_id``, ``declarant_id``,
``exporter_id`` and ``container_id``. Free text (``goods_description``), countries, ports
and HS codes are kept: they are what a partner agency needs to act on.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from riskmodel.errors import UsageError

__all__ = ["ENTITY_FIELDS", "PSEUDONYM_KEY_ENV", "Pseudonymiser"]

PSEUDONYM_KEY_ENV = "RISKMODEL_PSEUDONYM_KEY"
ENTITY_FIELDS: tuple[str, ...] = (
    "declaration_id",
    "importer_id",
    "declarant_id",
    "exporter_id",
    "container_id",
)
_DIGITS = 16


class Pseudonymiser:
    """Maps an id to its keyed pseudonym (``None`` stays ``None``)."""

    def __init__(self, key: bytes) -> None:
        if not key:
            raise UsageError("a pseudonymisation key must not be empty")
        self._key = key

    @classmethod
    def from_env(cls, variable: str = PSEUDONYM_KEY_ENV) -> Pseudonymiser:
        """The key from environment ``variable``; unset or empty is a :class:`UsageError` (2)."""
        key = os.environ.get(variable, "")
        if not key:
            raise UsageError(
                f"--pseudonymise needs a key: set the environment variable {variable} "
                "(kept secret; the same key gives the same pseudonyms across reports)"
            )
        return cls(key.encode("utf-8"))

    def __call__(self, value: object) -> str | None:
        if value is None:
            return None
        digest = hmac.new(self._key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()
        return f"P-{digest[:_DIGITS]}"
