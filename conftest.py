# The fixtures and eventlet's patch come from kameng-common's pytest plugin (kameng_common.testing.plugin,
# an entry point), as in every package's own folder; a virtualenv made before it existed lacks it.
import pytest


def pytest_configure(config):
    if not config.pluginmanager.has_plugin("kameng"):
        raise pytest.UsageError("kameng-common's pytest plugin is not installed: run scripts/bootstrap.sh")
