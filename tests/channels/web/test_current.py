"""The chat and the form read a person's current intake the same way (`bot.services.current`): a
withdrawn intake is no intake for either, whatever its row still holds; a finished one is shown as its
result in the form and asks nothing more in the chat."""

from __future__ import annotations

from bot.channels.telegram.current import current_question
from bot.services.current import CurrentScreens
from flows.answers import Tap, Text
from storage.models import IntakeStatus
from tests.channels.web.conftest import Site
from tests.channels.web.initdata import init_data
from tests.channels.web.test_mini_app import USER_ID, chat_person, open_mini_app
from tests.e2e.telegram_bot import TOKEN
from tests.support.web_form import finish

BOT_ID = 1


async def to_age(site: Site) -> None:
    """The chat person, consented, at the question of their age."""
    service = site.app.intake
    outcome = await service.start(chat_person(), "reconnect")
    while outcome.state["step"] != "q.name":
        screen = next(s for s in outcome.screens if s.asks)
        outcome = await service.answer(chat_person(), Tap(screen.step, screen.version, screen.buttons[0].id))
    outcome = await service.answer(chat_person(), Text("Ana"))
    assert outcome.state["step"] == "q.age"


async def test_a_withdrawn_intake_is_no_intake_for_the_chat_nor_the_form(site: Site) -> None:
    await to_age(site)
    async with site.app.uow() as uow:  # withdrawn, its row still holding a state that says "active"
        candidate = await uow.candidates.find("telegram", str(USER_ID))
        assert candidate is not None
        intake = await uow.intakes.latest(candidate.id)
        assert intake is not None and intake.state["status"] == "active"
        await uow.intakes.finish(intake, status=IntakeStatus.WITHDRAWN, now=site.clock.now())
    reading = await CurrentScreens(site.app.uow, site.app.flow, site.app.clock).read(chat_person())
    assert reading.current is None and reading.screens == [] and reading.lang == "da"
    chat = await current_question(site.app, chat_person(), update_id=1, bot_id=BOT_ID)
    assert chat.screens == []  # a sticker in the chat: no question of the withdrawn intake
    user = await open_mini_app(site, init_data(TOKEN, USER_ID, site.clock.now()))
    assert user.page is not None and user.page.step == "language"  # a new intake, not q.age
    async with site.app.uow() as uow:
        assert candidate.id is not None
        intakes = await uow.intakes.all_of(candidate.id)
        assert [i.status for i in intakes] == [IntakeStatus.WITHDRAWN, IntakeStatus.ACTIVE]


async def test_a_finished_intake_is_its_result_in_the_form_and_asks_nothing_in_the_chat(site: Site) -> None:
    user = await open_mini_app(site, init_data(TOKEN, USER_ID, site.clock.now()))
    page = await finish(user)
    assert '<section class="result">' in page.html
    reading = await CurrentScreens(site.app.uow, site.app.flow, site.app.clock).read(chat_person())
    assert reading.current is not None and reading.current.finished and not reading.current.active
    assert reading.screens == [] and reading.current.screens[0].step == "result"
    chat = await current_question(site.app, chat_person(), update_id=2, bot_id=BOT_ID)
    assert chat.screens == [] and not chat.duplicate
    again = await current_question(site.app, chat_person(), update_id=2, bot_id=BOT_ID)
    assert again.duplicate
    reopened = await open_mini_app(site, init_data(TOKEN, USER_ID, site.clock.now()))
    assert reopened.page is not None and '<section class="result">' in reopened.page.html
    assert not any(f.action == "/answer" for f in reopened.page.forms)
