from pathlib import Path

from kameng_common.serve import main

main("risk.service:RiskService", Path(__file__).resolve().parent.parent / "config.yaml")
