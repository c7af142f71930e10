"""The tsfeed command line: ingest, info, verify, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tsfeed.cli import main

CSV = """origin,time_hour,temp,humid
B,2013-01-01T01:00:00Z,3.0,50
A,2013-01-01T00:00:00Z,1.0,40
A,2013-01-01T01:00:00Z,2.0,41
B,2013-01-01T00:00:00Z,4.0,51
"""


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "weather.csv"
    path.write_text(CSV)
    return path


def test_cli_ingest_info_verify(
    csv_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"

    status = main(
        [
            "ingest",
            str(csv_file),
            str(store),
            "--series-column",
            "origin",
            "--time-column",
            "time_hour",
            "--targets",
            "temp",
        ]
    )
    assert status == 0
    assert "wrote 2 series, 4 rows" in capsys.readouterr().out

    assert main(["info", str(store)]) == 0
    info = capsys.readouterr().out
    assert "temp, humid" in info
    assert "series     2" in info

    assert main(["verify", str(store)]) == 0
    assert "all 1 shards intact" in capsys.readouterr().out


def test_cli_verify_reports_damaged_shard(
    csv_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    main(
        [
            "ingest",
            str(csv_file),
            str(store),
            "--series-column",
            "origin",
            "--time-column",
            "time_hour",
        ]
    )
    shard = next(store.glob("v*/shard-*.arrow"))
    data = bytearray(shard.read_bytes())
    data[-100] ^= 0xFF
    shard.write_bytes(bytes(data))
    capsys.readouterr()

    assert main(["verify", str(store)]) == 1
    assert "damaged" in capsys.readouterr().out


def test_cli_bad_input_exits_2_with_one_line(
    csv_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        [
            "ingest",
            str(csv_file),
            str(tmp_path / "store"),
            "--series-column",
            "origin",
            "--time-column",
            "time_hour",
            "--features",
            "temp,wind",
        ]
    )

    assert status == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("tsfeed ingest: error:")
    assert "'wind'" in error
    assert "\n" not in error
    assert not (tmp_path / "store").exists()
