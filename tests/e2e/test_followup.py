"""A follow-up through the real Telegram route, in one process against the fake Bot API, with a ManualClock.

A person goes through the intake and is claimed; half a year later the clocks (`ClockRunner`, which
every long-running process runs) ask the follow-up; the person answers by tapping the bot's buttons
(callback queries through each runtime's dispatcher to `bot/channels/telegram/handlers.py`), the consultant's
case card shows the answers, and /stop afterwards means no more follow-ups. On both runtimes.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import App
from bot.channels.telegram.api import TelegramApi
from bot.channels.telegram.delivery import drain, sender_of_outbox
from bot.clock import ManualClock
from bot.services.clocks import ClockRunner
from bot.services.intake import Person
from bot.services.notify import Who
from locales import Translator
from tests.e2e.inprocess import runtime_in_process
from tests.e2e.test_meetings import START
from tests.fake_telegram import FakeTelegram
from tests.service.test_followup import PILOT
from tests.support.people import tg, tg_address
from tests.support.service import ServicePort, walk_until
from tests.support.walk import TYPICAL

DA = Translator("da")
USER, CONSULTANT = 4711, 4800


def pilot_programmes(tmp_path: Path) -> Path:
    programmes = tmp_path / "programmes"
    programmes.mkdir()
    (programmes / "pilot.yaml").write_text(PILOT, encoding="utf-8")
    return programmes


async def intake_claimed_by(app: App, bot: TelegramApi, server: FakeTelegram, consultant: Who,
                            clock: ManualClock) -> None:
    """USER goes through the whole intake, and `consultant` claims the referral from its summary."""
    person = Person("telegram", str(USER), language="da", address=tg_address(USER))
    reply = await app.intake.start(person, "pilot")
    plan = {**TYPICAL, "language": "da", "q.name": "Alma", "phq9.9": "0"}
    await walk_until(ServicePort(app.intake, person, reply), plan, default="1")
    await drain(app, bot, min_age=timedelta(0))
    summary = next(m for m in server.sent_messages(int(consultant.external_id)) if m.buttons)
    step = str(summary.buttons[0]["callback_data"]).split("|")[0]
    async with app.uow() as uow:
        await app.intake.casework.press(uow, consultant, step, "claim", summary.message_id, clock.now())


async def test_a_follow_up_is_asked_by_the_periodic_loop_and_answered_by_tapping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, framework: str,
) -> None:
    clock = ManualClock(START)
    async with runtime_in_process(tmp_path, clock, programmes_dir=pilot_programmes(tmp_path), framework=framework) as (
            app, telegram, server):
        bot = telegram.api
        consultant = tg(CONSULTANT)
        async with app.uow() as uow:
            code = await app.intake.casework.invite(uow, role="consultant", programme_id="pilot", name="Kim",
                                                    now=clock.now())
            await app.intake.casework.join(uow, consultant, code, clock.now())
        await intake_claimed_by(app, bot, server, consultant, clock)
        await drain(app, bot, min_age=timedelta(0))
        before = len(server.sent_messages(USER))

        # half a year later the periodic loop of the Telegram runtime asks the follow-up
        clock.advance(days=182)
        stopping = asyncio.Event()
        clocks = ClockRunner(app.uow, app.intake, app.clock, sender_of_outbox(app, bot), every=0.01)
        loop = asyncio.create_task(clocks.run(stopping))
        try:
            for _ in range(500):
                if len(server.sent_messages(USER)) > before:
                    break
                await asyncio.sleep(0.01)
                # the loop leaves messages younger than 30 seconds to their handler: let time pass
                clock.advance(seconds=1)
        finally:
            stopping.set()
            await loop
        (asked,) = server.sent_messages(USER)[before:]
        assert asked.text == DA("followup.ask", programme="Pilotprojekt")

        user = server.user(USER)

        async def tap(label: str) -> None:
            update = await user.tap_button(label)
            assert await telegram.handle(update) is None

        await tap(DA("followup.status.job"))
        for _ in range(9):  # PHQ-9, one item per message
            await tap(DA("phq9.option.0"))
        assert server.sent_messages(USER)[-1].text == DA("followup.thanks")

        async with app.uow() as uow:
            await app.intake.casework.cases(uow, consultant, clock.now())
        await drain(app, bot, min_age=timedelta(0))
        card = server.sent_messages(CONSULTANT)[-1].text
        assert DA("followup.status.job") in card and DA("staff.case.followups") in card

        assert await telegram.handle(await user.send_command("/stop")) is None
        assert server.sent_messages(USER)[-1].text == DA("followup.stopped")
        async with app.uow() as uow:
            candidate = await uow.candidates.find("telegram", str(USER))
            assert candidate is not None and candidate.followups_stopped_at == clock.now()


async def test_a_follow_up_risk_alert_is_marked_seen_by_tapping_and_every_copy_says_who(
    tmp_path: Path, framework: str,
) -> None:
    """The alert's copies are recorded when Telegram accepts them; the coordinator's tap edits both."""
    clock = ManualClock(START)
    async with runtime_in_process(tmp_path, clock, programmes_dir=pilot_programmes(tmp_path), framework=framework) as (
            app, telegram, server):
        bot = telegram.api
        staff = {CONSULTANT: tg(CONSULTANT), CONSULTANT + 1: tg(CONSULTANT + 1)}
        async with app.uow() as uow:
            for (chat, who), role in zip(staff.items(), ("consultant", "coordinator"), strict=True):
                code = await app.intake.casework.invite(uow, role=role, programme_id="pilot", name=f"{role}-{chat}",
                                                        now=clock.now())
                await app.intake.casework.join(uow, who, code, clock.now())
        await intake_claimed_by(app, bot, server, staff[CONSULTANT], clock)
        clock.advance(days=182)
        async with app.uow() as uow:
            await app.intake.casework.followups.schedule(uow, clock.now())
        await drain(app, bot, min_age=timedelta(0))

        user = server.user(USER)
        for label in (DA("followup.status.looking"), *[DA("phq9.option.0")] * 8, DA("phq9.option.2")):
            assert await telegram.handle(await user.tap_button(label)) is None
        await drain(app, bot, min_age=timedelta(0))
        alert = DA("staff.escalation.title.followup", id=1, programme="Pilotprojekt")

        def copies(chat: int) -> list[str]:
            return [m.text for m in server.sent_messages(chat) if m.text.startswith(alert)]

        assert len(copies(CONSULTANT)) == 1 and copies(CONSULTANT + 1) == []  # the holder first
        clock.advance(hours=6)  # a quarter of the urgent window unseen: the coordinator too
        async with app.uow() as uow:
            await app.intake.escalate_due(uow, clock.now())
        await drain(app, bot, min_age=timedelta(0))
        assert len(copies(CONSULTANT + 1)) == 1

        coordinator = server.user(CONSULTANT + 1)
        assert await telegram.handle(await coordinator.tap_button(DA("staff.escalation.seen"))) is None
        await drain(app, bot, min_age=timedelta(0))
        taken = DA("staff.escalation.taken", id=1, name=f"coordinator-{CONSULTANT + 1}")
        for chat in staff:  # both copies now say who took it, and carry no button
            texts = [m.text for m in server.sent_messages(chat)]
            assert copies(chat) == [] and taken in texts
            assert all(not m.buttons for m in server.sent_messages(chat) if m.text == taken)
        async with app.uow() as uow:
            (row,) = await uow.escalations.of_referral(1)
            assert row.status == "seen" and row.seen_at == clock.now()
