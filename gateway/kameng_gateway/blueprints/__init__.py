"""One Flask blueprint per resource, and the input helpers they share."""

from flask import request


def load_json(schema):
    """The JSON body, validated by ``schema``.

    Flask answers a body that is not JSON with 415 and malformed JSON with
    400; a body of the wrong shape fails validation (422).
    """
    return schema.load(request.get_json())


def load_query(schema):
    return schema.load(request.args.to_dict())
