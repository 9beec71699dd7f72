"""One voice: I speak as "I", a request is a "song" made as "takes", every refusal is a sentence,
and no sentence is said twice in one message.

Checked mechanically where it can be: the registered commands' descriptions, the /help text,
the known message constants, and every refusal raised in bot/ and cogs/ (read from the source,
so a new one can't slip past unlisted).
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest
from discord import app_commands

from bot.core import errors, timecodes
from bot.core.errors import (
    DiskFull,
    MusicGPTConfigurationError,
    MusicGPTError,
    MusicGPTOutOfCredits,
    MusicGPTSubmitUncertain,
    MusicGPTUnavailable,
    MusicGPTValidationError,
    sentence,
)
from bot.core.media import download, inspect, names, probe, spool, waveform
from bot.core.models import QuotaLimits, QuotaRefusal, QuotaUsage, TaskStatus
from bot.core.servers import settings_text
from bot.core.songs import (
    actions,
    blocked_words,
    budget,
    forms,
    history,
    intake,
    notify,
    queue,
    song_card,
    votes,
)
from bot.core.songs.failures import GAVE_UP, RESTARTED_MID_SUBMIT
from bot.core.songs.progress import (
    CANCELLED_BY_STAGE,
    FAILED_UNSAID,
    REFUNDED,
    TAKES_DELETED,
    failure_text,
    status_view,
)
from bot.core.songs.quota import quota_lines, refusal_message
from bot.core.tracker.dispatch import failure_message_for
from bot.discord import tree
from bot.discord.options import in_a_server
from bot.discord.songs import door
from bot.discord.songs import poster as delivery
from bot.discord.ui import modals
from cogs import context, help
from cogs import usage as cogs_usage
from tests.unit.core.songs.test_progress import BASE
from tests.unit.registered import command_dicts, flattened, registered_tree

ROOT = Path(__file__).resolve().parents[2]
# Words for the same thing that members no longer read: the unit is a "song", made as "takes".
OTHER_VOICE = re.compile(r"\bthe bot\b|\bgenerations?\b|\bversions?\b|\brequests?\b", re.I)
ENDS = errors.SENTENCE_ENDS


def voice_problems(text: str) -> list[str]:
    return [f"says {m.group(0)!r}" for m in OTHER_VOICE.finditer(text)]


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


SUBMIT_FAILURES: list[Exception] = [
    MusicGPTValidationError(""),
    MusicGPTValidationError("Lyrics contain a blocked word"),
    MusicGPTOutOfCredits("MusicGPT account is out of credits"),
    MusicGPTConfigurationError("401"),
    MusicGPTSubmitUncertain("maybe"),
    MusicGPTUnavailable("503"),
    MusicGPTError("odd"),
]
NOW = 1_700_000_000.0
LIMITS = QuotaLimits(daily=5, active=2)


def known_messages() -> dict[str, str]:
    """Every fixed member-facing text, by where it lives."""
    messages = {
        "DiskFull": DiskFull.MESSAGE,
        "tree.UNEXPECTED": tree.UNEXPECTED,
        "tree.NO_DMS": tree.NO_DMS,
        "forms.REPLACED": forms.REPLACED.format(command="sing"),
        "forms.EXPIRED": forms.EXPIRED,
        "forms.ALREADY_SENT": forms.ALREADY_SENT,
        "spool.SPOOL_FULL": spool.SPOOL_FULL,
        "RESTARTED_MID_SUBMIT": RESTARTED_MID_SUBMIT,
        "GAVE_UP": GAVE_UP,
        "delivery.NOT_ALLOWED": delivery.NOT_ALLOWED,
        "progress.REFUNDED": REFUNDED,
        "progress.FAILED_UNSAID": FAILED_UNSAID,
        "download._BAD_URL": download._BAD_URL,
        "download._NOT_DISCORD": download._NOT_DISCORD,
        "inspect._EMPTY": inspect._EMPTY,
        "probe.DAMAGED": probe.DAMAGED,
        "names.send_hint": names.send_hint(),
        "help.INTRO": help.INTRO,
        "help.EXAMPLE": help.EXAMPLE,
        "help.ON_A_SONG": help.ON_A_SONG.format(**help.button_names()),
        "help.DOCS": help.DOCS,
        **{f"inspect._FAILED[{k}]": v for k, v in inspect._FAILED.items()},
        "history.NOTHING_YET": history.NOTHING_YET,
        "waveform._DAMAGED": waveform._DAMAGED,
        **{f"waveform._FAILED[{k}]": v for k, v in waveform._FAILED.items()},
        **{f"submit failure {e!r}": failure_message_for(e) for e in SUBMIT_FAILURES},
        "quota daily": refusal_message(QuotaRefusal("daily", QuotaUsage(5, 0)), LIMITS, NOW),
        "quota active": refusal_message(QuotaRefusal("active", QuotaUsage(1, 2)), LIMITS, NOW),
    }
    messages["notify.NOTIFY_ON"] = notify.NOTIFY_ON
    messages["notify.NOTIFY_OFF"] = notify.NOTIFY_OFF
    messages["notify.DMS_CLOSED"] = notify.DMS_CLOSED
    messages["budget reached"] = budget.refusal(budget.Spend(12.5, 10), NOW)
    messages["blocked word"] = blocked_words.REFUSAL.format(word="bad", where="lyrics")
    messages["/usage refused"] = cogs_usage.NOT_ALLOWED
    messages["timecodes.NO_LENGTH"] = str(timecodes.NO_LENGTH)
    messages["modals.EXTEND_EXPIRED"] = modals.EXTEND_EXPIRED
    try:
        timecodes.extend_point(95, 90)
    except timecodes.BadTime as past:
        messages["extend past the end"] = past.user_message
    # Issue 20's answers: the private answer, Edit and retry, Try again, Lyrics, Delete.
    messages["door.RETRY_EXPIRED"] = door.RETRY_EXPIRED
    messages["door.RETRY_NOT_YOURS"] = door.RETRY_NOT_YOURS
    messages["door.CANCELLED_ANSWER"] = door.CANCELLED_ANSWER.format(song="Song #12")[2:]
    messages["actions.NOT_FAILED"] = actions.NOT_FAILED.format(song="Song #12")
    messages["actions.NO_LYRICS"] = actions.NO_LYRICS.format(song="Song #12")
    messages["actions.DELETED"] = actions.deleted_text(12)
    messages["progress.TAKES_DELETED"] = TAKES_DELETED.removeprefix("🗑️ ")
    messages["queue.EMPTY"] = queue.EMPTY
    messages["queue.CANCEL_HINT"] = queue.CANCEL_HINT
    messages["queue.OWN_CANCEL_HINT"] = queue.OWN_CANCEL_HINT
    messages["actions.CANCELLED_FOR"] = actions.cancelled_for_text(BASE)
    messages["progress.CANCELLED_BY_STAGE"] = CANCELLED_BY_STAGE.removeprefix("🚫 ")
    messages["settings_text.UNKNOWN_ROLE"] = settings_text.UNKNOWN_ROLE.format(role_id=5)
    messages["settings_text.BAD_ROLE_ID"] = settings_text.BAD_ROLE_ID
    messages["settings_text.BOTH_ROLES"] = settings_text.BOTH_ROLES
    messages["/song not found"] = song_card.not_found(7)
    for take, takes, voted in ((1, 1, True), (2, 2, True), (2, 2, False)):
        messages[f"vote {take}/{takes} {voted}"] = votes.vote_answer(take, takes, voted)
    for n, line in enumerate(quota_lines(QuotaUsage(1, 1), LIMITS, "resets at 00:00 UTC")):
        messages[f"/quota line {n}"] = line
    return messages


@pytest.mark.parametrize(("where", "text"), known_messages().items())
def test_every_known_message_is_in_the_one_voice(where: str, text: str) -> None:
    assert not voice_problems(text), (where, text)
    assert text.endswith(ENDS), f"{where} is not a sentence: {text!r}"
    assert text[:1].isupper() or text[:1] in "`/", f"{where} starts oddly: {text!r}"


async def test_command_and_option_descriptions_are_in_the_one_voice() -> None:
    async with registered_tree() as registered:
        described = flattened(command_dicts(registered))
    assert {c["name"] for c in described} == {
        "sing",
        "inpaint",
        "extend",
        "quota",
        "history",
        "queue",
        "help",
        "notify",
        *(f"settings {sub}" for sub in ("view", "quota", "budget", "words", "threads", "language")),
        "usage",
        "song",
    }
    for command in described:
        assert not voice_problems(command["description"]), command["description"]
        assert command["description"].endswith("."), command["description"]
        for option in command["options"]:
            assert not voice_problems(option["description"]), (command["name"], option)
            assert len(option["description"]) <= 100


async def test_the_prompt_limit_is_on_the_option() -> None:
    async with registered_tree() as registered:
        described = {c["name"]: c for c in command_dicts(registered)}
    for name in ("sing", "inpaint", "extend"):
        [prompt] = [o for o in described[name]["options"] if o["name"] == "prompt"]
        assert (prompt["min_length"], prompt["max_length"]) == (1, intake.PROMPT_MAX)


async def test_song_commands_are_for_servers_and_the_others_work_in_dms() -> None:
    async with registered_tree() as registered:
        described = {c["name"]: c for c in command_dicts(registered)}
    guild, bot_dm = 0, 1
    assert described["sing"]["contexts"] == [guild]
    assert described["inpaint"]["contexts"] == [guild]
    assert described["extend"]["contexts"] == [guild]
    assert described["song"]["contexts"] == [guild]
    assert described["quota"]["contexts"] == [guild, bot_dm]
    assert described["help"]["contexts"] == [guild, bot_dm]
    assert described["history"]["contexts"] == [guild, bot_dm]
    assert described["notify"]["contexts"] == [guild, bot_dm]
    assert described["queue"]["contexts"] == [guild]  # a server's line
    # For the server's managers: Manage Server (32) by default, in servers only.
    assert described["usage"]["contexts"] == [guild]
    assert str(described["usage"]["default_member_permissions"]) == "32"


def test_a_song_command_from_a_dm_is_refused_in_words() -> None:
    dm, server = MagicMock(guild_id=None), MagicMock(guild_id=123)
    with pytest.raises(app_commands.NoPrivateMessage) as caught:
        in_a_server(dm)
    assert tree.user_message_for(caught.value) == tree.NO_DMS
    assert in_a_server(server)


async def test_help_is_one_screen_in_the_one_voice() -> None:
    """What I do in two lines, an example, every command in one list, the buttons and menus,
    the quota and where the details are: under 1,000 characters with the longest quota lines.
    Options are Discord's to show while typing (and docs/commands.md's), not repeated here."""
    async with registered_tree() as registered:
        listed = [
            c
            for c in registered.get_commands()
            if isinstance(c, app_commands.Command | app_commands.Group)
        ]
    # The message menus join the tree when their cog loads (cogs.context), not here.
    quota = quota_lines(
        QuotaUsage(9999, 9999), QuotaLimits(9999, 9999), "resets at 00:00 UTC (in 23 h 59 min)"
    )
    text = help.help_text(listed, [context.SING_OVER, context.REWRITE_PART], quota)
    assert not voice_problems(text), text
    assert len(text) <= help.HELP_LIMIT, len(text)
    assert len(help.INTRO.splitlines()) == 2
    assert "`/sing prompt: warm soul vocal audio: beat.mp3`" in text
    everyone, managers = help.command_list(listed)
    for command in listed:
        assert f"`/{command.name}`" in (managers if help.for_managers(command) else everyone)
    assert "`/queue`" in everyone and "`/settings` · `/usage`" in managers
    assert "Apps → Sing over this or Rewrite part of this." in text
    assert (
        "**On a song:** Rewrite, Extend, 👍, Again, Again with changes, Lyrics and Delete under "
        "its takes; Cancel while it waits, Try again if it failed."
    ) in text
    assert "docs/commands.md" in text
    assert "`[audio]`" not in text  # the options are Discord's to show


FAILURE_TEXTS = [
    *(failure_message_for(e) for e in SUBMIT_FAILURES),
    RESTARTED_MID_SUBMIT,
    GAVE_UP,
    delivery.NOT_ALLOWED,
    # Error texts that carry the refund themselves (stored by earlier versions, or new).
    "The song was ready, but I couldn't post it to this channel. Your generation was refunded.",
    f"{GAVE_UP} {REFUNDED}",
    "",
]


@pytest.mark.parametrize("error", FAILURE_TEXTS)
@pytest.mark.parametrize("refunded", [True, False])
def test_a_failed_song_says_each_sentence_once(error: str, refunded: bool) -> None:
    task = dataclasses.replace(BASE, status=TaskStatus.FAILED, error=error, quota_refunded=refunded)
    for shown in (status_view(task, 0, NOW).stage, failure_text(task)):
        said = sentences(shown.removeprefix("❌ "))
        assert len(said) == len(set(said)), shown
        assert shown.count(REFUNDED) == (1 if refunded else 0), shown
        assert not voice_problems(shown), shown


def test_musicgpt_refusal_reads_naturally_with_or_without_its_text() -> None:
    bare = failure_message_for(MusicGPTValidationError(""))
    told = failure_message_for(MusicGPTValidationError("Lyrics contain a blocked word"))
    assert bare == "MusicGPT refused this song. Change what you asked for and try again."
    assert told == (
        "MusicGPT refused this song: Lyrics contain a blocked word. "
        "Change what you asked for and try again."
    )
    assert sentence("Already done!") == "Already done!" and sentence(" x ") == "x."


# --- every refusal raised in the code ------------------------------------------------------

REFUSALS = {
    "UserFacingError",
    "QuotaExceeded",
    "AudioRejected",
    "MusicGPTValidationError",
    "PermanentDeliveryError",
    "FormClosed",
    "SpoolFull",
    "DiskFull",
    "DownloadFailed",
    "BadTime",
    "refused",  # bot.core.media.probe: a verdict's refusal
}
SOURCES = sorted([*(ROOT / "bot").rglob("*.py"), *(ROOT / "cogs").glob("*.py")])


def _constants(module: ast.Module) -> dict[str, ast.expr]:
    found: dict[str, ast.expr] = {}
    for node in module.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node.value
    return found


def _ending(node: ast.expr, constants: dict[str, ast.expr]) -> tuple[str, str] | None:
    """(the whole literal text, its last literal piece) of a message argument, or None when
    it can't be read from the source (a variable, a call)."""
    if isinstance(node, ast.Name) and node.id in constants:
        return _ending(constants[node.id], constants)
    if (  # said("…", …), N_("…"): the English of a sentence translated later
        isinstance(node, ast.Call)
        and getattr(node.func, "id", None) in ("said", "said_n", "N_")
        and node.args
    ):
        read = _ending(node.args[0], constants)
        if read is None:
            return None
        # Like an f-string's: the literal text after its last `{placeholder}`.
        return read[0], re.split(r"\{[a-z_]+\}", read[1])[-1]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"  # REPLACED.format(...)
    ):
        return _ending(node.func.value, constants)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value, node.value
    if isinstance(node, ast.JoinedStr):
        pieces = [v.value for v in node.values if isinstance(v, ast.Constant)]
        last = node.values[-1] if node.values else None
        tail = last.value if isinstance(last, ast.Constant) else ""
        return "".join(str(p) for p in pieces), str(tail)
    return None


