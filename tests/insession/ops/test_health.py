"""`insession health` prints no secret: passwords in the Redis URL (or a flow's URL) are masked."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from insession.urls import redacted_url

SECRET = "s3cret-Pw"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        (f"redis://app:{SECRET}@cache:6379/0", "redis://app:***@cache:6379/0"),
        (f"redis://:{SECRET}@cache:6379", "redis://:***@cache:6379"),
        (f"rediss://app:{SECRET}@with@at@cache:6380/1", "rediss://app:***@cache:6380/1"),
        (f"redis://app:{SECRET}@[::1]:6379", "redis://app:***@[::1]:6379"),
        ("redis://app@cache:6379", "redis://app@cache:6379"),
        (
            f"unix:///run/redis.sock?db=0&password={SECRET}",
            "unix:///run/redis.sock?db=0&password=***",
        ),
        (f"http://probe:{SECRET}@127.0.0.1:9108", "http://probe:***@127.0.0.1:9108"),
    ],
)
def test_redacted_url_masks_passwords_and_keeps_the_rest(url: str, shown: str) -> None:
    assert redacted_url(url) == shown


@pytest.mark.redis
def test_health_services_never_prints_the_redis_password() -> None:
    env = {**os.environ, "INSESSION_REDIS_URL": f"redis://app:{SECRET}@127.0.0.1:6379/0"}
    done = subprocess.run(
        [sys.executable, "-m", "insession.cli", "health", "--services"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert SECRET not in done.stdout + done.stderr
    assert "redis://app:***@127.0.0.1:6379/0" in done.stdout
