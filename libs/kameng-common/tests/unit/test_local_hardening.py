"""The data folder is its user's alone; a metrics port already taken ends a service with one clear line."""

import socket
import stat

import pytest

from kameng_common import config, serve
from kameng_common.testing import free_port


def test_the_data_folder_is_made_0700_and_secured_files_0600(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    (folder / "orders.db").write_text("x")
    (folder / "orders.db").chmod(0o644)
    (folder / "logs").mkdir(mode=0o755)
    (folder / "logs" / "orders.log").write_text("x")
    monkeypatch.setenv("KAMENG_DATA_DIR", str(folder))

    assert config.data_dir() == folder
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    config.secure_data_dir(folder)

    assert stat.S_IMODE((folder / "orders.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "logs").stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "logs" / "orders.log").stat().st_mode) == 0o600


def test_a_new_data_folder_is_0700(tmp_path, monkeypatch):
    monkeypatch.setenv("KAMENG_DATA_DIR", str(tmp_path / "fresh" / "data"))
    assert stat.S_IMODE(config.data_dir().stat().st_mode) == 0o700


def test_a_taken_metrics_port_is_one_line_naming_the_setting():
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        with pytest.raises(SystemExit) as stopped:
            serve.serve_metrics("orders", "127.0.0.1", port)

    message = str(stopped.value.code)
    assert "\n" not in message
    assert f"127.0.0.1:{port} is already in use" in message
    assert "KAMENG_ORDERS_METRICS_PORT" in message
