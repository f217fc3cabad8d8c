from inventory.db import metadata
from kameng_common.migrations import run_env

run_env(metadata)
