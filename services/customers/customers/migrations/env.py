from kameng_common.migrations import run_env

from customers.db import metadata

run_env(metadata)
