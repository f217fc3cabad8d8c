"""kameng cards import: batches of whole lines, line numbers of the whole file, resumable, never twice."""

import pytest

from kameng_cli import cards


class FakeGateway:
    """Imports like the gateway: a number seen before is a duplicate, a line without a secret rejected."""

    def __init__(self, fail_on_batch=None):
        self.stored = set()
        self.bodies = []
        self.fail_on_batch = fail_on_batch

    def send(self, body, content_type):
        self.bodies.append((body, content_type))
        answer = {"imported": 0, "duplicate_lines": [], "rejected_lines": []}
        for line, text in enumerate(body.decode().splitlines(), start=1):
            fields = text.split(",") if content_type == "text/csv" else text.split()
            if not text.strip():
                continue
            if len(fields) != 2:
                answer["rejected_lines"].append(line)
            elif fields[0] in self.stored:
                answer["duplicate_lines"].append(line)
            else:
                self.stored.add(fields[0])
                answer["imported"] += 1
        if len(self.bodies) == self.fail_on_batch:
            raise KeyboardInterrupt  # stopped after the server stored the batch, before the answer came
        return answer


@pytest.fixture
def card_file(tmp_path):
    lines = [f"N{i} S{i}" for i in range(1, 26)]
    lines[9] = "broken"  # line 10
    lines[19] = "N3 again"  # line 20
    path = tmp_path / "cards.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_file_is_sent_in_batches_of_whole_lines_numbered_within_the_file(card_file):
    gateway = FakeGateway()

    report = cards.import_file(card_file, 7, gateway.send, "text/plain", batch_lines=10)

    assert [body.count(b"\n") for body, _ in gateway.bodies] == [10, 10, 5]
    assert report == {
        "imported": 23,
        "duplicates": 1,
        "rejected": 1,
        "duplicate_lines": [20],
        "rejected_lines": [10],
    }
    assert not cards.checkpoint_path(card_file, 7).exists()


def test_an_interrupted_import_goes_on_where_it_stopped_and_imports_nothing_twice(card_file):
    gateway = FakeGateway(fail_on_batch=2)
    with pytest.raises(KeyboardInterrupt):
        cards.import_file(card_file, 7, gateway.send, "text/plain", batch_lines=10)
    assert cards.checkpoint_path(card_file, 7).exists()
    gateway.fail_on_batch = None

    report = cards.import_file(card_file, 7, gateway.send, "text/plain", batch_lines=10)

    # the first batch is not sent again; the second, stored before the stop, comes back as duplicates
    assert [body.split(b" ")[0] for body, _ in gateway.bodies] == [b"N1", b"N11", b"N11", b"N21"]
    assert len(gateway.stored) == 23
    assert report["imported"] == 23 - 9
    assert report["duplicate_lines"] == [*range(11, 20), 20]
    assert report["rejected_lines"] == [10]


def test_a_file_changed_since_its_checkpoint_starts_over(card_file):
    gateway = FakeGateway(fail_on_batch=1)
    with pytest.raises(KeyboardInterrupt):
        cards.import_file(card_file, 7, gateway.send, "text/plain", batch_lines=10)
    card_file.write_text("X1 S1\n")
    gateway.fail_on_batch = None

    assert cards.import_file(card_file, 7, gateway.send, "text/plain", batch_lines=10)["imported"] == 1


def test_each_product_has_its_own_checkpoint(card_file):
    gateway = FakeGateway(fail_on_batch=1)
    with pytest.raises(KeyboardInterrupt):
        cards.import_file(card_file, 7, gateway.send, "text/plain", batch_lines=10)
    assert cards.load_checkpoint(card_file, 8).offset == 0
    assert cards.load_checkpoint(card_file, 7).offset == 0  # the interrupted batch was not answered


def test_batches_also_end_at_a_size_in_bytes(tmp_path):
    path = tmp_path / "cards.csv"
    path.write_text("".join(f"N{i},{'S' * 100}\n" for i in range(10)))
    gateway = FakeGateway()

    report = cards.import_file(path, 1, gateway.send, cards.media_type_of(path, "auto"), batch_bytes=250)

    assert [body.count(b"\n") for body, _ in gateway.bodies] == [3, 3, 3, 1]
    assert {content_type for _, content_type in gateway.bodies} == {"text/csv"}
    assert report["imported"] == 10


def test_the_sender_retries_what_a_retry_can_mend(monkeypatch):
    monkeypatch.setattr(cards.time, "sleep", lambda seconds: None)
    answers = [cards.ApiError("busy", 503), {"imported": 1}]

    class Gateway:
        def request(self, method, path, **kwargs):
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

    assert cards.sender(Gateway(), 3)(b"N1 S1\n", "text/plain") == {"imported": 1}
    answers[:] = [cards.ApiError("no such product", 404)]
    with pytest.raises(cards.ApiError):
        cards.sender(Gateway(), 3)(b"N1 S1\n", "text/plain")
