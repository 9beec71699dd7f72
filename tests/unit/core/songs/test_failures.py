"""A failure's reason is stored in English with the song and said in the reader's language
when it is shown: mine by the catalogs, MusicGPT's words kept inside my translated sentence,
anything else (an older version's wording, MusicGPT's alone) as it is."""

from __future__ import annotations

import dataclasses

import pytest

from bot.core.errors import MusicGPTOutOfCredits, MusicGPTValidationError
from bot.core.models import TaskStatus
from bot.core.songs import failures
from bot.core.songs.failures import said_again
from bot.core.songs.progress import failure_text
from bot.core.tracker.dispatch import failure_message_for
from bot.core.wording import count
from tests.unit.core.songs.test_progress import BASE


def test_my_own_failures_are_said_in_the_readers_language() -> None:
    assert said_again(failures.GAVE_UP, None) == failures.GAVE_UP
    assert said_again(failures.GAVE_UP, "ko") == failures.GAVE_UP
    assert said_again(failures.GAVE_UP, "pt-BR").startswith("A música estava pronta")
    refused = failure_message_for(MusicGPTOutOfCredits("402"))
    assert said_again(refused, "de") == (
        "Mein MusicGPT-Konto hat keine Credits mehr. Sag bitte dem Serverbesitzer Bescheid."
    )


def test_musicgpts_words_stay_as_it_wrote_them_inside_my_sentence() -> None:
    stored = failure_message_for(MusicGPTValidationError("Lyrics contain a blocked word"))
    assert stored == (
        "MusicGPT refused this song: Lyrics contain a blocked word. Change what you asked for "
        "and try again."
    )
    assert said_again(stored, "es-ES") == (
        "MusicGPT rechazó esta canción: Lyrics contain a blocked word. Cambia lo que pediste e "
        "inténtalo de nuevo."
    )
    made = failures.FAILED_WITH_WORDS.format(why="Audio too quiet.")
    assert said_again(made, "fr") == (
        "MusicGPT n'a pas pu faire cette chanson : Audio too quiet. Réessaie, s'il te plaît."
    )


@pytest.mark.parametrize("minutes", [1, 30])
def test_the_pollers_give_up_reads_back_with_its_count(minutes: int) -> None:
    # As the poller wrote it before it said it through the catalogs: the same English.
    english = (
        f"MusicGPT didn't finish this within {count(minutes, 'minute')} of its estimate, so I "
        "gave up waiting. Please try again."
    )
    assert failures.gave_up_waiting(minutes) == english
    assert said_again(english, None) == english
    assert said_again(english, "ja") == failures.gave_up_waiting(minutes, "ja")
    assert f"{minutes} 分" in said_again(english, "ja")


def test_anything_else_is_shown_as_it_is() -> None:
    for text in ("Upstream exploded {badly}", "Your generation was refunded. Odd."):
        assert said_again(text, "es-ES") == text


def test_a_failed_songs_status_says_it_in_the_servers_language() -> None:
    failed = dataclasses.replace(
        BASE, status=TaskStatus.FAILED, error=failures.NOT_ALLOWED, quota_refunded=True
    )
    assert failure_text(failed, None) == (
        f"{failures.NOT_ALLOWED} It doesn't count against your daily quota."
    )
    assert failure_text(failed, "es-ES") == (
        "La canción estaba lista, pero no tengo permiso para publicar en ese canal. Pide a un "
        "moderador que me deje publicar ahí e inténtalo de nuevo. No cuenta para tu cuota diaria."
    )
