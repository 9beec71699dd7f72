"""The playground page in headless Chromium: a member sings over a WAV, rewrites a take, and
a plain member is refused /settings, all through the page as a person would click it."""

from __future__ import annotations

from typing import Any

import pytest

from playground.browser import SLOW, Playground, chromium_missing, launch, run_command, sing
from tests.support.env import FIXTURES


def test_sing_then_rewrite_a_take(page: Any, playground: Playground) -> None:
    from playwright.sync_api import expect

    sing(page)
    expect(page.locator("#mg-sent")).not_to_have_text("0")  # webhooks on: it called back
    result = page.locator(".message", has_text="your song is ready").first
    for audio in result.locator("audio").all():
        assert (audio.get_attribute("src") or "").startswith("http://127.0.0.1:")

    result.get_by_role("button", name="Rewrite 1").click()
    modal = page.locator("#modal")
    expect(modal).to_be_visible(timeout=SLOW)
    modal.get_by_label("Start").fill("0.5")
    modal.get_by_label("End").fill("1.5")
    modal.get_by_label("Style").fill("gospel choir")
    page.locator("#modal-submit").click()
    derived = page.locator(".message", has_text="Rewrite of #")
    expect(derived).to_have_count(1, timeout=SLOW)
    expect(derived.locator("audio").first).to_be_attached()


def test_settings_is_not_offered_to_a_plain_member(page: Any, playground: Playground) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#command option", has_text="/settings view")).to_have_count(1)
    bob = page.locator("#member option", has_text="bob").get_attribute("value")
    page.locator("#member").select_option(bob)
    run_command(page, "settings view")
    notice = page.locator("#notice")
    # In words, as Discord's settings name the permission: never "bob lacks 32".
    expect(notice).to_contain_text("bob can't use /settings: it needs Manage Server")
    expect(notice).to_contain_text("Discord doesn't offer it to them")
    expect(page.locator(".message")).to_have_count(0)
    # The owner is offered it and gets the server's settings.
    page.locator("#member").select_option(index=0)
    run_command(page, "settings view")
    expect(page.locator(".message.ephemeral")).to_have_count(1, timeout=SLOW)


def test_ctrl_c_stops_the_playground(playground: Playground) -> None:
    assert playground.stop() == 0
    assert "stopped" in playground.log.read_text()


def test_a_member_message_is_escaped_and_sung_over_from_its_menu(page: Any) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#command option", has_text="/sing")).to_have_count(1)
    page.locator("#say").fill("<b>not bold</b> **bold** here")
    page.locator("#say-file").set_input_files(str(FIXTURES / "tone.wav"))
    page.locator("#send").click()
    posted = page.locator(".message", has_text="not bold")
    expect(posted.locator(".content")).to_contain_text("<b>not bold</b>")
    expect(posted.locator(".content b")).to_have_count(0)
    expect(posted.locator(".content strong")).to_have_text("bold")
    expect(posted.locator("audio")).to_have_count(1)

    posted.locator("select.apps").select_option("Sing over this")
    modal = page.locator("#modal")
    expect(modal).to_be_visible(timeout=SLOW)
    modal.get_by_label("Style").fill("airy pop vocal")
    modal.get_by_label("Lyrics").fill("over the tone")
    page.locator("#modal-submit").click()
    status = page.locator(".embed", has_text="Singing over your instrumental")
    expect(status).to_contain_text("Posted 2 takes", timeout=SLOW)


def test_the_fail_knob_fails_the_next_song(page: Any) -> None:
    from playwright.sync_api import expect

    page.locator("#mg-fail").click()
    expect(page.locator("#mg-note")).to_contain_text("1 task(s) will fail")
    run_command(page, "sing", prompt="warm soul vocal", audio=str(FIXTURES / "tone.wav"))
    expect(page.locator("#modal")).to_be_visible()
    page.locator("#modal").get_by_label("Lyrics").first.fill("la la la")
    page.locator("#modal-submit").click()
    status = page.locator(".embed", has_text="Singing over your instrumental")
    expect(status).to_contain_text("❌", timeout=SLOW)
    expect(page.locator("#mg-note")).to_have_text("")


def test_a_song_in_its_own_thread_and_a_dm_copy(page: Any) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#command option", has_text="/notify")).to_have_count(1)
    run_command(page, "notify", dm="true")
    expect(page.locator(".message.ephemeral")).to_have_count(1, timeout=SLOW)
    run_command(
        page, "sing", prompt="warm soul vocal", audio=str(FIXTURES / "tone.wav"), thread="true"
    )
    expect(page.locator("#modal")).to_be_visible()
    page.locator("#modal").get_by_label("Lyrics").first.fill("la la la")
    page.locator("#modal-submit").click()
    thread = page.locator("#channels li.thread")
    expect(thread).to_have_count(1, timeout=SLOW)
    thread.click()
    expect(page.locator("#channels li.thread.active")).to_have_count(1)
    result = page.locator(".message", has_text="your song is ready")
    expect(result.locator("audio")).to_have_count(2, timeout=SLOW)

    page.locator("#channels li.dm").click()
    expect(page.locator("#channel-title")).to_have_text("DM with the bot")
    expect(page.locator("#messages audio").first).to_be_attached(timeout=SLOW)


def test_without_webhooks_the_bot_polls_for_the_song(page: Any) -> None:
    from playwright.sync_api import expect

    page.locator("#mg-webhooks").uncheck()
    expect(page.locator("#mg-webhooks")).not_to_be_checked()
    sing(page)
    # Posted through polling alone: MusicGPT called nobody back.
    expect(page.locator("#mg-sent")).to_have_text("0")
    page.locator("#mg-webhooks").check()
    expect(page.locator("#mg-webhooks")).to_be_checked()


