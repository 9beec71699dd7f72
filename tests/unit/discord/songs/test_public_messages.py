"""The public status embed and result post with hostile input: the member's and MusicGPT's
text shows literally, the bot's markup is the only markup, nobody is pinged by surprise."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import discord

from bot.core.models import Output, TaskKind, TaskStatus
from bot.core.songs.outputs import Attachable
from bot.core.songs.progress import status_view
from bot.discord.songs.poster import _markers, delivery_marker, result_text
from bot.discord.ui.cards import REQUESTER_FIELD, status_embed
from tests.unit.core.songs.test_progress import BASE

EVIL_LINK = "[Download your song here](http://evil.example)"
HOSTILE_PROMPT = f"\u202eboom\u202c {EVIL_LINK} @everyone <@&5> # big" + "\u0336" * 80


def fields(embed: discord.Embed) -> dict[str, str]:
    return {str(f.name): str(f.value) for f in embed.fields}


def test_status_embed_shows_the_prompt_as_the_members_words() -> None:
    task = dataclasses.replace(
        BASE,
        kind=TaskKind.SING,
        user_id=4242,
        prompt=HOSTILE_PROMPT,
        audio_filename=None,
        audio_url="https://x.example/a.mp3?[click](http://evil)",
        error=None,
    )
    embed = status_embed(status_view(task, 1, 0))
    shown = fields(embed)
    assert shown[REQUESTER_FIELD] == "<@4242>"
    prompt = shown["Prompt"]
    assert "\u202e" not in prompt and "\u202c" not in prompt
    assert r"\[Download your song here\](http\://evil.example)" in prompt
    assert "@everyone" not in prompt and "\\<@&5\\>" in prompt
    assert prompt.count("\u0336") <= 4
    assert shown["Audio"] == r"https\://x.example/a.mp3?\[click\](http\://evil)"
    # The bot's own words are untouched.
    assert embed.title == "🎤 Singing over your instrumental · song #7"
    assert embed.description == "⏳ Waiting for a free MusicGPT slot (#1 in line)."


def test_a_failure_text_from_musicgpt_is_escaped_too() -> None:
    task = dataclasses.replace(
        BASE, status=TaskStatus.FAILED, error=f"MusicGPT failed: {EVIL_LINK}\n# owned"
    )
    description = status_embed(status_view(task, 0, 0)).description or ""
    assert description.startswith("❌ MusicGPT failed: \\[Download your song here\\]")
    assert "\n" not in description and "http://" not in description


def test_an_all_invisible_prompt_still_makes_a_valid_embed() -> None:
    task = dataclasses.replace(BASE, prompt="\u202e\u200b", audio_filename="\u2066")
    shown = fields(status_embed(status_view(task, 0, 0)))
    assert shown["Prompt"] and shown["Audio"]  # Discord refuses empty field values


def test_result_post_escapes_titles_and_encodes_links() -> None:
    task = dataclasses.replace(BASE, status=TaskStatus.DELIVERING, user_id=4242, cost=2)
    outputs = [
        Attachable(Output("https://cdn.example/1.mp3", title=f"**{EVIL_LINK}** @here"), None),
        Attachable(Output("https://cdn.example/2.mp3>[x](http://evil)", title=None), None),
        Attachable(Output("javascript:alert(1)", title="\u202egnp.exe"), Path("a.mp3")),
    ]
    text = result_text(task, outputs)
    lines = text.splitlines()
    assert lines[0] == "<@4242> your song is ready! (song #7)"
    assert lines[1].startswith(r"**1. \*\*\[Download your song here\](http\://evil.example)\*\*")
    assert "@here" not in lines[1]
    assert lines[1].endswith("download: <https://cdn.example/1.mp3>")
    assert lines[2].endswith("download: <https://cdn.example/2.mp3%3E[x](http://evil)>")
    assert "\u202e" not in lines[3] and "gnp.exe" in lines[3]
    assert "<@" not in "\n".join(lines[1:])


def test_the_cost_is_shown_publicly_only_with_show_cost() -> None:
    task = dataclasses.replace(BASE, status=TaskStatus.DELIVERING, cost=2.5)
    outputs = [Attachable(Output("https://cdn.example/1.mp3", title=None), Path("a.mp3"))]
    assert "Cost" not in result_text(task, outputs)
    assert "credits" not in result_text(task, outputs)
    assert result_text(task, outputs, show_cost=True).endswith("\nCost: 2.5 MusicGPT credits")
    assert "**1. Take 1**" in result_text(task, outputs)  # untitled: a take, by number
    unpriced = dataclasses.replace(task, cost=None)
    assert "Cost" not in result_text(unpriced, outputs, show_cost=True)


def test_a_restarted_bot_finds_its_posts_by_the_new_and_the_old_marker() -> None:
    task = dataclasses.replace(BASE, id=12)
    assert delivery_marker(task) == "(song #12)"
    assert _markers(task) == ("(song #12)", "(request #12)")
    assert not any(marker in "ready! (song #120)" for marker in _markers(task))
