"""Download attachments safely, and check audio links that MusicGPT fetches itself.

A download is streamed to disk in chunks and stops as soon as it passes the size limit; what
was downloaded is then judged by `bot.core.media.inspect`. Nothing here knows about Discord.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Collection
from pathlib import Path
from typing import BinaryIO, Final
from urllib.parse import urljoin, urlsplit

import aiohttp

from bot.core.config import UrlOrigin, origin_of
from bot.core.errors import AudioRejected
from bot.core.i18n import N_
from bot.core.i18n.said import Said, said
from bot.core.media.inspect import describe_size, too_big

__all__ = ["DownloadFailed", "check_audio_url", "download_to_file"]

_BAD_URL: Final = N_(
    "`audio_url` must be an http or https link, like https://example.com/song.mp3."
)
_MAX_URL_LENGTH: Final = 2048
_NOT_DISCORD: Final = N_(
    "I couldn't download the attachment: it isn't on Discord's servers. Attach the file again."
)
# Why a download failed, each a whole sentence (a reason joined into one wouldn't translate).
_HTTP_FAILED: Final = N_("I couldn't download the attachment (HTTP {status}). Please try again.")
_TIMED_OUT: Final = N_("I couldn't download the attachment: it timed out. Please try again.")
_TOO_MANY_REDIRECTS: Final = N_(
    "I couldn't download the attachment: too many redirects. Please try again."
)
_INVALID_LINK: Final = N_(
    "I couldn't download the attachment: the link is invalid. Please try again."
)
_NO_CONNECTION: Final = N_(
    "I couldn't download the attachment: couldn't connect to the server. Please try again."
)
_CUT_OFF: Final = N_(
    "I couldn't download the attachment: the connection was cut off. Please try again."
)
_NETWORK: Final = N_("I couldn't download the attachment: a network error. Please try again.")
_MAX_REDIRECTS: Final = 3
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
FILE_MODE: Final = 0o600  # audio and outputs are members' files: readable by the bot alone
DIR_MODE: Final = 0o700


class DownloadFailed(AudioRejected):
    """The server or the network failed us (not the file's fault): worth another try."""


def check_audio_url(url: str) -> str:
    """Return `url` stripped if it is an http(s) link with a host; raise AudioRejected if not.

    MusicGPT fetches this URL itself, so all we guard against is something that can't be a
    download link at all (ftp:, javascript:, a bare word, a URL with spaces in it).
    """
    url = url.strip()
    if len(url) > _MAX_URL_LENGTH:
        raise AudioRejected(
            said(
                "`audio_url` is too long; a link can be at most {limit} characters.",
                limit=_MAX_URL_LENGTH,
            )
        )
    # Whitespace or control characters inside a URL mean it was pasted wrong (or is a trick);
    # urlsplit would quietly accept them.
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise AudioRejected(said(_BAD_URL))
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a malformed or out-of-range port
    except ValueError:
        raise AudioRejected(said(_BAD_URL)) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise AudioRejected(said(_BAD_URL))
    return url


async def download_to_file(
    session: aiohttp.ClientSession,
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    chunk_size: int = 64 * 1024,
    allowed_origins: Collection[UrlOrigin] | None = None,
) -> int:
    """Stream `url` into `dest` and return the number of bytes written.

    With `allowed_origins`, `url` and every redirect must stay on those (scheme, host, port)
    origins: an attachment link can't lead the bot to loopback or anywhere else.

    The body is never held in memory whole, and the download stops as soon as it passes
    `max_bytes` (a Content-Length can lie or be missing, so the count is what decides). On any
    failure, cancellation included, the partial file is removed. HTTP and network failures
    become AudioRejected; a local disk error is ours and propagates as OSError.
    """
    written = 0
    f: BinaryIO | None = None
    try:
        async with _get(session, url, allowed_origins) as resp:
            if resp.status >= 400:
                reason = f" {resp.reason}" if resp.reason else ""
                raise DownloadFailed(said(_HTTP_FAILED, status=f"{resp.status}{reason}"))
            declared = resp.content_length
            if declared is not None and declared > max_bytes:
                raise too_big(declared, max_bytes)
            # Opened inline, not in a thread: a cancellation while a thread opened it would
            # lose the handle and leave an empty file behind. Opening is a metadata operation
            # on a local disk, not worth a thread hop.
            f = _open_for_writing(dest)
            async for chunk in resp.content.iter_chunked(chunk_size):
                written += len(chunk)
                if written > max_bytes:
                    raise AudioRejected(
                        said("That file is over the {limit} limit.", limit=describe_size(max_bytes))
                    )
                await asyncio.to_thread(f.write, chunk)
            await asyncio.to_thread(f.close)
    except AudioRejected:
        _discard(f, dest)
        raise
    except (aiohttp.ClientError, TimeoutError) as exc:
        _discard(f, dest)
        raise DownloadFailed(_network_failure(exc)) from exc
    except BaseException:
        _discard(f, dest)
        raise
    return written


@contextlib.asynccontextmanager
async def _get(
    session: aiohttp.ClientSession, url: str, allowed: Collection[UrlOrigin] | None
) -> AsyncIterator[aiohttp.ClientResponse]:
    """GET `url`; with `allowed`, redirects are followed by hand, and only within it."""
    if allowed is None:
        async with session.get(url) as resp:
            yield resp
        return
    for _ in range(_MAX_REDIRECTS + 1):
        if not _is_allowed(url, allowed):
            raise DownloadFailed(said(_NOT_DISCORD))
        async with session.get(url, allow_redirects=False) as resp:
            location = resp.headers.get("Location")
            if resp.status not in _REDIRECTS or not location:
                yield resp
                return
        url = urljoin(url, location)
    raise DownloadFailed(said(_TOO_MANY_REDIRECTS))


def _is_allowed(url: str, allowed: Collection[UrlOrigin]) -> bool:
    try:
        return origin_of(url) in allowed
    except ValueError:  # a malformed port
        return False


def _open_for_writing(dest: Path) -> BinaryIO:
    dest.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    # 0600 whatever the umask, and also when the file was already there.
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return os.fdopen(fd, "wb")


def _discard(f: BinaryIO | None, dest: Path) -> None:
    # Synchronous on purpose: this also runs while a task is being cancelled, when awaiting a
    # thread is unreliable, and closing and unlinking one local file takes microseconds.
    if f is None:
        return  # we never created the file, so there's nothing of ours to remove
    with contextlib.suppress(OSError):
        f.close()
    with contextlib.suppress(OSError):
        dest.unlink(missing_ok=True)


def _network_failure(exc: BaseException) -> Said:
    """Why a download failed, in a few words, without URLs or internals."""
    if isinstance(exc, TimeoutError):
        return said(_TIMED_OUT)
    if isinstance(exc, aiohttp.TooManyRedirects):
        return said(_TOO_MANY_REDIRECTS)
    if isinstance(exc, aiohttp.InvalidURL):
        return said(_INVALID_LINK)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return said(_NO_CONNECTION)
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        return said(_CUT_OFF)
    if isinstance(exc, aiohttp.ClientResponseError):
        return said(_HTTP_FAILED, status=exc.status)
    return said(_NETWORK)
