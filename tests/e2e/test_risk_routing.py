"""Risk answers end to end (issue 13): through the fake Bot API, as a consultant and a candidate see it.

One test runs `ipsbot run` as a real process: a risk answer shows crisis help at once, /restart
clears the answers but not the risk, and the consultant's summary of the finished intake is urgent
and names the item; then an urgent intake outside the target group climbs the ladder: the
programme's consultant first, who presses "Seen — I will make contact". The other runs in this
process with a controllable clock: an intake abandoned after a risk answer reaches the consultant
as an urgent partial referral, by the clocks.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.channels.telegram.delivery import drain
from bot.clock import ManualClock
from bot.services.clocks import tick
from bot.services.intake import Person
from flows.answers import Tap, Text
from locales import Translator
from tests.e2e.inprocess import in_process
from tests.e2e.telegram_bot import TOKEN, BotProcess, Candidate, bot_env, step_of
from tests.fake_telegram import FakeTelegram
from tests.support.people import tg, tg_address
from tests.support.walk import TYPICAL

pytestmark = pytest.mark.asyncio
DA = Translator("da")


async def test_risk_answer_then_restart_then_finish_reaches_the_consultant_as_urgent_naming_the_item(
    tmp_path: Path, framework: str,
) -> None:
    async with FakeTelegram(token=TOKEN) as server:
        process = await BotProcess(server, bot_env(server, tmp_path, framework), tmp_path).start()
        try:
            invite = subprocess.run([sys.executable, "-m", "bot.cli", "invite", "--role", "consultant", "--programme",
                                     "reconnect", "--name", "Mette"], cwd=tmp_path, env=process.env,
                                    capture_output=True, text=True, timeout=120, check=True)
            code = invite.stdout.split("invite code: ", 1)[1].split()[0]
            consultant = Candidate(server, server.user(3101, "Mette", "da"))
            await consultant.say(f"/start staff-{code}")
            person = Candidate(server, server.user(3102, "Bo", "da"))
            await person.say("/start reconnect")
            plan = {"language": "da", "q.name": "Bo"}
            for _ in range(80):
                if step_of(person.question()) == "mdi.6":
                    break
                await person.answer(plan)
            replies = await person.tap("1")  # "some of the time": a risk answer
            assert DA("crisis.text").splitlines()[0] in replies[0].text and "112" in replies[0].text
            assert step_of(replies[-1]) == "mdi.7"
            await person.say("/restart")
            restarted = await person.tap("yes")
            assert DA("restart.done_risk") in "\n".join(m.text for m in restarted)
            assert step_of(person.question()) == "language"
            await person.run({**plan, "mdi.6": "0"},
                             until=lambda r: any(DA("result.eligible-urgent")[:40] in m.text for m in r))
            (summary,) = [m for m in consultant.user.messages if "\nBo, " in m.text]
            assert DA("staff.summary.urgent") in summary.text
            # the item that raised it, in the consultant's language, with its wording
            assert DA("staff.summary.item", instrument="MDI", item="6") in summary.text
            assert DA("mdi.item.6") in summary.text
            assert summary.buttons[0]["text"] == DA("staff.claim")

            # a coordinator joins; an urgent intake outside the target group (severe: to the GP) reaches them
            invite = subprocess.run([sys.executable, "-m", "bot.cli", "invite", "--role", "coordinator",
                                     "--programme", "reconnect", "--name", "Karin"], cwd=tmp_path, env=process.env,
                                    capture_output=True, text=True, timeout=120, check=True)
            code = invite.stdout.split("invite code: ", 1)[1].split()[0]
            coordinator = Candidate(server, server.user(3103, "Karin", "da"))
            joined = await coordinator.say(f"/start staff-{code}")
            assert DA("staff.joined.coordinator", name="Karin", programme="")[:20] in joined[0].text
            other = Candidate(server, server.user(3104, "Eli", "da"))
            await other.say("/start reconnect")
            severe = {"language": "da", "q.name": "Eli", **{f"gad7.{i}": "3" for i in range(1, 8)}, "mdi.6": "1"}
            await other.run(severe, until=lambda r: any(DA("result.refer-gp")[:30] in m.text for m in r))
            # the ladder's first rung with someone: the programme's consultant, with the summary and "Seen"
            (card,) = [m for m in consultant.user.messages if "\nEli, " in m.text]
            assert card.text.startswith(DA("staff.escalation.title.outside", id=2, programme="")[:30])
            assert card.button_texts == [DA("staff.escalation.seen")]
            assert not [m for m in coordinator.user.messages if "\nEli, " in m.text]  # not yet: a rung higher
            await consultant.tap("seen", card)
            edited = next(m for m in consultant.user.messages if m.message_id == card.message_id)
            assert edited.text == DA("staff.escalation.taken", id=2, name="Mette")
        finally:
            assert await process.stop() == 0, process.log.read_text()[-3000:]


async def test_an_intake_abandoned_after_a_risk_answer_reaches_the_consultant_by_the_sweep(tmp_path: Path) -> None:
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    clock = ManualClock(start)
    async with in_process(tmp_path, clock) as (app, bot, server):
        consultant = tg(3201)
        async with app.uow() as uow:
            code = await app.intake.casework.invite(uow, role="consultant", programme_id="reconnect", name="Mette",
                                                    now=clock.now())
            await app.intake.casework.join(uow, consultant, code, clock.now())
        await drain(app, bot, min_age=timedelta(0))
        person = Person("telegram", "3202", language="da", address=tg_address(3202))
        reply = await app.intake.start(person, "reconnect")
        plan = {**TYPICAL, "language": "da", "q.name": "Asta", "mdi.6": "2"}
        while reply.state["step"] != "mdi.9":  # then the person stops answering
            screen = next(s for s in reversed(reply.screens) if s.asks)
            ids = [b.id for b in screen.buttons]
            value = str(plan.get(screen.step, "1"))
            reply = await app.intake.answer(person, Tap(screen.step, screen.version, value if value in ids else ids[0])
                                            if ids else Text(value))

        async def loop_at(moment: datetime) -> None:  # what the clocks do on each round
            clock.set(moment)
            async with app.uow() as uow:
                await tick(app.intake, uow, clock.now())
            await drain(app, bot, min_age=timedelta(0))

        await loop_at(start + timedelta(hours=23))
        assert not [m for m in server.sent_messages(3201) if "\nAsta, " in m.text]
        await loop_at(start + timedelta(hours=25))
        (summary,) = [m for m in server.sent_messages(3201) if "\nAsta, " in m.text]
        assert DA("staff.summary.urgent") in summary.text and DA("mdi.item.6") in summary.text
        assert DA("staff.summary.partial", answered="", last="").split(":")[0] in summary.text
        assert DA("staff.summary.item", instrument="MDI", item="8b") in summary.text  # the last one answered
        assert summary.buttons[0]["text"] == DA("staff.claim")
        await loop_at(start + timedelta(hours=26))
        assert len([m for m in server.sent_messages(3201) if "\nAsta, " in m.text]) == 1
