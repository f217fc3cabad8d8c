from pathlib import Path

from kameng_common.serve import main

main("inventory.service:InventoryService", Path(__file__).resolve().parent.parent / "config.yaml")
