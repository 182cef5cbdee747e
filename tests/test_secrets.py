"""Secrets are never shown or logged: `repwatch config show` masks them, a whole daily run
with the SMTP password in the environment (really used, to log in to a real SMTP server)
leaves it nowhere in its output or its data folder, and `.env` is ignored by git."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.conftest import REPO, demo_base_urls, demo_settings, with_sections, write_settings

reliability = pytest.mark.reliability

SMTP_PASSWORD = "smtp-Pa55word-7c1e"
CONNECTION_PASSWORD = "airflow-conn-Pa55-93ab"
URL_PASSWORD = "mirror-Pa55-4d2f"
API_KEY = "key-Pa55-0b8e"
SECRETS = (SMTP_PASSWORD, CONNECTION_PASSWORD, URL_PASSWORD, API_KEY)
DAY = date(2026, 11, 20)


def repwatch(*arguments: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "repwatch", *arguments],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=False,
    )


def clean_environment(**values: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("REPWATCH_", "AIRFLOW_CONN_"))
    }
    python_path = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return {**env, "PYTHONPATH": python_path, **values}


def config_with_secrets(tmp_path: Path, **changes) -> Path:
    """The demo config with a password in a base URL and an API key in a target URL, and
    sections changed as `with_sections` does."""
    settings = demo_settings()
    settings["crawl"]["base_urls"]["jsonld"] = f"http://mirror:{URL_PASSWORD}@127.0.0.1:8808"
    acme = settings["brands"][0]
    jsonld = next(source for source in acme["sources"] if source["source"] == "jsonld")
    jsonld["targets"][0]["url"] += f"?lang=en&api_key={API_KEY}"
    return write_settings(tmp_path, with_sections(settings, **changes))


@reliability(
    row="Secrets in the environment and the config: REPWATCH_SMTP_PASSWORD, the Airflow "
    "SMTP connection URI, user:password@ in a base URL, an api_key in a target URL",
    expected="`repwatch config show` and `config check` print none of them: the password "
    "as ******** (set or not), URL passwords and credential parameters masked",
)
def test_config_show_masks_every_secret(tmp_path):
    path = config_with_secrets(tmp_path, paths={"data_dir": str(tmp_path / "data")})
    env = clean_environment(
        REPWATCH_SMTP_PASSWORD=SMTP_PASSWORD,
        AIRFLOW_CONN_SMTP_DEFAULT=f"smtp://mailer:{CONNECTION_PASSWORD}@mail.example:587",
    )
    shown = repwatch("--config", str(path), "config", "show", env=env, cwd=tmp_path)
    checked = repwatch("--config", str(path), "config", "check", env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert checked.returncode == 0, checked.stderr
    for secret in SECRETS:
        for output in (shown.stdout, shown.stderr, checked.stdout, checked.stderr):
            assert secret not in output
    config = json.loads(shown.stdout)
    assert config["smtp"]["password"] == "********"
    assert config["smtp"]["username"] == "mailer"  # not a secret: shown
    assert config["crawl"]["base_urls"]["jsonld"] == "http://mirror:********@127.0.0.1:8808"
    acme_jsonld = next(s for s in config["brands"][0]["sources"] if s["source"] == "jsonld")
    assert acme_jsonld["targets"][0]["params"]["url"].endswith("?lang=en&api_key=********")

    unset = repwatch("--config", str(path), "config", "show", env=clean_environment(), cwd=tmp_path)
    assert json.loads(unset.stdout)["smtp"]["password"] is None


class _PasswordAuthenticator:
    """Accepts one login and password, and remembers whether it was used."""

    def __init__(self, login: str, password: str):
        self.expected = LoginPassword(login.encode(), password.encode())
        self.accepted = 0

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if auth_data == self.expected:
            self.accepted += 1
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


class _Inbox:
    def __init__(self):
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(envelope.original_content or envelope.content)
        return "250 OK"


@pytest.fixture
def smtp_with_login():
    from repwatch.smtp_sink import _free_port

    port = _free_port("127.0.0.1")
    authenticator = _PasswordAuthenticator("mailer", SMTP_PASSWORD)
    inbox = _Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        server_hostname="repwatch-test-smtp",
        authenticator=authenticator,
        auth_require_tls=False,
        auth_required=True,
    )
    controller.start()
    try:
        yield port, authenticator, inbox
    finally:
        controller.stop()


# The test server takes AUTH without TLS on loopback; aiosmtpd warns about that.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@reliability(
    row="A whole daily run (`repwatch -v run`, debug logging) with the SMTP password in the "
    "environment, used to log in to a real SMTP server that requires it",
    expected="The mail goes out (login succeeded), and the password (and the Airflow "
    "connection's) appears nowhere: not in stdout, stderr, the e-mails or any file of the "
    "data folder",
)
def test_a_run_never_logs_or_stores_the_smtp_password(tmp_path, smtp_with_login):
    from repwatch.demo_site.server import serve_in_thread

    port, authenticator, inbox = smtp_with_login
    data_dir = tmp_path / "data"
    with serve_in_thread(port=0, last_day=DAY) as site:
        path = config_with_secrets(
            tmp_path,
            # One source keeps the run short: the secret's path is the same for all.
            brands=[
                {**brand, "sources": [s for s in brand["sources"] if s["source"] == "appstore"]}
                for brand in demo_settings()["brands"]
            ],
            crawl={"base_urls": demo_base_urls(site), "lookback_days": 3},
            paths={"data_dir": str(data_dir)},
        )
        env = clean_environment(
            REPWATCH_SMTP_PASSWORD=SMTP_PASSWORD,
            # The deployment's shared connection: its host and login are used, and its own
            # password is another secret that must not leak.
            AIRFLOW_CONN_SMTP_DEFAULT=(
                f"smtp://mailer:{CONNECTION_PASSWORD}@127.0.0.1:{port}"
                "?disable_ssl=true&disable_tls=true"
            ),
        )
        done = repwatch(
            "--config", str(path), "-v", "run", "--date", DAY.isoformat(), env=env, cwd=tmp_path
        )
    assert done.returncode == 0, done.stderr[-3000:]
    assert authenticator.accepted > 0 and inbox.messages, "the password was used to send"
    assert "DEBUG" in done.stderr, "debug logging was on"
    for secret in (SMTP_PASSWORD, CONNECTION_PASSWORD):
        assert secret not in done.stdout and secret not in done.stderr
        for message in inbox.messages:
            assert secret.encode() not in message
        leaked = [
            file
            for file in data_dir.rglob("*")
            if file.is_file() and secret.encode() in file.read_bytes()
        ]
        assert leaked == []


@reliability(
    row="A .env file (or .env.local, .env.production) with secrets beside the code",
    expected="Ignored by git, at the top and in any folder; .env.example is not",
)
@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        (".env", True),
        ("deploy/.env", True),
        (".env.local", True),
        ("deploy/.env.production", True),
        (".env.example", False),
    ],
)
def test_env_files_are_ignored_by_git(path, ignored):
    # Read-only: asks git whether the path would be ignored, with no need for the file.
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", "--quiet", path], cwd=REPO, check=False
    )
    assert done.returncode in (0, 1), "git check-ignore failed"
    assert (done.returncode == 0) is ignored
