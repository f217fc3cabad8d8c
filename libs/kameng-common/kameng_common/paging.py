"""Keyset paging on (a moment, an id): a page goes on after the last row of the page before,
named by an opaque cursor, in either order of the moment (newest first, or soonest first)."""

import base64
import binascii
import datetime
import json
from typing import Any

import sqlalchemy as sa

from kameng_common.errors import InvalidInput


def encode_cursor(moment: datetime.datetime, key: str) -> str:
    """The cursor after the row of ``moment`` (aware) with the id ``key``."""
    position = json.dumps([moment.isoformat(), key])
    return base64.urlsafe_b64encode(position.encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime.datetime, str]:
    """(moment, id) of ``encode_cursor``'s cursor; InvalidInput for anything else."""
    try:
        moment, key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        moment = datetime.datetime.fromisoformat(moment)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidInput("invalid cursor") from None
    if moment.tzinfo is None or not isinstance(key, str):
        raise InvalidInput("invalid cursor")
    return moment, key


def after(
    moment: sa.ColumnElement[Any], key: sa.ColumnElement[Any], cursor: str, *, newest_first: bool
) -> sa.ColumnElement[bool]:
    """The rows after ``cursor`` in the order of (``moment``, ``key``), descending when
    ``newest_first``; InvalidInput for a cursor that is none."""
    last_moment, last_key = decode_cursor(cursor)
    if newest_first:
        return sa.or_(moment < last_moment, sa.and_(moment == last_moment, key < last_key))
    return sa.or_(moment > last_moment, sa.and_(moment == last_moment, key > last_key))
