"""One Flask blueprint per resource, and the input helpers they share.

Each blueprint builds its marshmallow schemas once, at import, rather than per
request: building one deep-copies its fields and, on first use, its nested
schemas. A marshmallow 4 schema keeps no state between load() and dump()
calls, so one instance serves every request and thread; never set attributes
on a shared one (only, many, ...), pass ``many=`` to the call instead.
"""

from typing import Any

from flask import request
from marshmallow import Schema

from kameng_common.validation import load_or_invalid


def load_json(schema: Schema) -> Any:
    """The JSON body, validated by ``schema``.

    Flask answers a body that is not JSON with 415 and malformed JSON with
    400; a body of the wrong shape fails validation (422).
    """
    return load_or_invalid(schema, request.get_json())


def load_query(schema: Schema) -> Any:
    return load_or_invalid(schema, request.args.to_dict())


def load_headers(schema: Schema) -> Any:
    """The request's headers that ``schema`` names (its fields' data keys), validated by it."""
    names = [field.data_key or name for name, field in schema.fields.items()]
    return load_or_invalid(schema, {name: request.headers[name] for name in names if name in request.headers})
