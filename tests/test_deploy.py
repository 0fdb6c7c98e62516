"""deploy/: the health check the container runs, and the key properties of the deploy files
(there is no Docker engine in CI: the files are checked by reading them)."""

from __future__ import annotations

import configparser
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


@pytest.fixture
def config(write_config):
    return write_config({"feeds": []})


def _beat(tmp_path: Path, when: datetime) -> None:
    (tmp_path / "heartbeat").write_text(when.isoformat(timespec="seconds"))


def test_health_is_ok_when_run_polled_recently(config, tmp_path, run_cli):
    _beat(tmp_path, datetime.now(UTC) - timedelta(seconds=30))
    result = run_cli("health", "--config", str(config))
    assert result.code == 0, result.out
    assert result.out.startswith("ok: last polling round")


def test_health_fails_when_the_last_polling_round_is_too_old(config, tmp_path, run_cli):
    _beat(tmp_path, datetime.now(UTC) - timedelta(hours=1))
    result = run_cli("health", "--config", str(config))
    assert result.code == 1
    assert "unhealthy: last polling round" in result.out and "limit 10m" in result.out
    assert run_cli("health", "--config", str(config), "--max-age", "2h").code == 0


def test_health_fails_before_the_first_polling_round(config, run_cli):
    result = run_cli("health", "--config", str(config))
    assert result.code == 1 and "no heartbeat yet" in result.out


def test_health_fails_on_a_garbled_heartbeat_and_rejects_a_bad_max_age(config, tmp_path,
                                                                       run_cli):
    (tmp_path / "heartbeat").write_text("yesterday-ish")
    assert run_cli("health", "--config", str(config)).code == 1
    bad = run_cli("health", "--config", str(config), "--max-age", "ten minutes")
    assert bad.code == 1 and "--max-age" in bad.err


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_runs_as_a_non_root_user_with_the_db_on_a_volume_and_a_healthcheck():
    steps = _dockerfile()
    final = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM"):]
    base = final[0][1]
    assert re.fullmatch(r"python:3\.1[1-9]-slim", base), base
    users = [arg for word, arg in final if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    volumes = " ".join(arg for word, arg in final if word == "VOLUME")
    env = " ".join(arg for word, arg in final if word == "ENV")
    db = re.search(r"BOT_DB=(\S+)", env)
    assert db and any(db.group(1).startswith(v.strip('[]" ') + "/")
                      for v in volumes.split(",")), (db, volumes)
    health = [arg for word, arg in final if word == "HEALTHCHECK"]
    assert len(health) == 1 and '"health"' in health[0] and "--interval" in health[0]
    assert ("CMD", '["run"]') in final and ("ENTRYPOINT", '["alertbot"]') in final
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert ignored[ignored.index("*") + 1:] and "!bot/" in ignored   # .env never sent


def test_compose_reads_the_env_file_and_keeps_the_db_in_a_volume():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    service = compose["services"]["alertbot"]
    assert service["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert service["env_file"] == [".env"]
    assert "alertbot-data:/data" in service["volumes"] and "alertbot-data" in compose["volumes"]
    assert service["environment"]["BOT_DB"].startswith("/data/")
    assert service["restart"] == "unless-stopped"
    example = dict(line.split("=", 1) for line in (DEPLOY / ".env.example").read_text()
                   .splitlines() if line and not line.startswith("#"))
    assert example["TELEGRAM_BOT_TOKEN"] == ""          # no token shipped, not even a fake
    assert {"BOT_ADMINS", "ALERTBOT_CHANNEL"} <= set(example)


def test_systemd_unit_has_a_dedicated_user_restart_and_hardening():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "alertbot.service")
    service = unit["Service"]
    assert service["User"] == "alertbot" and service["Group"] == "alertbot"
    assert service["Restart"] == "on-failure"
    assert service["ExecStart"].endswith("alertbot run")
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict",
                       "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
                       "StateDirectory": "alertbot", "RestrictSUIDSGID": "yes"}.items():
        assert service.get(key) == value, key
    assert service["CapabilityBoundingSet"] == ""
    environment = (DEPLOY / "alertbot.service").read_text()
    assert "Environment=BOT_DB=/var/lib/alertbot/" in environment   # inside StateDirectory
    assert "EnvironmentFile=/etc/alertbot/alertbot.env" in environment
    assert unit["Install"]["WantedBy"] == "multi-user.target"
