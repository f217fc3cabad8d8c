from kameng_common.migrations import run_env

from inventory.db import metadata

run_env(metadata)
