import sys
from pathlib import Path

from inventory.refunds import card_policy
from kameng_common.serve import main

try:
    card_policy()  # a policy it does not know would dead-letter every refund: refuse to start
except ValueError as error:
    sys.exit(f"inventory: {error}")
main("inventory.service:InventoryService", Path(__file__).resolve().parent.parent / "config.yaml")
