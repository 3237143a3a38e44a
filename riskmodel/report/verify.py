"""Evidence integrity: a manifest of SHA-256 hashes, optionally signed, and its verification.

A report folder's ``manifest.json`` (written last by ``riskmodel explain``)::

    {"format": "riskmodel-report-manifest", "version": 1, "created_at", "code_version",
     "files": [{"path": "report.html", "sha256", "bytes"}, ...],        # written, relative
     "inputs": [{"path": "/abs/scoring/scores.parquet", "sha256", "bytes"}, ...],   # read
     "chain": {"scoring_manifest": {"path", "sha256"}},
     "parameters": {...},
     "digest": sha256 of the canonical JSON of everything above,
     "signature": {"algorithm": "HMAC-SHA256", "value": hex}}           # with a key only

The chain is the hash of the scoring run's own ``manifest.json``, which in turn hashes the
scoring inputs and outputs, so one hash ties the report to the whole run. The signature is
HMAC-SHA256 with the key of ``RISKMODEL_SIGNING_KEY`` over the manifest's canonical JSON
(sorted keys, no spaces, UTF-8) without its ``signature`` member: a receiver holding the key
can check who produced it.

:func:`verify_dir` checks a report folder or a scoring folder (its manifest's ``outputs``):
every written file must exist with its recorded hash; inputs and the chained scoring run are
checked when they are reachable from here and reported as skipped otherwise (a partner agency
receives the report alone). With the key set, the signature must be present and valid;
without it a signature is reported as not checked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from features.atomic import file_sha256, write_text_atomic

__all__ = [
    "MANIFEST_NAME",
    "REPORT_MANIFEST_FORMAT",
    "SIGNING_KEY_ENV",
    "Check",
    "VerifyResult",
    "canonical_bytes",
    "digest",
    "file_entry",
    "sign",
    "signing_key",
    "verify_dir",
    "write_manifest",
]

MANIFEST_NAME = "manifest.json"
REPORT_MANIFEST_FORMAT = "riskmodel-report-manifest"
SCORING_MANIFEST_FORMAT = "riskmodel-scoring-manifest"
SIGNING_KEY_ENV = "RISKMODEL_SIGNING_KEY"
ALGORITHM = "HMAC-SHA256"


def file_entry(path: Path, *, name: str | None = None) -> dict[str, Any]:
    """``{"path", "sha256", "bytes"}`` of one file (``name`` replaces the recorded path)."""
    path = Path(path)
    return {
        "path": name if name is not None else str(path),
        "sha256": file_sha256(path),
        "bytes": path.stat().st_size,
    }


def signing_key(variable: str = SIGNING_KEY_ENV) -> bytes | None:
    """The signing key from the environment, or None when unset or empty."""
    value = os.environ.get(variable, "")
    return value.encode("utf-8") if value else None


def canonical_bytes(manifest: Mapping[str, Any]) -> bytes:
    """The bytes that are digested and signed: the manifest without ``digest`` and
    ``signature``, as canonical JSON."""
    body = {k: v for k, v in manifest.items() if k not in {"digest", "signature"}}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def digest(manifest: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the manifest's canonical bytes: detects any change of its content."""
    return hashlib.sha256(canonical_bytes(manifest)).hexdigest()


def manifest_text(manifest: Mapping[str, Any]) -> str:
    """The exact text a report manifest is written as (so any changed byte is detected)."""
    return json.dumps(manifest, indent=2) + "\n"


def sign(manifest: Mapping[str, Any], key: bytes) -> str:
    """HMAC-SHA256 (hex) of the manifest's canonical bytes under ``key``."""
    return hmac.new(key, canonical_bytes(manifest), hashlib.sha256).hexdigest()


def write_manifest(
    folder: Path,
    *,
    written: Iterable[Path],
    inputs: Iterable[Path] = (),
    chain: Mapping[str, Any] | None = None,
    parameters: Mapping[str, Any] | None = None,
    code_version: str | None = None,
    key: bytes | None = None,
) -> dict[str, Any]:
    """Write ``folder/manifest.json`` atomically (last) and return it.

    ``written`` are files inside ``folder`` (recorded by relative path); ``inputs`` are files
    read (recorded by absolute path). Signed when ``key`` is given.
    """
    folder = Path(folder)
    manifest: dict[str, Any] = {
        "format": REPORT_MANIFEST_FORMAT,
        "version": 1,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "code_version": code_version,
        "files": [
            file_entry(p, name=Path(p).resolve().relative_to(folder.resolve()).as_posix())
            for p in written
        ],
        "inputs": [file_entry(p, name=str(Path(p).resolve())) for p in inputs],
        "chain": dict(chain or {}),
        "parameters": dict(parameters or {}),
    }
    manifest["digest"] = digest(manifest)
    if key is not None:
        manifest["signature"] = {"algorithm": ALGORITHM, "value": sign(manifest, key)}
    write_text_atomic(folder / MANIFEST_NAME, manifest_text(manifest))
    return manifest