def refusal_sites() -> list[tuple[str, str, str]]:
    """(where, literal text, last literal piece) of every refusal built in bot/ and cogs/."""
    sites = []
    for path in SOURCES:
        module = ast.parse(path.read_text())
        constants = _constants(module)
        for node in ast.walk(module):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name not in REFUSALS:
                continue
            read = _ending(node.args[0], constants)
            if read is not None:
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                sites.append((where, *read))
    return sites


def test_the_source_scan_finds_the_refusals() -> None:
    where = {site.split(":")[0] for site, _, _ in refusal_sites()}
    assert {
        "bot/core/songs/intake.py",
        "bot/core/media/download.py",
        "bot/core/timecodes.py",
    } <= where
    # (The poster's refusal is a sentence of bot/core/songs/failures.py now, in known_messages.)
    assert {"bot/core/media/probe.py"} <= where
    assert len(refusal_sites()) >= 25


@pytest.mark.parametrize(("where", "text", "tail"), refusal_sites())
def test_every_refusal_in_the_code_is_a_sentence_in_the_one_voice(
    where: str, text: str, tail: str
) -> None:
    assert not voice_problems(text), (where, text)
    # A message that ends with an interpolation ends with a sentence of its own (a hint, the
    # first refusal repeated); one that ends in literal text ends that text with a full stop.
    if tail:
        assert tail.endswith(ENDS), f"{where}: not a sentence: {text!r}"


