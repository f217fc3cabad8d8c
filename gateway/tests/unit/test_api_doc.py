"""docs/api.md, the public contract kept in the repository, lists every route of /openapi.json as it is."""

import re
from pathlib import Path

API_DOC = Path(__file__).resolve().parents[3] / "docs" / "api.md"
ROUTE_ROW = re.compile(r"^\| `(?P<method>[A-Z]+) (?P<path>\S+)` \| (?P<auth>[^|]+) \| (?P<summary>.+) \|$")
AUTH = {
    None: "anyone",
    "bearerAuth": "token",
    "optional": "anyone; a token prices at its level",
    "channelSignature": "signed with an API key",
}


def _auth(operation):
    security = operation.get("security")
    if security is None:
        return AUTH[None]
    if {} in security:
        return AUTH["optional"]
    return AUTH[next(iter(security[0]))]


def routes_of(spec):
    """The table's rows, by path and then method."""
    return [
        f"| `{method.upper()} {path}` | {_auth(operation)} | {operation['summary']} |"
        for path, operations in sorted(spec["paths"].items())
        for method, operation in sorted(operations.items())
    ]


def test_the_route_table_is_the_openapi_document(client):
    spec = client.get("/openapi.json").json
    documented = [line for line in API_DOC.read_text().splitlines() if ROUTE_ROW.match(line)]
    expected = routes_of(spec)
    assert documented == expected, "docs/api.md's route table, as /openapi.json has it:\n" + "\n".join(
        expected
    )