def test_a_first_visit_says_what_to_try_and_forms_show_their_hints(page: Any) -> None:
    from playwright.sync_api import expect

    welcome = page.locator("#welcome")
    expect(welcome).to_be_visible()
    expect(welcome).to_contain_text("/sing in the command bar")
    expect(welcome).to_contain_text("Rewrite")
    # The form shows the bot's placeholders, as Discord does inside an empty input.
    run_command(page, "sing", prompt="warm soul vocal", audio=str(FIXTURES / "tone.wav"))
    lyrics = page.locator("#modal").get_by_label("Lyrics").first
    expect(lyrics).to_have_attribute("placeholder", "The words to sing over your instrumental")
    page.locator("#modal-cancel").click()
    # Once the channel has something in it, the hint steps aside.
    page.locator("#say").fill("hello")
    page.locator("#send").click()
    expect(page.locator(".message", has_text="hello")).to_have_count(1)
    expect(welcome).to_be_hidden()


def test_emoji_are_drawn_in_colour() -> None:
    """The bot's 🎤 and ❌ need a colour emoji font (fonts-noto-color-emoji): without one,
    Chromium draws an empty box in the text colour."""
    reason = chromium_missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    script = """(text) => {
        const canvas = document.createElement("canvas");
        canvas.width = canvas.height = 64;
        const g = canvas.getContext("2d");
        g.font = "48px sans-serif";
        g.fillStyle = "#000";
        g.textBaseline = "top";
        g.fillText(text, 4, 4);
        const px = g.getImageData(0, 0, 64, 64).data;
        let coloured = 0;
        for (let i = 0; i < px.length; i += 4) {
            if (px[i + 3] > 0 && Math.max(px[i], px[i + 1], px[i + 2]) > 60) coloured++;
        }
        return coloured;
    }"""
    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            tab = browser.new_page()
            for emoji in ("🎤", "❌"):
                assert tab.evaluate(script, emoji) > 50, f"{emoji} is drawn without colour"
        finally:
            browser.close()


def test_votes_extend_and_song_from_the_page(page: Any) -> None:
    """Issue 22 on the page: a result's 👍 counts a click and marks the leader green, its
    Extend opens the form and makes an extension, /extend and /song run from the command
    bar (/song's number as an integer)."""
    from playwright.sync_api import expect

    sing(page)
    result = page.locator(".message", has_text="your song is ready").first
    expect(result.get_by_role("button", name="Extend 1")).to_have_count(1)
    expect(result.get_by_role("button", name="Extend 2")).to_have_count(1)
    result.get_by_role("button", name="Take 2 · 👍 0").click()
    leader = result.get_by_role("button", name="Take 2 · 👍 1")
    expect(leader).to_have_count(1, timeout=SLOW)
    expect(leader).to_have_class("style-3")  # the leading take, green as on Discord
    expect(result.get_by_role("button", name="Take 1 · 👍 0")).to_have_count(1)

    result.get_by_role("button", name="Extend 1").click()
    modal = page.locator("#modal")
    expect(modal).to_be_visible(timeout=SLOW)
    modal.get_by_label("Style").fill("a bright chorus")
    page.locator("#modal-submit").click()
    extension = page.locator(".message", has_text="Extension of #")
    expect(extension.locator("audio").first).to_be_attached(timeout=SLOW)

    run_command(page, "extend", prompt="one more verse", audio=str(FIXTURES / "tone.wav"))
    expect(modal).to_be_visible(timeout=SLOW)
    page.locator("#modal-submit").click()
    status = page.locator(".embed", has_text="one more verse")
    expect(status).to_contain_text("Posted 2 takes", timeout=SLOW)

    run_command(page, "song", number="1")
    card = page.locator(".message.ephemeral", has_text="Song #1 ·")
    expect(card).to_contain_text("👍 1", timeout=SLOW)
    expect(card).to_contain_text("#2")  # the extension, in its family tree


def test_a_moderator_cancels_a_waiting_song_from_the_queue_menu(page: Any) -> None:
    """/queue's select menu works on the page: carol (a moderator) picks alice's waiting
    song, and its status says a moderator cancelled it."""
    from playwright.sync_api import expect

    expect(page.locator("#command option", has_text="/queue")).to_have_count(1)
    page.locator("#mg-delay").fill("60")  # MusicGPT holds the first song: the next one waits
    page.locator("#mg-delay").press("Tab")
    modal = page.locator("#modal")
    for prompt in ("holding the slot", "waiting in line"):
        run_command(page, "sing", prompt=prompt, audio=str(FIXTURES / "tone.wav"))
        expect(modal).to_be_visible(timeout=SLOW)
        modal.get_by_label("Lyrics").first.fill("la la la")
        page.locator("#modal-submit").click()
        expect(page.locator(".embed", has_text=prompt)).to_have_count(1, timeout=SLOW)
    waiting = page.locator(".embed", has_text="waiting in line")
    expect(waiting).to_contain_text("#1 in line", timeout=SLOW)

    carol = page.locator("#member option", has_text="carol").get_attribute("value")
    page.locator("#member").select_option(carol)
    run_command(page, "queue")
    menu = page.locator(".message.ephemeral select.menu")
    expect(menu).to_have_count(1, timeout=SLOW)
    menu.select_option(index=1)
    expect(page.locator(".message.ephemeral", has_text="Cancelled song #2")).to_have_count(
        1, timeout=SLOW
    )
    expect(waiting).to_contain_text("Cancelled by a moderator", timeout=SLOW)
