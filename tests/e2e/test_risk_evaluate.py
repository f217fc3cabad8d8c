"""`kameng risk evaluate` end to end: a small labelled set against a fresh suite of its own."""

import json
import subprocess
import sys

import pytest

from kameng_cli import riskeval


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def test_risk_evaluate_catches_every_attack_and_holds_no_normal_order(database, tmp_path):
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "kameng_cli.main",
            "risk",
            "evaluate",
            "--database",
            database,
            "--runs",
            "2",
            "--normal",
            "8",
            "--seed",
            "7",
            "--json",
            "--output",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    report = json.loads(finished.stdout)
    assert report == json.loads((tmp_path / f"{database}.json").read_text())
    assert report["ok"] and report["database"] == database and report["seed"] == 7
    assert list(report["scenarios"]) == list(riskeval.SCENARIOS)
    normal = report["scenarios"]["normal"]
    assert normal["runs"] == 8 and normal["orders"] >= 8 and normal["errors"] == 0
    assert normal["held"] + normal["refused"] == 0 and normal["false_positive_rate"] == 0
    for attack in riskeval.ATTACKS:
        row = report["scenarios"][attack]
        assert row["runs"] == 2 and row["errors"] == 0, (attack, report["errors"])
        assert row["caught"] == 2 and row["detection_rate"] == 1.0, (attack, row)
        assert row["orders"] >= 1 and row["held"] + row["refused"] >= 2
