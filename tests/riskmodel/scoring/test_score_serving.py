"""The registered pyfunc served by the real `mlflow models serve` returns the risk scores that
`riskmodel score` writes for the same rows."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel import api

SERVE_TIMEOUT_S = 240.0
ROWS = 40


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ping(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def test_served_model_scores_like_riskmodel_score(
    embedded_training, past_and_future, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    run = embedded_training
    uri = "models:/seizure-risk/1"
    rows = past_and_future.future_declarations.head(ROWS)
    data = tmp_path / "data"
    data.mkdir()
    rows.to_parquet(data / "declarations.parquet", index=False)
    out = tmp_path / "out"
    api.score(uri, data, out=out, tracking_uri=run.tracking_uri)
    expected = pd.read_parquet(out / "scores.parquet")

    port = _free_port()
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    command = [
        str(mlflow_bin) if mlflow_bin.exists() else shutil.which("mlflow") or "mlflow",
        "models",
        "serve",
        "-m",
        uri,
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "--workers",
        "1",
    ]
    # mlflow starts uvicorn by name: the interpreter's own bin folder must be on PATH
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "MLFLOW_TRACKING_URI": run.tracking_uri, "PATH": path}
    log_path = tmp_path / "serve.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        command, cwd=run.workdir, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVE_TIMEOUT_S
        while not _ping(url):
            assert process.poll() is None, log_path.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "mlflow models serve did not answer /ping"
            time.sleep(0.5)
        split = json.loads(
            rows.to_json(orient="split", date_format="iso", date_unit="us", index=False)
        )
        body = json.dumps({"dataframe_split": split}).encode()
        request = urllib.request.Request(
            f"{url}/invocations", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = json.loads(response.read())
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
        log.close()
    served = pd.DataFrame(answer["predictions"])
    assert served["declaration_id"].tolist() == expected["declaration_id"].tolist()
    assert np.allclose(served["risk_score"], expected["risk_score"], rtol=0, atol=1e-12)
