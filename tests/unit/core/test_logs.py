"""No token or secret reaches a log line: not in a message, its arguments, a traceback or a
stack, from any logger, at any level."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core import logs
from bot.core.logs import REDACTED, Redactor, configure_logging

TOKEN = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5OnNlY3JldA.x-_y"  # the shape of an interaction token
OTHER_TOKEN = "Zm9vYmFyYmF6" * 4  # a webhook token of no known shape
BOT_TOKEN = "MTE3.bot-token-value.abcdef"
MG_KEY = "mg-key-0123456789"
SECRET = "webhook-secret-" + "q" * 30
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """What the root logger writes, through a handler with a Redactor, as the bot's does."""
    stream = io.StringIO()
    redactor = Redactor()
    redactor.add_secret(BOT_TOKEN, MG_KEY, SECRET, "-", None)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(logs.FORMAT))
    handler.addFilter(redactor)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def assert_clean(text: str) -> None:
    for secret in (TOKEN, OTHER_TOKEN, BOT_TOKEN, MG_KEY, SECRET):
        assert secret not in text, f"{secret!r} in {text!r}"
    assert REDACTED in text


def test_discord_request_urls_at_debug(output: io.StringIO) -> None:
    http = logging.getLogger("discord.http")  # a child logger: reaches the root's handler
    http.debug(
        "%s %s with %s has returned %s",
        "POST",
        f"https://discord.com/api/v10/interactions/123456/{TOKEN}/callback",
        {"type": 9},
        204,
    )
    http.debug("PATCH %s", f"https://discord.com/api/v10/webhooks/42/{OTHER_TOKEN}/messages/1")
    text = output.getvalue()
    assert_clean(text)
    assert f"/interactions/123456/{REDACTED}/callback" in text
    assert f"/webhooks/42/{REDACTED}/messages/1" in text


def test_exception_text_and_tracebacks(output: io.StringIO) -> None:
    try:
        raise RuntimeError(f"401 for url='https://d/webhooks/1/{OTHER_TOKEN}' key={MG_KEY}")
    except RuntimeError:
        logging.getLogger("bot.core.tracker").exception("couldn't reply with %s", BOT_TOKEN)
    text = output.getvalue()
    assert_clean(text)
    assert "Traceback" in text and "RuntimeError" in text


def test_payload_dumps_headers_and_stacks(output: io.StringIO) -> None:
    log = logging.getLogger("anything")
    log.info("payload %r", {"id": "1", "token": OTHER_TOKEN, "type": 2})
    log.info('raw {"token": "%s"}', OTHER_TOKEN)
    log.warning("headers %s", {"Authorization": f"Bot {BOT_TOKEN}"})
    log.warning("headers Authorization: Bearer %s", OTHER_TOKEN)
    log.error("webhook at /musicgpt/%s/12", SECRET, stack_info=True)
    text = output.getvalue()
    assert_clean(text)
    assert text.count(REDACTED) >= 5


def test_a_bad_format_string_is_still_redacted(output: io.StringIO) -> None:
    logging.getLogger("x").info("%s and %s", TOKEN)  # one argument short
    assert_clean(output.getvalue())


def test_short_values_are_not_secrets() -> None:
    redactor = Redactor()
    redactor.add_secret("-", "", None, "abc")
    assert redactor.redact("a-b abc") == "a-b abc"


def test_configure_logging_puts_the_redactor_on_the_root_handler(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("DEBUG", BOT_TOKEN, MG_KEY)
        logs.REDACTOR.add_secret(SECRET)
        logging.getLogger("discord.webhook.async_").debug(
            "Webhook ID %s with %s %s has returned status code %s",
            42,
            "POST",
            f"https://discord.com/api/v10/webhooks/42/{OTHER_TOKEN}?wait=1",
            200,
        )
        logging.getLogger("bot").info("keys %s %s %s", BOT_TOKEN, MG_KEY, SECRET)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert_clean(capsys.readouterr().err)


def test_a_failure_at_start_is_logged_redacted(tmp_path: Path) -> None:
    """The line that stops the bot goes through logging too: here the database path (shown
    in the line) happens to hold the MusicGPT key."""
    key = "mg-key-in-a-path-0123456789"
    result = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,  # no .env there
        env={
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT),
            "DISCORD_TOKEN": BOT_TOKEN,
            "MUSICGPT_API_KEY": key,
            "DATABASE_PATH": f"/dev/null/{key}/bot.sqlite3",  # can't be made: the run stops
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "DATABASE_PATH" in output and "Traceback" not in output
    assert key not in output and f"/dev/null/{REDACTED}/bot.sqlite3" in output
