"""The example training script runs end to end on a short setting."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_demo_trains_and_reports_losses(tmp_path: Path) -> None:
    command = [
        sys.executable,
        str(REPO / "examples" / "train_lstm.py"),
        "--epochs",
        "1",
        "--sequence-length",
        "24",
        "--output",
        str(tmp_path),
    ]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)

    assert result.returncode == 0, result.stderr[-3000:]
    training = re.search(r"training\s+([\d.]+)\s+([\d.]+)", result.stdout)
    validation = re.search(r"validation\s+([\d.]+)\s+([\d.]+)", result.stdout)
    assert training is not None, result.stdout
    assert validation is not None, result.stdout
    # The last-value forecast is the model's starting point, so even one epoch should not be
    # much worse than it; a broken target alignment makes the loss explode instead.
    assert float(validation.group(1)) < 3 * float(validation.group(2))
    event_files = list((tmp_path / "tensorboard").rglob("events.out.tfevents.*"))
    assert any("train" in str(path) for path in event_files)
    assert any("validation" in str(path) for path in event_files)
