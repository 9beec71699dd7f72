"""Logging set-up, and the filter that keeps tokens and secrets out of every log line.

discord.py logs each request's URL at DEBUG, and interaction replies go to
`/interactions/<id>/<token>/callback` and `/webhooks/<application id>/<token>/...`: a token
answers as the bot for 15 minutes, to anyone who reads the log. aiohttp's errors carry the URL
too, and so can any exception text. `Redactor` sits on the one handler every record reaches
(the root's; records from every logger propagate there) and rewrites each record, message,
arguments, traceback and stack, before anything formats it: Discord's token-carrying paths and
payload fields by shape, and the bot token, MusicGPT key and webhook secret by value.
"""

from __future__ import annotations

import logging
import re
import sys

REDACTED = "<redacted>"
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# Shorter values are not secrets worth a search through every line (and "-" would be found
# everywhere).
MIN_SECRET_LENGTH = 8

SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    # REST paths with an interaction or webhook token in them (URL-encoded or not).
    (re.compile(r"(/(?:interactions|webhooks)/\d+/)[^/\s?#'\"<>]+"), rf"\1{REDACTED}"),
    # An interaction token anywhere: they are base64 of "interaction:...".
    (re.compile(r"aW50ZXJhY3Rpb24[\w.\-]*"), REDACTED),
    # A "token" field of a payload dump, as JSON or as a Python repr.
    (re.compile(r"""(["']token["']\s*:\s*["'])[^"']*"""), rf"\1{REDACTED}"),
    # An Authorization header's value.
    (
        re.compile(r"""((?i:authorization)["']?\s*[:=]\s*["']?(?:Bot |Bearer )?)[^\s"',}]+"""),
        rf"\1{REDACTED}",
    ),
)


class Redactor(logging.Filter):
    """Rewrites records so no token or known secret survives into any output."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: list[str] = []
        self._formatter = logging.Formatter()

    def add_secret(self, *values: str | None) -> None:
        """Redact these exact values from now on (longest first, so none leaves a part)."""
        for value in values:
            if value and len(value) >= MIN_SECRET_LENGTH and value not in self._secrets:
                self._secrets.append(value)
        self._secrets.sort(key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        for pattern, replacement in SHAPES:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: still log it, still redacted
            message = f"{record.msg!s} {record.args!r}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            # Formatters use exc_text when it is set, so the traceback is formatted once, here.
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


# One per process, like logging itself: `__main__` adds the secrets as it learns them.
REDACTOR = Redactor()


def configure_logging(level: str, *secrets: str | None) -> None:
    """Log to stderr at `level`, every record through REDACTOR (with `secrets` to redact)."""
    REDACTOR.add_secret(*secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(REDACTOR)
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # discord.py's gateway chatter is noise at INFO.
    logging.getLogger("discord.gateway").setLevel(max(logging.WARNING, logging.getLevelName(level)))
