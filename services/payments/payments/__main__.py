from pathlib import Path

from kameng_common.serve import main

main("payments.service:PaymentsService", Path(__file__).resolve().parent.parent / "config.yaml")
