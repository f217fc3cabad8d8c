from pathlib import Path

from kameng_common.serve import main

main("orders.service:OrdersService", Path(__file__).resolve().parent.parent / "config.yaml")
