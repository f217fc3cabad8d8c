"""Configuration: nameko-style YAML with ``${ENV:default}`` values."""

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pika
import yaml
from nameko.cli.main import IMPLICIT_ENV_VAR_MATCHER, env_var_constructor

DEFAULT_AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/"


def data_dir() -> Path:
    """Where the local run keeps SQLite files, generated keys and logs: its user's alone (0700)."""
    path = Path(os.environ.get("KAMENG_DATA_DIR") or Path.cwd() / ".kameng").resolve()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def secure_data_dir(path: str | Path) -> None:
    """Make the data folder 0700 and every file in it 0600 (those an older run left readable too)."""
    folder = Path(path)
    folder.chmod(0o700)
    for child in folder.rglob("*"):
        if child.is_symlink() or child.stat().st_uid != os.getuid():
            continue
        child.chmod(0o700 if child.is_dir() else 0o600)


class _ConfigLoader(yaml.SafeLoader):
    """nameko's ``${ENV:default}`` syntax, on a loader of our own: nameko's
    ``setup_yaml_parser`` would teach it to every ``yaml.safe_load`` in the process."""


_ConfigLoader.add_constructor("!env_var", env_var_constructor)
_ConfigLoader.add_constructor("!raw_env_var", partial(env_var_constructor, raw=True))
_ConfigLoader.add_implicit_resolver("!env_var", IMPLICIT_ENV_VAR_MATCHER, None)


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a service's config.yaml, substituting environment variables."""
    os.environ.setdefault("KAMENG_DATA_DIR", str(data_dir()))
    with open(path) as handle:
        return yaml.load(handle, Loader=_ConfigLoader)


def amqp_uri() -> str:
    return os.environ.get("KAMENG_AMQP_URI", DEFAULT_AMQP_URI)


def secret_from_env_or_file(
    env_var: str, filename: str, generate: Callable[[], str], directory: str | Path | None = None
) -> str:
    """A secret from the environment, else from (or generated into) ``directory`` (the data dir).

    Generated secrets are written with mode 0600 so that only the local run's
    user can read them.
    """
    value = os.environ.get(env_var)
    if value:
        return value
    path = Path(directory or data_dir()) / filename
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        value = generate()
        handle.write(value)
    return value


def pika_parameters(uri: str) -> pika.URLParameters:
    """pika connection parameters for a broker URI as nameko/kombu spell it (``pyamqp://`` too)."""
    if uri.startswith("pyamqp://"):
        uri = "amqp://" + uri[len("pyamqp://") :]
    return pika.URLParameters(uri)
