from pathlib import Path

from kameng_common.serve import main

main("customers.service:CustomersService", Path(__file__).resolve().parent.parent / "config.yaml")