def test_refusing_before_the_form_names_what_the_file_is() -> None:
    hint = names.send_hint()
    cases: list[tuple[str, Any, str | None]] = [
        ("cover.png", "image/png", f"That file is a PNG image, not audio. {hint}"),
        ("scan", "application/pdf", f"That file is a PDF document, not audio. {hint}"),
        ("notes.txt", "text/plain; charset=utf-8", f"That file is a text file, not audio. {hint}"),
        ("beats.zip", None, f"That file is a ZIP archive, not audio. {hint}"),
        (
            "setup.exe",
            "application/octet-stream",
            f"That file is a Windows program, not audio. {hint}",
        ),
        # Not plainly not audio: FFmpeg judges these (a video's sound track is used).
        ("clip.mp4", "video/mp4", None),
        ("take.webm", "video/webm", None),
        ("song.mp3", "image/png", None),  # the name says audio: let the content decide
        ("cover.png", "audio/mpeg", None),
        ("song", None, None),
        ("song.bin", "application/octet-stream", None),
    ]
    for filename, content_type, expected in cases:
        refused = names.plainly_not_audio(filename, content_type)
        assert (None if refused is None else str(refused)) == expected, filename


async def test_settings_is_for_managers_of_a_server_only() -> None:
    async with registered_tree() as registered:
        described = {c["name"]: c for c in command_dicts(registered)}
    settings = described["settings"]
    assert settings["contexts"] == [0]  # server channels only
    assert int(settings["default_member_permissions"]) == 32  # Manage Server
    subs = {o["name"]: o for o in settings["options"]}
    assert list(subs) == ["view", "quota", "budget", "words", "threads", "language"]
    quota = {o["name"]: o for o in subs["quota"]["options"]}
    assert (quota["daily"]["min_value"], quota["active"]["min_value"]) == (0, 1)
    assert quota["role"]["type"] == 8 and not quota["role"].get("required")
    [credits] = subs["budget"]["options"]
    assert (credits["name"], credits["type"], credits["min_value"]) == ("credits", 10, 0)
    [mode] = subs["threads"]["options"]
    assert [c["value"] for c in mode["choices"]] == ["off", "optional", "always"]
    [language] = subs["language"]["options"]
    assert [c["value"] for c in language["choices"]] == [
        "auto",
        *("en", "es", "pt-BR", "de", "fr", "ja"),
    ]
