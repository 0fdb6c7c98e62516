"""kill -9 at random moments during a large digest, then restart until the outbox is empty:
nothing is lost, and a message is doubled at most once per kill (only when the process died
between Telegram accepting it and the local commit). The real program (`python -m bot
digest`) against the loopback fake Bot API; counted at the fake server.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from bot.store import Store
from tests.builders import add, channel, story

ROOT = Path(__file__).resolve().parent.parent
KILLS = 6
WORDS = ["privacy", "toezicht", "gegevens", "boete", "cookies", "camera", "locatie", "app",
         "kinderen", "school", "zorg", "verzekeraar", "werkgever", "sollicitatie", "biometrie",
         "gezicht", "vingerafdruk", "stem", "advertentie", "profiel", "tracking", "wifi",
         "bluetooth", "rechter", "uitspraak", "wet", "voorstel", "kamer", "europa", "regels",
         "toestemming", "bezwaar", "inzage", "verwijderen", "bewaren", "delen", "verkopen",
         "trainen", "model", "chatbot", "klant", "bezoeker", "patiënt", "leerling", "ouders",
         "burger", "gemeente", "politie", "bank"]


def wait_for(predicate, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def test_kill_9_during_a_large_digest_loses_nothing_and_doubles_at_most_once_per_kill(
        tmp_path, telegram, write_config):
    rng = random.Random(20261129)
    db = tmp_path / "bot.db"
    store = Store(db)
    articles = add(store, *[story(f"Bedrijf{n:03} " + " ".join(rng.sample(WORDS, 14)),
                                  feed=f"Bron {n % 7}", orgs=(f"Bedrijf{n:03}",),
                                  topics=(rng.choice(["health", "children", "location"]),))
                            for n in range(240)])
    store.close()
    config = write_config({"channels": [channel(), channel(name="second",
                                                           chat="@second_channel")]})
    env = {**os.environ, **telegram.env, "BOT_DB": str(db), "TELEGRAM_RATE_SCALE": "0.002"}
    telegram.state.latency = 0.01  # each sendMessage takes a moment: a window to die in
    log = (tmp_path / "runs.log").open("w")  # the runs' own output, for a failure
    command = [sys.executable, "-m", "bot", "digest", "--config", str(config)]

    kills = 0
    for _ in range(KILLS):
        before = len(telegram.state.sent)
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        more = rng.randint(0, 4)  # 0: die while starting, composing or queueing
        wait_for(lambda p=process, n=before + more: p.poll() is not None
                 or len(telegram.state.sent) >= n, "the digest to get going")
        time.sleep(rng.uniform(0, 0.05))  # anywhere: sending, answering, committing
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(timeout=10)

    for _ in range(5):  # restart until everything went out
        finished = subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=log,
                                  timeout=60, check=False)
        if finished.returncode == 0:
            break
    log.close()
    assert finished.returncode == 0, (tmp_path / "runs.log").read_text()[-3000:]

    store = Store(db)
    outbox = store.db.execute("SELECT chat, text, status FROM outbox ORDER BY id").fetchall()
    store.close()
    state = telegram.state
    sent = [(s.chat_id, s.text) for s in state.sent]  # what reached each chat
    queued = [(state.chat_id(chat), text) for chat, text, _ in outbox]
    assert kills >= 3, "the digest was killed in the middle, more than once"
    assert len(queued) > 10 and all(status == "sent" for *_, status in outbox)
    lost = [m for m in queued if m not in sent]
    doubles = len(sent) - len(set(sent))
    assert lost == []
    assert set(sent) == set(queued), "no message was composed twice"
    assert doubles <= kills
    for chat in {chat for chat, _ in queued}:
        everything = "\n".join(text for to, text in sent if to == chat)
        assert all(a.article.url in everything for a in articles), "every story, each chat"
    print(f"\n{len(queued)} messages, {kills} kills, lost {len(lost)}, doubles {doubles}")
