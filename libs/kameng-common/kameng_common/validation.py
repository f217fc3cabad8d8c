"""The one place a marshmallow error becomes Kameng's InvalidInput (API.md's 422 error body)."""

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from marshmallow import Schema, ValidationError

from kameng_common.errors import InvalidInput

# a message names at most this many bad fields; ``details`` holds them all
_FIELDS_IN_MESSAGE = 5


def load_or_invalid(
    schema: Schema | type[Schema], data: Mapping[str, Any] | Sequence[Mapping[str, Any]]
) -> Any:
    """``data`` loaded by the marshmallow ``schema`` (a class, or an instance), or InvalidInput saying
    what is wrong. A class is made into an instance once: making one costs more than a load."""
    try:
        return (schema_instance(schema) if isinstance(schema, type) else schema).load(data)
    except ValidationError as error:
        raise invalid_input(error) from None


@cache
def schema_instance(schema: type[Schema]) -> Schema:
    """The one instance of ``schema`` (a class without arguments) that loads and dumps for every call."""
    return schema()


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
