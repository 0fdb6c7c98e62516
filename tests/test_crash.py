"""kill -9 at chosen moments of a large digest, then restart until the outbox is empty:
nothing is lost, and a message is sent twice exactly when Telegram accepted it but the
process was gone before the answer reached it (the fake Bot API counts those). The real
program (`python -m bot digest`) against the loopback fake Bot API; counted at the fake.

Each run is killed either while it starts, composes and queues (at a random moment), or
while its next message is with Telegram (held by the fake's Gate, then accepted). Every
assertion carries the trace of the kills and the runs' own output.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bot.store import Store
from tests.builders import add, channel, story
from tests.fakes.telegram_server import Gate

ROOT = Path(__file__).resolve().parent.parent
KILLS = 6
WORDS = ["privacy", "toezicht", "gegevens", "boete", "cookies", "camera", "locatie", "app",
         "kinderen", "school", "zorg", "verzekeraar", "werkgever", "sollicitatie", "biometrie",
         "gezicht", "vingerafdruk", "stem", "advertentie", "profiel", "tracking", "wifi",
         "bluetooth", "rechter", "uitspraak", "wet", "voorstel", "kamer", "europa", "regels",
         "toestemming", "bezwaar", "inzage", "verwijderen", "bewaren", "delen", "verkopen",
         "trainen", "model", "chatbot", "klant", "bezoeker", "patiënt", "leerling", "ouders",
         "burger", "gemeente", "politie", "bank"]


def wait_for(predicate, what: Callable[[], str], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what()}")
        time.sleep(0.005)


def test_kill_9_during_a_large_digest_loses_nothing_and_doubles_only_unanswered_sends(
        tmp_path, telegram, write_config):
    rng = random.Random(20261130)  # kills: 2 while starting, 4 in flight
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
    state = telegram.state
    runs_log = tmp_path / "runs.log"
    log = runs_log.open("w")  # the runs' own output, for a failure
    command = [sys.executable, "-m", "bot", "digest", "--config", str(config)]
    trace: list[dict[str, object]] = []

    def why() -> str:
        if not log.closed:
            log.flush()
        kills = "\n".join(f"  {n}: {t}" for n, t in enumerate(trace, 1))
        return f"\nkills:\n{kills}\nruns.log (end):\n{runs_log.read_text()[-4000:]}"

    for _ in range(KILLS):
        before = len(state.sent)
        more = rng.randint(0, 4)  # 0: die while starting, composing or queueing
        gate = state.gate = Gate(at=before + more) if more else None
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        if gate is None:
            time.sleep(rng.uniform(0, 0.05))
        else:  # until its next message is with Telegram (or it finished first)
            wait_for(lambda p=process, g=gate: p.poll() is not None or g.arrived.is_set(),
                     lambda: "the digest to get going" + why())
        killed = process.poll() is None
        if killed:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        in_flight = gate is not None and gate.arrived.is_set()
        if gate is not None:
            gate.release()  # Telegram accepts it; its answer finds nobody
            if in_flight:
                wait_for(gate.finished.is_set, lambda: "the held message to be answered" + why())
        trace.append({"more": more, "killed": killed, "in flight": in_flight,
                      "returncode": process.returncode, "sent before": before,
                      "sent after": len(state.sent), "undelivered": len(state.undelivered)})
    state.gate = None

    for _ in range(5):  # restart until everything went out
        finished = subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=log,
                                  timeout=60, check=False)
        trace.append({"restart": finished.returncode, "sent after": len(state.sent)})
        if finished.returncode == 0:
            break
    assert finished.returncode == 0, why()

    store = Store(db)
    outbox = store.db.execute("SELECT chat, text, status FROM outbox ORDER BY id").fetchall()
    store.close()
    sent = [(s.chat_id, s.text) for s in state.sent]  # what reached each chat
    queued = [(state.chat_id(chat), text) for chat, text, _ in outbox]
    kills = sum(bool(t.get("killed")) for t in trace)
    in_flight = sum(bool(t.get("in flight")) and bool(t.get("killed")) for t in trace)
    assert kills >= 3 and in_flight >= 2, "killed more than once, with a message in flight" \
        + why()
    assert len(queued) > 10 and all(status == "sent" for *_, status in outbox), why()
    lost = [m for m in queued if m not in sent]
    doubles = len(sent) - len(set(sent))
    assert lost == [], why()
    assert set(sent) == set(queued), "no message was composed twice" + why()
    assert doubles == len(state.undelivered) == in_flight, \
        f"{doubles} doubles, {len(state.undelivered)} answers lost" + why()
    for chat in {chat for chat, _ in queued}:
        everything = "\n".join(text for to, text in sent if to == chat)
        missing = [a.article.url for a in articles if a.article.url not in everything]
        assert missing == [], f"every story, each chat: {len(missing)} missing" + why()
    print(f"\n{len(queued)} messages, {kills} kills, lost {len(lost)}, doubles {doubles}")
    log.close()
