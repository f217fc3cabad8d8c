"""nameko dependency providers of the customers service."""

import logging

from eventlet import tpool
from eventlet.event import Event
from nameko.extensions import DependencyProvider

from customers import usecases
from customers.passwords import Passwords
from kameng_common.extensions import ServiceDatabase

_log = logging.getLogger(__name__)


class PasswordHashing(DependencyProvider):
    """``Passwords`` under the argon2id parameters of the config, hashing in real threads.

    An argon2 hash takes tens of milliseconds of CPU; run on the eventlet hub it
    would stall every other worker of the service meanwhile.
    """

    def setup(self):
        config = self.container.config
        self.passwords = Passwords(
            time_cost=int(config["ARGON2_TIME_COST"]),
            memory_cost=int(config["ARGON2_MEMORY_KIB"]),
            parallelism=int(config["ARGON2_PARALLELISM"]),
            offload=tpool.execute,
        )

    def get_dependency(self, worker_ctx):
        return self.passwords


class FirstAdmin(DependencyProvider):
    """Creates the first admin from ADMIN_USERNAME and ADMIN_PASSWORD as the service starts, once.

    Every deployment (local run, compose, Kubernetes) gets its admin the same
    way; with no ADMIN_PASSWORD configured nothing is created. nameko starts
    the entrypoints alongside, so the service exposes ``ready()``: its health
    check fails until the admin exists and can sign in.
    """

    def setup(self):
        self.finished = Event()

    def start(self):
        try:
            self._create_first_admin()
        finally:
            self.finished.send(True)

    def _create_first_admin(self):
        config = self.container.config
        password = config.get("ADMIN_PASSWORD")
        if not password:
            return
        dependencies = self.container.dependencies
        database = next(item for item in dependencies if isinstance(item, ServiceDatabase)).database
        passwords = next(item for item in dependencies if isinstance(item, PasswordHashing)).passwords
        if usecases.ensure_admin(database, passwords, config["ADMIN_USERNAME"], str(password))["created"]:
            _log.info("created the first admin account %r", config["ADMIN_USERNAME"])

    def get_dependency(self, worker_ctx):
        return self.finished
