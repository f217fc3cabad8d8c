"""Benchmark card imports: cards per second for 100,000 cards in one request, on SQLite and PostgreSQL.

    python bench/import.py [--cards 100000] [--databases sqlite,postgresql] [--no-save]

For each database kind it starts a fresh suite (own vhost, data folder,
PostgreSQL databases), creates a card product and posts ``--cards`` fresh
cards as one text/plain request through the gateway, timed from the first
byte sent to the answer: parsing, the calls to inventory, sealing every
secret (AES-256-GCM), the number digests and the inserts. Then it posts the
same file again, all duplicates, to time the check against stock; and it
imports a second file of the same size with ``kameng cards import`` (batches,
checkpoint, progress bar off). Results are printed and written to
bench/results/import/.
"""

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests
import stage

from kameng_cli import cards
from kameng_cli.secrets import admin_credentials
from kameng_cli.shop import Gateway

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "import"
TARGET_SQLITE = 20_000  # cards/s


def card_file(count, prefix):
    """``count`` cards, one ``number secret`` a line, like a supplier's export (about 60 bytes a line)."""
    return "".join(
        f"{prefix}{index:010d} {uuid.uuid4().hex}{uuid.uuid4().hex[:8]}\n" for index in range(count)
    ).encode()


def timed_post(url, token, body):
    started = time.perf_counter()
    response = requests.post(
        url,
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain; charset=utf-8"},
        timeout=600,
    )
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return response.json(), elapsed


def measure(database, count, say):
    with stage.fresh_suite(database, say=say) as running:
        staff = Gateway(running.gateway_url).log_in(*admin_credentials(running.suite.settings.data_dir))
        category = staff.request("POST", "/api/v1/admin/categories", json={"name": "Bench"})
        product = staff.request(
            "POST",
            "/api/v1/admin/products",
            json={"name": "Bench cards", "category_id": category["id"], "kind": "card", "price": 100},
        )
        url = f"{running.gateway_url}/api/v1/admin/products/{product['id']}/cards"
        body = card_file(count, "A")
        say(f"posting {count:,} cards ({len(body) / 1e6:.1f} MB) in one request…")
        fresh, fresh_seconds = timed_post(url, staff.token, body)
        assert fresh["imported"] == count, fresh
        say(
            f"  imported {fresh['imported']:,} in {fresh_seconds:.2f} s: {count / fresh_seconds:,.0f} cards/s"
        )
        again, again_seconds = timed_post(url, staff.token, body)
        assert again["duplicates"] == count and again["imported"] == 0, {
            k: again[k] for k in ("imported", "duplicates")
        }
        say(f"  the same file again: {again['duplicates']:,} duplicates in {again_seconds:.2f} s")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "cards.txt"
            path.write_bytes(card_file(count, "B"))
            started = time.perf_counter()
            report = cards.import_file(path, product["id"], cards.sender(staff, product["id"]), "text/plain")
            cli_seconds = time.perf_counter() - started
        assert report["imported"] == count, report
        say(
            f"  kameng cards import of another {count:,}: {cli_seconds:.2f} s, {count / cli_seconds:,.0f} cards/s"
        )
        stock = staff.request("GET", f"/api/v1/admin/products/{product['id']}")["stock"]
        assert stock == 2 * count, stock
    return {
        "database": database,
        "cards": count,
        "bytes": len(body),
        "one_request": {"seconds": round(fresh_seconds, 3), "cards_per_second": round(count / fresh_seconds)},
        "duplicates_again": {
            "seconds": round(again_seconds, 3),
            "cards_per_second": round(count / again_seconds),
        },
        "cli_batches": {
            "batch_lines": cards.BATCH_LINES,
            "seconds": round(cli_seconds, 3),
            "cards_per_second": round(count / cli_seconds),
        },
    }


def git_commit():
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cards", type=int, default=100_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--no-save", action="store_true", help="print only; write nothing to bench/results")
    args = parser.parse_args(argv)
    runs = [measure(database, args.cards, print) for database in args.databases.split(",")]
    document = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "commit": git_commit(),
        "runs": runs,
        "target_sqlite_cards_per_second": TARGET_SQLITE,
    }
    print(json.dumps(document, indent=2))
    sqlite = [run for run in runs if run["database"] == "sqlite"]
    if sqlite and sqlite[0]["one_request"]["cards_per_second"] < TARGET_SQLITE:
        print(f"below the target of {TARGET_SQLITE:,} cards/s on SQLite", file=sys.stderr)
    if not args.no_save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{document['date']}-{document['commit']}.json"
        path.write_text(json.dumps(document, indent=2) + "\n")
        print(f"written to {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
