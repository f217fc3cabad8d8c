"""Card files read as they arrive: ``text/plain``, ``text/csv`` or JSON, into (line, number, secret).

The body is decoded and split as a stream, so a large file is never held
whole beside its parsed cards; a body over the import limit is refused with
413 as soon as that is known. Lines are named by number only: a line's content
may be a card secret, so it never appears in an answer or a log.
"""

import codecs
import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any

from flask import Request
from marshmallow import ValidationError
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

PLAIN, CSV, JSON = "text/plain", "text/csv", "application/json"
MEDIA_TYPES = (PLAIN, CSV, JSON)
# one request carries at most this many cards; `kameng cards import` sends larger files in batches
MAX_CARDS = 100_000
# cards sent to inventory per call: each call is one transaction there
BATCH = 5_000
# line numbers named in an error message (the answer of a successful import names them all)
SHOWN_LINES = 20
_READ_SIZE = 1 << 16
_CSV_HEADER = ["number", "secret"]
# a lone UTF-16 surrogate (JSON may escape one) or a NUL: text no database column stores
_NOT_STORABLE = re.compile("[\ud800-\udfff\x00]")


class CardFile:
    """The well-formed cards of a body, each with its line, and the lines that are not cards."""

    def __init__(self) -> None:
        self.cards: list[tuple[int, str, str]] = []  # (line, number, secret)
        self.malformed_lines: list[int] = []

    def add(self, line: int, fields: Sequence[str]) -> None:
        cleaned = [field.strip() for field in fields]
        if len(cleaned) == 2 and all(cleaned) and not any(_NOT_STORABLE.search(field) for field in cleaned):
            if len(self.cards) == MAX_CARDS:
                raise RequestEntityTooLarge(
                    f"At most {MAX_CARDS:,} cards a request; send a larger file in parts "
                    "(kameng cards import does)."
                )
            self.cards.append((line, cleaned[0], cleaned[1]))
        elif any(cleaned):
            self.malformed_lines.append(line)


def read_cards(request: Request) -> CardFile:
    """The CardFile of ``request``'s body in its media type; raises 415, 413 or ValidationError (422)."""
    mimetype = request.mimetype
    if mimetype not in MEDIA_TYPES and not request.is_json:
        raise UnsupportedMediaType("Send the cards as text/plain, text/csv or application/json.")
    charset = request.mimetype_params.get("charset", "utf-8")
    try:
        codecs.lookup(charset)
    except LookupError:
        raise _invalid(f"The charset {charset!r} is unknown.") from None
    if mimetype == PLAIN:
        found = _read_lines(_text(request.stream, charset), lambda line: line.split())
    elif mimetype == CSV:
        found = _read_csv(_text(request.stream, charset))
    else:
        found = _read_json(request.stream, charset)
    if not found.cards:
        if found.malformed_lines:
            raise _invalid(
                f"No line is a card ('number secret'); not so on line(s) {_lines(found.malformed_lines)}."
            )
        raise _invalid("The body holds no card.")
    return found


def _text(stream: IO[bytes], charset: str) -> Iterator[str]:
    """The body's lines as text, decoded one by one, so that bad bytes are named by their line."""
    lines = io.BufferedReader(_Raw(stream), _READ_SIZE)
    for number, raw in enumerate(lines, start=1):
        try:
            line = raw.decode(charset)
        except UnicodeDecodeError:
            raise _invalid(f"Line {number} is not text in the declared charset (default UTF-8).") from None
        # a byte order mark, as spreadsheet programs write, is no part of the first card
        yield line.removeprefix("\ufeff") if number == 1 else line


class _Raw(io.RawIOBase):
    """A WSGI input stream as a raw binary file, for io's buffered reader."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _read_lines(text: Iterable[str], split: Callable[[str], list[str]]) -> CardFile:
    found = CardFile()
    for line, content in enumerate(text, start=1):
        found.add(line, split(content))
    return found


def _read_csv(text: Iterable[str]) -> CardFile:
    """``number,secret`` rows (quoted as CSV may quote), after an optional header row."""
    found = CardFile()
    reader = csv.reader(text, strict=True)
    try:
        for row in reader:
            if reader.line_num == 1 and [field.strip().lower() for field in row] == _CSV_HEADER:
                continue
            found.add(reader.line_num, row)
    except csv.Error:
        raise _invalid(f"Line {reader.line_num} is not valid CSV.") from None
    return found


def _read_json(stream: IO[bytes], charset: str) -> CardFile:
    """``{"cards": [{"number", "secret"}, ...]}``; a card's "line" is its position in the list, from 1."""
    try:
        body = json.loads(stream.read().decode(charset))
    except (UnicodeDecodeError, ValueError):
        raise _invalid("The body is not JSON in the declared charset (default UTF-8).") from None
    if not isinstance(body, dict) or set(body) != {"cards"} or not isinstance(body["cards"], list):
        raise _invalid('The body must be {"cards": [{"number": ..., "secret": ...}, ...]}.')
    found = CardFile()
    for position, card in enumerate(body["cards"], start=1):
        fields = (card.get("number"), card.get("secret")) if isinstance(card, dict) else ()
        if (
            isinstance(card, dict)
            and set(card) == {"number", "secret"}
            and all(isinstance(f, str) for f in fields)
        ):
            found.add(position, [card["number"], card["secret"]])
        else:
            found.malformed_lines.append(position)
    return found


def _invalid(message: str) -> ValidationError:
    return ValidationError({"cards": [message]})


def _lines(lines: Sequence[int]) -> str:
    shown = ", ".join(map(str, lines[:SHOWN_LINES]))
    unshown = len(lines) - SHOWN_LINES
    return shown + (f" and {unshown} more" if unshown > 0 else "")


def import_in_batches(
    card_file: CardFile, import_batch: Callable[[list[dict[str, str]]], dict[str, Any]]
) -> dict[str, Any]:
    """Send the cards in batches through ``import_batch(cards) → inventory's answer``; the report.

    ``{imported, duplicates, rejected, duplicate_lines, rejected_lines}``: a
    line is a duplicate when its number is earlier in the file or already in
    stock, rejected when it is no card (malformed) or inventory refused it.
    """
    imported = 0
    duplicate_lines: list[int] = []
    rejected_lines = list(card_file.malformed_lines)
    cards = card_file.cards
    for start in range(0, len(cards), BATCH):
        batch = cards[start : start + BATCH]
        answer = import_batch([{"number": number, "secret": secret} for _, number, secret in batch])
        imported += answer["imported"]
        duplicate_lines += [batch[position][0] for position in answer["duplicate_positions"]]
        rejected_lines += [batch[position][0] for position in answer["rejected_positions"]]
    rejected_lines.sort()
    return {
        "imported": imported,
        "duplicates": len(duplicate_lines),
        "rejected": len(rejected_lines),
        "duplicate_lines": duplicate_lines,
        "rejected_lines": rejected_lines,
    }
