"""The WSGI entry point.

``gunicorn -c python:kameng_gateway.gunicorn_conf kameng_gateway.wsgi:app``
"""

import os

from kameng_common.logs import configure_logging
from kameng_gateway.app import create_app

configure_logging("gateway", os.environ.get("KAMENG_LOG_LEVEL", "INFO"))
app = create_app()
