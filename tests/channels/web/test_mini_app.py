"""The form inside Telegram: init data checked with the bot token; the same candidate as the chat."""

from __future__ import annotations

from datetime import timedelta

from bot.services.intake import Person
from flows.address import Address
from flows.answers import Tap, Text
from tests.channels.web.client import WebUser, parse
from tests.channels.web.conftest import Site
from tests.channels.web.initdata import init_data
from tests.e2e.telegram_bot import TOKEN
from tests.support.web_form import walk_to

USER_ID = 777001


def chat_person() -> Person:
    """The person as the Telegram chat handlers make them (`handlers.person_of`)."""
    return Person(channel="telegram", external_id=str(USER_ID), language="da",
                  address=Address("telegram", str(USER_ID)))


async def open_mini_app(site: Site, data: str) -> WebUser:
    user = WebUser(site.client)
    page = await user.get("/tg?p=reconnect")
    assert 'src="https://telegram.org/js/telegram-web-app.js"' in page.html
    response = await site.client.post("/tg/auth", data={"init_data": data, "p": "reconnect"})
    user.page = parse(response.status, await response.text())
    return user


async def test_signed_init_data_opens_the_intake_of_that_telegram_user(site: Site) -> None:
    user = await open_mini_app(site, init_data(TOKEN, USER_ID, site.clock.now()))
    assert user.page is not None and user.page.status == 200 and user.page.step == "language"
    assert "/r/" not in user.page.html  # no resume link: Telegram itself is the way back
    await walk_to(user, "q.age")
    async with site.app.uow() as uow:
        assert await uow.candidates.find("telegram", str(USER_ID)) is not None


async def test_forged_or_stale_init_data_is_refused(site: Site) -> None:
    forged = await open_mini_app(site, init_data("123456:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", USER_ID,
                                                 site.clock.now()))
    assert forged.page is not None and forged.page.status == 403
    stale = await open_mini_app(site, init_data(TOKEN, USER_ID, site.clock.now() - timedelta(hours=2)))
    assert stale.page is not None and stale.page.status == 403
    edited = init_data(TOKEN, USER_ID, site.clock.now()).replace("777001", "777002")  # another user's id
    other = await open_mini_app(site, edited)
    assert other.page is not None and other.page.status == 403
    async with site.app.uow() as uow:
        assert await uow.candidates.find("telegram", str(USER_ID)) is None


async def test_init_data_too_large_gets_the_catalogues_page_not_an_error(site: Site) -> None:
    from locales import Translator

    response = await site.client.post("/tg/auth", data={"init_data": "x" * 70_000, "p": "reconnect"})
    body = await response.text()
    assert response.status == 413 and response.content_type == "text/html"
    assert Translator("en")("web.too_large") in body and "default-src 'none'" in response.headers[
        "Content-Security-Policy"]
    async with site.app.uow() as uow:
        assert await uow.candidates.find("telegram", str(USER_ID)) is None


async def test_a_chat_intake_continues_in_the_form_and_back_in_the_chat(site: Site) -> None:
    service = site.app.intake
    outcome = await service.start(chat_person(), "reconnect")
    for _ in range(4):  # language, three information screens: in the chat
        screen = next(s for s in outcome.screens if s.asks)
        outcome = await service.answer(chat_person(), Tap(screen.step, screen.version, screen.buttons[0].id))
    assert outcome.state["step"] == "consent"
    user = await open_mini_app(site, init_data(TOKEN, USER_ID, site.clock.now()))
    assert user.page is not None and user.page.step == "consent"  # where the chat stopped
    await user.press("yes")
    page = await user.type("Ana")
    assert page.step == "q.age"
    outcome = await service.answer(chat_person(), Text("24"))  # back in the chat: the form's place
    assert outcome.state["answers"]["name"] == "Ana" and outcome.state["step"] == "q.municipality"
    # the page still asks the age the chat has answered: its typed text must not answer the next question
    page = await user.type("Vejle")
    assert page.errors() and page.step == "q.municipality"
    async with site.app.uow() as uow:
        candidate = await uow.candidates.find("telegram", str(USER_ID))
        assert candidate is not None
        intake = await uow.intakes.latest(candidate.id)
        assert intake is not None and "municipality" not in intake.state["answers"]
    page = await user.type("Vejle")
    assert page.step == "q.situation"


async def test_a_language_the_form_does_not_know_keeps_a_mini_app_session_on_its_page(site: Site) -> None:
    """Inside Telegram the session travels in the form (no cookie): an unknown language answers with
    the same page, not "expired"."""
    user = await open_mini_app(site, init_data(TOKEN, USER_ID, site.clock.now()))
    await walk_to(user, "q.age")
    page = await user.post("/lang", {"lang": "xx"})
    assert page.status == 200 and page.step == "q.age"
