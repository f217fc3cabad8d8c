"""``kameng cards import FILE --product ID``: a card file of any size, sent in batches, resumable.

The file is read as it is sent, a batch of whole lines at a time, as
``text/plain`` (``number secret`` a line) or ``text/csv`` (``number,secret``).
After each batch the gateway has answered, a checkpoint beside the file
records how far the import got and what it found; an import started again
(after Ctrl-C, a lost connection, a reboot) goes on from there. The batch that
was in flight when it stopped is sent again, and the server, which never
stores a number twice for a product, counts its cards as duplicates: nothing
is imported twice. The checkpoint is removed once the whole file is in.
"""

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from kameng_cli.shop import ApiError

# lines a request carries: well under the 100,000 cards one request takes
BATCH_LINES = 20_000
# and never more than this many bytes, whatever the lines' length
BATCH_BYTES = 8 * 1024 * 1024
RETRIES = 5
_FINGERPRINT_BYTES = 1 << 16
MEDIA_TYPES = {"text": "text/plain", "csv": "text/csv"}


@dataclass
class Checkpoint:
    """How far an import of one file into one product got, and what it found so far."""

    product_id: int
    fingerprint: str
    offset: int = 0  # bytes of the file sent and answered
    lines: int = 0  # lines of the file sent and answered
    imported: int = 0
    duplicate_lines: list = field(default_factory=list)
    rejected_lines: list = field(default_factory=list)

    def report(self):
        return {
            "imported": self.imported,
            "duplicates": len(self.duplicate_lines),
            "rejected": len(self.rejected_lines),
            "duplicate_lines": self.duplicate_lines,
            "rejected_lines": self.rejected_lines,
        }


def checkpoint_path(path, product_id):
    return path.with_name(f"{path.name}.kameng-import-{product_id}.json")


def fingerprint(path):
    """The file's size and the hash of its beginning: a file changed since the checkpoint starts over."""
    with open(path, "rb") as file:
        head = file.read(_FINGERPRINT_BYTES)
    return f"{path.stat().st_size}:{hashlib.sha256(head).hexdigest()}"


def load_checkpoint(path, product_id):
    """The checkpoint of an unfinished import of this very file, or a fresh one."""
    fresh = Checkpoint(product_id, fingerprint(path))
    saved = checkpoint_path(path, product_id)
    if not saved.exists():
        return fresh
    checkpoint = Checkpoint(**json.loads(saved.read_text()))
    return checkpoint if checkpoint.fingerprint == fresh.fingerprint else fresh


def save_checkpoint(path, checkpoint):
    saved = checkpoint_path(path, checkpoint.product_id)
    partial = saved.with_suffix(".partial")
    partial.write_text(json.dumps(asdict(checkpoint)))
    os.replace(partial, saved)  # atomic: a crash leaves the old checkpoint or the new one


def batches(file, batch_lines=BATCH_LINES, batch_bytes=BATCH_BYTES):
    """(body, lines in it) of whole lines from the file's current position."""
    body, lines = [], 0
    size = 0
    for line in file:
        body.append(line)
        lines += 1
        size += len(line)
        if lines >= batch_lines or size >= batch_bytes:
            yield b"".join(body), lines
            body, lines, size = [], 0, 0
    if body:
        yield b"".join(body), lines


def import_file(path, product_id, send, media_type, on_progress=lambda sent, checkpoint: None, **batching):
    """Import the card file at ``path`` into a product; the final report.

    ``send(body, content_type)`` posts one batch and returns the gateway's
    answer (``{imported, duplicate_lines, rejected_lines}`` numbered within the
    batch). The checkpoint is saved after every batch, and removed at the end.
    """
    path = Path(path)
    checkpoint = load_checkpoint(path, product_id)
    on_progress(checkpoint.offset, checkpoint)
    with open(path, "rb") as file:
        file.seek(checkpoint.offset)
        for body, lines in batches(file, **batching):
            if body.strip():
                answer = send(body, media_type)
                checkpoint.imported += answer["imported"]
                checkpoint.duplicate_lines += [checkpoint.lines + line for line in answer["duplicate_lines"]]
                checkpoint.rejected_lines += [checkpoint.lines + line for line in answer["rejected_lines"]]
            checkpoint.offset += len(body)
            checkpoint.lines += lines
            save_checkpoint(path, checkpoint)
            on_progress(checkpoint.offset, checkpoint)
    checkpoint_path(path, product_id).unlink(missing_ok=True)
    return checkpoint.report()


def media_type_of(path, chosen):
    if chosen != "auto":
        return MEDIA_TYPES[chosen]
    return MEDIA_TYPES["csv"] if Path(path).suffix.lower() == ".csv" else MEDIA_TYPES["text"]


def sender(gateway, product_id):
    """``send(body, content_type)`` through ``gateway``, retrying what a retry can mend.

    A batch sent twice is harmless: its cards are duplicates the second time.
    """

    def send(body, content_type):
        for attempt in range(1, RETRIES + 1):
            try:
                return gateway.request(
                    "POST",
                    f"/api/v1/admin/products/{product_id}/cards",
                    data=body,
                    headers={"Content-Type": f"{content_type}; charset=utf-8"},
                )
            except ApiError as error:
                if error.status not in (429, 502, 503, 504) or attempt == RETRIES:
                    raise
            except OSError:
                if attempt == RETRIES:
                    raise
            time.sleep(min(2**attempt, 30))
        raise AssertionError("unreachable")

    return send


def run_import(gateway, path, product_id, chosen_format="auto"):
    """The command: import with a progress bar; returns the report."""
    total = Path(path).stat().st_size
    columns = (
        TextColumn("[bold]{task.fields[imported]:,}[/] imported"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns) as progress:
        task = progress.add_task("cards", total=total, imported=0)

        def show(sent, checkpoint):
            progress.update(task, completed=sent, imported=checkpoint.imported)

        return import_file(
            path, product_id, sender(gateway, product_id), media_type_of(path, chosen_format), show
        )
