"""`emotion-bot webhooks ...` against a real database and a real receiver."""

from __future__ import annotations

import json

from bot.cli import main
from bot.delivery.verify import decode_secret
from storage.db import Database
from tests.delivery.conftest import SECRET
from tests.delivery.receiver import Receiver
from tests.delivery.test_outbox import finished_call, rows


def test_deliver_list_retry(db: Database, receiver: Receiver, monkeypatch, capsys) -> None:
    monkeypatch.setenv("EMOTION_BOT_WEBHOOK_SECRET", SECRET)
    path = str(db.url.database)
    receiver.start()
    receiver.reply = lambda n: (422, {}, 0.0) if n == 0 else (200, {}, 0.0)
    finished_call(db, receiver.url)
    assert main(["webhooks", "deliver", "--db", path]) == 0
    assert json.loads(capsys.readouterr().out) == {"permanent_failure": 1}

    assert main(["webhooks", "list", "--status", "failed", "--json", "--db", path]) == 0
    (listed,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (listed["status"], listed["last_status_code"], listed["attempts"]) == ("failed", 422, 1)

    assert main(["webhooks", "retry", listed["msg_id"], "--db", path]) == 0
    assert main(["webhooks", "deliver", "--db", path]) == 0
    assert "delivered" in capsys.readouterr().out
    assert rows(db)[0].status == "delivered"
    assert [r.msg_id for r in receiver.received] == [listed["msg_id"]] * 2  # same id on the re-send

    assert main(["webhooks", "list", "--db", path]) == 0
    assert "delivered" in capsys.readouterr().out
    assert main(["webhooks", "retry", "msg_nope", "--db", path]) == 1


def test_secret_command(capsys) -> None:
    assert main(["webhooks", "secret"]) == 0
    assert len(decode_secret(capsys.readouterr().out.strip())) == 32
