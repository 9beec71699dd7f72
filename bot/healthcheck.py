"""`python -m bot.healthcheck`: exit 0 when the running bot's /readyz says 200, else 1.

The container's health check (Dockerfile, compose.yaml). An exec-form HEALTHCHECK expands no
environment variables, so the port can't be written into the command: this reads
WEBHOOK_PORT (and WEBHOOK_HOST) from the environment the bot also got, with the bot's own
defaults. It asks the loopback address unless the bot was told to listen on one particular
address, since the receiver always listens there otherwise (127.0.0.1 when polling only,
every interface when PUBLIC_BASE_URL is set). It imports little beyond the standard library (the
settings' defaults, python-dotenv), so a check costs an interpreter start and one request,
not the bot's start-up.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping

from dotenv import find_dotenv, load_dotenv

from bot.core.config import Settings

TIMEOUT_SECONDS = 3.0  # within the HEALTHCHECK's --timeout=5s, so the answer is ours
PATH = "/readyz"
# Addresses that mean "every interface" (or this machine): the loopback reaches them all.
# asyncio listens on IPv6 addresses with IPV6_V6ONLY, so "::" needs the IPv6 loopback.
_LOOPBACK_FOR = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104


def _default_port() -> int:
    """The bot's default WEBHOOK_PORT, from Settings, so the two can't disagree."""
    [port] = [f.default for f in dataclasses.fields(Settings) if f.name == "webhook_port"]
    if not isinstance(port, int):
        raise TypeError("Settings.webhook_port has no whole-number default")
    return port


def readyz_url(env: Mapping[str, str]) -> str:
    """Where the bot configured by `env` answers /readyz; ValueError for a bad WEBHOOK_PORT."""
    raw_port = env.get("WEBHOOK_PORT", "").strip()
    if not raw_port:
        port = _default_port()
    elif raw_port.isascii() and raw_port.isdigit():
        port = int(raw_port)
    else:
        port = -1
    # 0 is valid for the bot (any free port) but can't be asked: nothing knows which one.
    if not 0 < port <= 65535:
        raise ValueError("WEBHOOK_PORT must be a port number between 1 and 65535")
    host = env.get("WEBHOOK_HOST", "").strip()
    host = _LOOPBACK_FOR.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}{PATH}"


def check(env: Mapping[str, str], timeout: float = TIMEOUT_SECONDS) -> tuple[bool, str]:
    """Whether the bot answers 200 on /readyz, and one line saying what was seen."""
    try:
        url = readyz_url(env)
    except ValueError as error:
        return False, f"unhealthy: {error}"
    try:
        # No proxy: an HTTP_PROXY set for the bot's outgoing calls must not carry a request
        # meant for the bot itself. The URL is built above: always plain http.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=timeout) as response:
            return response.status == 200, f"{url}: {response.status}"
    except urllib.error.HTTPError as error:  # a 503 names its failing checks in the body
        body = error.read(500).decode("utf-8", "replace").strip()
        return False, f"{url}: {error.code} {body}"
    except (OSError, ValueError) as error:  # refused, timed out, not HTTP at all
        return False, f"{url}: no answer ({error})"


def main() -> int:
    # Like `python -m bot`: a .env where it is run from, real environment variables winning
    # (the image has no .env; its variables come from --env-file or compose's env_file).
    load_dotenv(find_dotenv(usecwd=True))
    healthy, line = check(os.environ)
    print(line, file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
