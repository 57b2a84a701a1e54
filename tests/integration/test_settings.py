"""Configuration from the environment, and the production checklist."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def fabflow(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "fabflow.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def clean_env(tmp_path: Path) -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "PYTHONPATH"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["FABFLOW_DATA_DIR"] = str(tmp_path / "data")
    return env


def test_check_deploy_passes_with_production_settings(
    clean_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **clean_env,
        "BASE_URL": "https://fabflow.example.com",
        "ALLOWED_HOSTS": "fabflow.example.com",
        "SECURE_HSTS_PRELOAD": "true",
    }
    result = fabflow(["check", "--deploy", "--fail-level", "WARNING"], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_debug_is_off_by_default_and_a_secret_key_is_generated_once(
    clean_env: dict[str, str], tmp_path: Path
) -> None:
    code = "from django.conf import settings as s; print(s.DEBUG, s.SECRET_KEY)"
    first = fabflow(["shell", "-v", "0", "-c", code], clean_env, tmp_path)
    second = fabflow(["shell", "-v", "0", "-c", code], clean_env, tmp_path)
    assert first.returncode == 0, first.stderr
    debug, key = first.stdout.split()
    assert debug == "False"
    assert len(key) >= 50
    assert second.stdout == first.stdout
    assert (tmp_path / "data" / "secret_key").read_text() == key


def test_passwords_are_hashed_with_argon2(clean_env: dict[str, str], tmp_path: Path) -> None:
    code = "from django.conf import settings as s; print(s.PASSWORD_HASHERS[0])"
    result = fabflow(["shell", "-v", "0", "-c", code], clean_env, tmp_path)
    assert result.stdout.strip() == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_database_and_email_urls_are_read_from_the_environment(
    clean_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **clean_env,
        "DATABASE_URL": f"sqlite:///{tmp_path}/other.db",
        "EMAIL_URL": "smtp://mail.example:2525",
        "OUTBOUND_ALLOWLIST": "127.0.0.1,10.0.0.0/8",
        "PORT": "9001",
    }
    code = (
        "from django.conf import settings as s; print(s.DATABASES['default']['NAME'], "
        "s.EMAIL_HOST, s.EMAIL_PORT, s.OUTBOUND_ALLOWLIST, s.BASE_URL)"
    )
    result = fabflow(["shell", "-v", "0", "-c", code], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split(" ", 3)[:3] == [f"{tmp_path}/other.db", "mail.example", "2525"]
    assert "['127.0.0.1', '10.0.0.0/8'] http://127.0.0.1:9001" in result.stdout
