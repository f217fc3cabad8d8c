# nameko containers hang under plain pytest unless eventlet patches the
# standard library before anything else imports it; psycopg2 must yield to
# other greenthreads while it waits on PostgreSQL, as it does in the services.
import eventlet

eventlet.monkey_patch()

from psycogreen.eventlet import patch_psycopg  # noqa: E402

patch_psycopg()

pytest_plugins = ["kameng_common.testing"]
