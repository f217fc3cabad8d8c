"""The audit log's hash chain: pure Python, no I/O.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's
own content in one canonical JSON form (sorted keys, no spaces), so that
changing, removing or reordering any entry breaks every hash from there on.
The first entry's previous hash is GENESIS.
"""

import hashlib
import json
from dataclasses import dataclass

GENESIS = "0" * 64


@dataclass(frozen=True)
class Entry:
    seq: int
    at: str
    actor: str
    action: str
    target: str
    detail: dict
    prev_hash: str
    hash: str


def canonical_detail(detail):
    return json.dumps(detail or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(prev_hash, seq, at, actor, action, target, detail):
    content = json.dumps(
        {
            "seq": seq,
            "at": at,
            "actor": actor,
            "action": action,
            "target": target,
            "detail": json.loads(canonical_detail(detail)),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(f"{prev_hash}\n{content}".encode()).hexdigest()


def chained(prev_seq, prev_hash, at, actor, action, target, detail):
    """The entry that follows ``(prev_seq, prev_hash)``."""
    seq = prev_seq + 1
    return Entry(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        target=target,
        detail=detail or {},
        prev_hash=prev_hash,
        hash=entry_hash(prev_hash, seq, at, actor, action, target, detail),
    )


class Verifier:
    """Fed the entries in the order of their seq; names the first entry that breaks the chain.

    An entry is broken when its seq is not the next one (one removed, or
    moved), its prev_hash is not the hash before it, or its hash is not the
    hash of its content. ``finish(head_seq, head_hash)`` also catches entries
    removed from the end: the head is where the chain last ended.
    """

    def __init__(self):
        self.checked = 0
        self.first_broken = None
        self._seq = 0
        self._hash = GENESIS

    def feed(self, entry):
        if self.first_broken is not None:
            return
        recomputed = entry_hash(
            entry.prev_hash, entry.seq, entry.at, entry.actor, entry.action, entry.target, entry.detail
        )
        if entry.seq != self._seq + 1 or entry.prev_hash != self._hash or entry.hash != recomputed:
            self.first_broken = self._seq + 1 if entry.seq > self._seq + 1 else entry.seq
            return
        self.checked += 1
        self._seq, self._hash = entry.seq, entry.hash

    def finish(self, head_seq, head_hash):
        if self.first_broken is None and (head_seq, head_hash) != (self._seq, self._hash):
            self.first_broken = self._seq + 1
        return {"ok": self.first_broken is None, "checked": self.checked, "first_broken": self.first_broken}
