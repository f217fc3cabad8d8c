from kameng_common.migrations import run_env
from risk.db import metadata

run_env(metadata)
