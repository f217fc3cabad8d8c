"""The one place a marshmallow error becomes Kameng's InvalidInput (API.md's 422 error body)."""

from collections.abc import Mapping, Sequence
from typing import Any

from marshmallow import Schema, ValidationError

from kameng_common.errors import InvalidInput

# a message names at most this many bad fields; ``details`` holds them all
_FIELDS_IN_MESSAGE = 5


def load_or_invalid(schema: Schema, data: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> Any:
    """``data`` loaded by the marshmallow ``schema`` (an instance), or InvalidInput saying what is wrong."""
    try:
        return schema.load(data)
    except ValidationError as error:
        raise invalid_input(error) from None


def invalid_input(error: ValidationError) -> InvalidInput:
    """InvalidInput for a marshmallow ValidationError: every bad field in one line, and in ``details``."""
    return InvalidInput(describe(error.messages), details=error.messages)


def describe(messages: object) -> str:
    """``'Invalid input: items.0.quantity: Must be ...'`` from marshmallow's tree of messages."""
    parts: list[str] = []

    def walk(path: str, node: object) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                walk(path if key == "_schema" else f"{path}.{key}" if path else str(key), child)
        elif isinstance(node, list) and all(isinstance(item, str) for item in node):
            parts.append(f"{path or 'input'}: {' '.join(node)}")
        elif isinstance(node, list):
            for item in node:
                walk(path, item)
        else:
            parts.append(f"{path or 'input'}: {node}")

    walk("", messages)
    shown = "; ".join(parts[:_FIELDS_IN_MESSAGE])
    return f"Invalid input: {shown}" + ("; …" if len(parts) > _FIELDS_IN_MESSAGE else "")
