"""Kameng's public REST gateway: Flask in front of the nameko services."""
