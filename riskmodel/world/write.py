"""Write a generated world to disk: deterministic bytes, atomic replacement of the folder.

Same seed, same bytes: rows come sorted from the generator, Parquet is written with fixed
pyarrow options, JSON with sorted keys, and nothing carries a wall-clock time. The folder is
built in a temporary sibling and swapped into place, so a reader never sees half a world.
Files in an existing output folder that the generator does not write (a README, say) are
carried over into the new folder.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.atomic import atomic_path
from riskmodel.errors import UsageError
from riskmodel.rules import rules_to_toml
from riskmodel.world.generate import World

SOURCE_FILES: tuple[str, ...] = (
    "declarations.parquet",
    "labels.parquet",
    "financial_flags.parquet",
    "route_legs.parquet",
    "ports.parquet",
)
GENERATED: tuple[str, ...] = (*SOURCE_FILES, "rules.toml", "truth")


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Parquet with fixed writer options (no index, zstd, one row group per 1M rows)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(
        table,
        path,
        compression="zstd",
        compression_level=3,
        version="2.6",
        row_group_size=1_000_000,
        use_dictionary=True,
        write_statistics=True,
    )


def _write_json(data: dict[str, object], path: Path) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def write_world(world: World, out: Path) -> None:
    """Write the world's sources, rules.toml and truth/ into ``out`` (replacing a prior world).

    Layout: declarations, labels, financial_flags, route_legs, ports (.parquet), rules.toml,
    truth/truth.parquet, truth/world.json and truth/actors.parquet (the entities' latent kinds).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: output must be a directory, found a file")
    if out.is_dir() and any(out.iterdir()) and not (out / "declarations.parquet").exists():
        raise UsageError(
            f"{out}: refusing to replace a non-empty directory that holds no generated world "
            "(expected declarations.parquet in it); choose an empty or new directory"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the world folder is not
    try:
        _write_parquet(world.declarations, tmp / "declarations.parquet")
        _write_parquet(world.labels, tmp / "labels.parquet")
        _write_parquet(world.financial_flags, tmp / "financial_flags.parquet")
        _write_parquet(world.route_legs, tmp / "route_legs.parquet")
        _write_parquet(world.ports, tmp / "ports.parquet")
        (tmp / "rules.toml").write_text(rules_to_toml(world.rules), encoding="utf-8")
        (tmp / "truth").mkdir()
        _write_parquet(world.truth, tmp / "truth" / "truth.parquet")
        _write_parquet(world.actors, tmp / "truth" / "actors.parquet")
        _write_json(world.params, tmp / "truth" / "world.json")
        if out.is_dir():
            for entry in sorted(out.iterdir()):
                if entry.name not in GENERATED:
                    os.replace(entry, tmp / entry.name)
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


FOREIGN_COLUMNS: tuple[str, ...] = (
    "sgd.id",
    "sgd.date",
    "importer.id",
    "declarant.id",
    "country",
    "office.id",
    "tariff.code",
    "quantity",
    "gross.weight",
    "fob.value",
    "cif.value",
    "total.taxes",
    "illicit",
)


def foreign_layout(world: World) -> pd.DataFrame:
    """The inspected declarations in a WCO BACUDA-style layout, ``illicit`` = seized (0/1)."""
    labels = world.labels[["declaration_id", "seized"]]
    d = world.declarations.merge(labels, on="declaration_id", how="inner", validate="1:1")
    cif = d["declared_value_usd"]
    return pd.DataFrame(
        {
            "sgd.id": d["declaration_id"],
            "sgd.date": d["declared_at"].dt.strftime("%Y-%m-%d %H:%M:%S"),
            "importer.id": d["importer_id"],
            "declarant.id": d["declarant_id"],
            "country": d["origin_country"],
            "office.id": d["customs_office"],
            "tariff.code": d["hs_code"],
            "quantity": d["quantity"],
            "gross.weight": d["gross_weight_kg"],
            "fob.value": (cif * 0.93).round(2),
            "cif.value": cif,
            "total.taxes": d["total_taxes_usd"],
            "illicit": d["seized"].astype("int64"),
        }
    )[list(FOREIGN_COLUMNS)]


def write_foreign_layout(world: World, out: Path) -> None:
    """Write ``out/declarations.csv`` in the foreign layout (inspected declarations only)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frame = foreign_layout(world)
    with atomic_path(out / "declarations.csv") as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")
