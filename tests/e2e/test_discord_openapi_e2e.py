"""Each e2e world fails on a Discord request that breaks Discord's OpenAPI description.

When the description (../shared/discord/openapi.json) is absent nothing can be checked: the
test below is then skipped, saying so, so the run reports it once.
"""

from __future__ import annotations

import aiohttp
import pytest

from tests.standins.discord import DiscordStandIn
from tests.support.world import discord_openapi_note


async def test_a_request_breaking_discords_openapi_description_fails_the_world(
    http: aiohttp.ClientSession,
) -> None:
    note = discord_openapi_note()
    if note:
        pytest.skip(note)
    async with DiscordStandIn() as dc:
        headers = {"Authorization": f"Bot {dc.token}"}
        url = f"{dc.api_base}/channels/{dc.channel_id}/messages"
        async with http.post(url, json={"content": "fine"}, headers=headers) as response:
            assert response.status == 200
        assert "fit Discord's OpenAPI description" in dc.assert_no_openapi_violations()
        async with http.post(url, json={"content": "x", "flags": "many"}, headers=headers):
            pass
        with pytest.raises(AssertionError, match="break Discord's OpenAPI description"):
            dc.assert_no_openapi_violations()
