from kameng_common.migrations import run_env
from orders.db import metadata

run_env(metadata)