@dataclass(frozen=True)
class Check:
    """One verified item: ``status`` is ``ok``, ``changed``, ``missing``, ``skipped``,
    ``invalid`` or ``unchecked``; ``detail`` says what was expected and found."""

    item: str
    status: str
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status in {"changed", "missing", "invalid"}


@dataclass
class VerifyResult:
    """Every check made on a folder; ``ok`` when none failed."""

    folder: Path
    kind: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(c.failed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.failed]


def _check_file(item: str, path: Path, entry: Mapping[str, Any], *, required: bool) -> Check:
    if not path.is_file():
        if required:
            return Check(item, "missing", f"{path} does not exist")
        return Check(item, "skipped", f"{path} is not reachable from here")
    found = file_sha256(path)
    if found != entry.get("sha256"):
        return Check(item, "changed", f"SHA-256 {found}, manifest says {entry.get('sha256')}")
    return Check(item, "ok")


def _resolve(folder: Path, recorded: str) -> Path:
    """Where a recorded file is now: an output relative to ``folder``; an input as recorded
    (relative to where the run was, which is usually where ``verify`` runs), else beside it."""
    path = Path(recorded)
    if path.is_absolute():
        return path if path.exists() or not (folder / path.name).exists() else folder / path.name
    inside = folder / path
    return path if not inside.exists() and path.exists() else inside


def verify_dir(folder: Path | str, *, key: bytes | None = None) -> VerifyResult:
    """Recompute every hash of ``folder``'s manifest (report or scoring output).

    A missing or unreadable manifest is itself a failed check, never an exception.
    """
    folder = Path(folder)
    manifest_path = folder / MANIFEST_NAME
    result = VerifyResult(folder=folder, kind="unknown")
    try:
        text = manifest_path.read_text(encoding="utf-8")
        manifest = json.loads(text)
        if not isinstance(manifest, dict):
            raise ValueError("expected a JSON object")
    except FileNotFoundError:
        result.checks.append(Check(MANIFEST_NAME, "missing", f"{manifest_path} does not exist"))
        return result
    except (OSError, ValueError) as exc:
        result.checks.append(Check(MANIFEST_NAME, "invalid", f"unreadable: {exc}"))
        return result
    fmt = manifest.get("format")
    if fmt == REPORT_MANIFEST_FORMAT:
        result.kind = "report"
        written, read = manifest.get("files") or [], manifest.get("inputs") or []
        if manifest.get("digest") != digest(manifest):
            result.checks.append(
                Check(MANIFEST_NAME, "changed", "its content no longer matches its digest")
            )
        elif text != manifest_text(manifest):
            result.checks.append(
                Check(MANIFEST_NAME, "changed", "its bytes differ from the text written")
            )
    elif fmt == SCORING_MANIFEST_FORMAT:
        result.kind = "scoring"
        written, read = manifest.get("outputs") or [], manifest.get("inputs") or []
    else:
        result.checks.append(Check(MANIFEST_NAME, "invalid", f"unknown manifest format {fmt!r}"))
        return result
    signature = manifest.get("signature")
    if key is not None:
        if not isinstance(signature, Mapping) or "value" not in signature:
            result.checks.append(
                Check(MANIFEST_NAME, "invalid", f"not signed, but {SIGNING_KEY_ENV} is set")
            )
        elif not hmac.compare_digest(str(signature["value"]), sign(manifest, key)):
            result.checks.append(
                Check(
                    MANIFEST_NAME,
                    "invalid",
                    "signature does not match: the manifest was changed or signed with another key",
                )
            )
        else:
            result.checks.append(Check(MANIFEST_NAME, "ok", "signature valid"))
    elif signature:
        result.checks.append(
            Check(MANIFEST_NAME, "unchecked", f"signed; set {SIGNING_KEY_ENV} to check it")
        )
    for entry in written:
        name = str(entry.get("path"))
        result.checks.append(_check_file(name, _resolve(folder, name), entry, required=True))
    for entry in read:
        if not entry.get("sha256"):
            continue
        name = str(entry.get("path"))
        result.checks.append(
            _check_file(f"input {name}", _resolve(folder, name), entry, required=False)
        )
    chained = (manifest.get("chain") or {}).get("scoring_manifest")
    if isinstance(chained, Mapping) and chained.get("path"):
        path = Path(str(chained["path"]))
        check = _check_file(f"scoring manifest {path}", path, chained, required=False)
        result.checks.append(check)
        if check.status == "ok":
            inner = verify_dir(path.parent, key=None)
            result.checks += [
                Check(f"scoring run: {c.item}", c.status, c.detail)
                for c in inner.checks
                if c.item != MANIFEST_NAME or c.failed
            ]
    return result
