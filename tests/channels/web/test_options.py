"""The flow says which options need a channel able to write back (`Screen.needs_reach`): the plain form
leaves out "contact me in the chat" (tests/web/test_web_form.py); the Mini App, inside that chat, offers it."""

from __future__ import annotations

from tests.channels.web.conftest import Site
from tests.channels.web.initdata import init_data
from tests.channels.web.test_mini_app import USER_ID, open_mini_app
from tests.e2e.telegram_bot import TOKEN
from tests.support.web_form import walk_to


async def test_the_mini_app_offers_contact_in_the_chat(site: Site) -> None:
    user = await open_mini_app(site, init_data(TOKEN, USER_ID, site.clock.now()))
    page = await walk_to(user, "q.contact")
    offered = [v for n, v, _ in page.answer.buttons if n == "b"]
    assert "chat" in offered and "phone" in offered
