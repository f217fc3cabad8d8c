from kameng_common.migrations import run_env
from payments.db import metadata

run_env(metadata)
