"""A form's own words (title, labels, descriptions, placeholders, choices) in the member's
language: `SongForm.localize`, which the song's door calls before showing a form.

The forms are written in English (marked `N_`, so `make messages` finds them); English
stays exactly as written, and what was typed or prefilled is never touched, nor a title
with no translation (one that names a song).
"""

from __future__ import annotations

import discord

from bot.core.i18n import LocaleLike, translation_or_none

TITLE_MAX = 45  # Discord's limit for a form's title


def localize(form: discord.ui.Modal, locale: LocaleLike) -> None:
    """Every word of `form` in the locale's language, where its catalog has it."""

    def said(text: str | None) -> str | None:
        return text and (translation_or_none(locale, text) or text)

    form.title = (said(form.title) or form.title)[:TITLE_MAX]
    for item in form.children:
        if not isinstance(item, discord.ui.Label):
            continue
        item.text = said(item.text) or item.text
        item.description = said(item.description)
        component = item.component
        if isinstance(component, discord.ui.TextInput | discord.ui.Select):
            component.placeholder = said(component.placeholder)
        if isinstance(component, discord.ui.Select):
            for option in component.options:
                option.label = said(option.label) or option.label
