"""Health data stays off Telegram: with WEB_URL set and STAFF_CHAT_DETAIL unset, a whole intake with a
risk answer sends no name, score or free text to any staff chat; each staff message says what and
where, with a button to the staff area. `ipsbot run` is a real process against the fake Bot API; the
test reads what the fake received (it decrypts nothing). The kinds that need time to pass (a booked
first meeting with its calendar file, a follow-up's risk answer, a partial referral completed later)
run in this process with a controllable clock, sent by the real Telegram delivery to the fake."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from bot.app import App, open_app
from bot.channels.telegram.aiogram.runtime import create_bot
from bot.channels.telegram.delivery import drain
from bot.clock import ManualClock
from bot.settings import Settings
from flows.slots import BookChoice
from locales import Translator
from storage.models import OutboxMessage, Referral
from tests.channels.web.staff_kit import ORIGIN, StaffSite, audit, referral, staff_site
from tests.e2e.telegram_bot import TOKEN, BotProcess, Candidate, bot_env
from tests.fake_telegram import BotMessage, FakeTelegram
from tests.service.test_risk_routing import person, until
from tests.support.people import tg
from tests.support.programmes import pilot_yaml

__all__ = ["staff_site"]

DA = Translator("da")
WEB = "https://ips.example.dk"
PILOT = pilot_yaml("age: {min: 15, max: 99}\ninstruments: [phq9]\ncaseload_cap: 2\n")
NAME = "Zelda Quist"


def invite(env: dict[str, str], tmp: Path, role: str) -> str:
    done = subprocess.run([sys.executable, "-m", "bot.cli", "invite", "--role", role, "--programme", "pilot",
                           "--name", role.title()], cwd=tmp, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.split("invite code: ", 1)[1].split()[0]


@pytest.mark.parametrize("detail", ["", "full"])
async def test_staff_chats_get_only_what_and_where(tmp_path: Path, detail: str) -> None:
    extra = tmp_path / "programmes"
    extra.mkdir()
    (extra / "pilot.yaml").write_text(PILOT, encoding="utf-8")
    async with FakeTelegram(token=TOKEN) as server:
        env = bot_env(server, tmp_path, "aiogram", PROGRAMMES_DIR=str(extra), WEB_URL=WEB, STAFF_CHAT_DETAIL=detail)
        bot = await BotProcess(server, env, tmp_path).start()
        try:
            staff = []
            for n, role in enumerate(("consultant", "coordinator")):
                member = Candidate(server, server.user(7100 + n, role, "da"))
                await member.say(f"/start staff-{invite(env, tmp_path, role)}")
                staff.append(member)
            person = Candidate(server, server.user(7200, "Zelda", "da"))
            await person.say("/start pilot")
            # the Mini App offer comes after the first question: answer that one by hand (language: da)
            first = next(m for m in person.user.messages if m.buttons and "callback_data" in m.buttons[0])
            await person.act(lambda: person.user.tap_button(
                lambda b: str(b.get("callback_data", "")).endswith("|da"), message_id=first.message_id))
            await person.run({"language": "da", "q.name": NAME, "phq9.9": "2"},
                             until=lambda r: any("færdig med spørgsmålene" in m.text for m in r))
            await server.settle(5)
            told = [m for member in staff for m in member.user.messages[1:]]  # after each welcome
            link = await staff[0].say("/web")  # a one-time sign-in link to the staff area, in their own chat
            assert any(f"{WEB}/staff/link?t=" in m.text for m in link), [m.text[:60] for m in link]
            texts = "\n".join(m.text for m in told)
            links = [b["url"] for m in told for b in m.buttons if "url" in b]
        finally:
            assert await bot.stop() == 0, bot.log.read_text()[-3000:]
    assert told, "the staff were told nothing"
    if detail == "full":  # today's summaries, for a pilot whose data protection officer accepted them
        assert NAME in texts and "PHQ" in texts
        assert not links
        return
    assert NAME not in texts and "Zelda" not in texts
    assert "PHQ" not in texts and DA("staff.summary.title", id="", programme="")[:10] not in texts
    assert "selvmord" not in texts.lower() and "selvskade" not in texts.lower()
    assert "Ny henvisning R-" in texts and "(akut)" in texts
    assert links and all(link.startswith(f"{WEB}/staff/r/") for link in links)
    exports = [b for m in told for b in m.buttons if str(b.get("callback_data", "")).endswith("|export")]
    assert not exports  # an export to the chat would carry the data


async def test_offers_and_case_cards_for_a_chat_carry_no_person_in_brief_mode(staff_site: StaffSite) -> None:
    """In-process, the outbox rows themselves: a Telegram consultant's offer and case cards (/cases, and
    after a press) hold the number and a link, not the name; the staff area shows the whole card."""
    app, now = staff_site.app, staff_site.clock.now()
    who = tg(7300)
    async with app.uow() as uow:
        code = await app.intake.casework.invite(uow, role="consultant", programme_id="pilot", name="Tove", now=now)
        await app.intake.casework.join(uow, who, code, now)
    made = await referral(staff_site, 7301, {"q.name": "Xenia Brandt"})
    async with app.uow() as uow:
        await app.intake.casework.press(uow, who, f"ref.{made.id}", "claim", 0, now)
        await app.intake.casework.cases(uow, who, now)
        await app.intake.casework.press(uow, who, f"case.{made.id}", "contact", 0, now)
        rows = (await uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()  # type: ignore[attr-defined]
        to_chat = [r.payload for r in rows if r.payload.get("to") == {"channel": "telegram", "id": "7300"}]
    shown = json.dumps(to_chat, ensure_ascii=False)
    assert "Xenia" not in shown and "PHQ" not in shown
    links = [b[0] for p in to_chat for s in [*p["screens"], *([p["edit"]["screen"]] if p["edit"] else [])]
             for b in s.get("buttons", []) if str(b[0]).startswith("http")]  # buttons as [id, label]
    assert len(links) >= 3 and set(links) == {f"{ORIGIN}/staff/r/{made.id}"}


# --- a booking, a follow-up's risk answer and a partial referral completed later -----------------------

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TIMED = pilot_yaml("""\
age: {min: 15, max: 99}
instruments: [phq9]
caseload_cap: 2
risk_abandon_hours: 12
urgent_window_hours: 6
followups:
  - {id: 6m, trigger: {after: referral, days: 182}, instruments: [phq9]}
""")
PEER, CONSULTANT, COORDINATOR = tg(7400), tg(7401), tg(7402)
BOOKED, PARTIAL = "Zelda Quist", "Yrsa Lund"


class Timed:
    """The application in this process on the fake Bot API: each step's messages are sent at once."""

    def __init__(self, app: App, bot: Any, server: FakeTelegram, clock: ManualClock) -> None:
        self.app, self.bot, self.server, self.clock = app, bot, server, clock

    async def do(self, action: Any) -> None:
        async with self.app.uow() as uow:
            await action(uow, self.app.intake.casework, self.app.clock.now())
        await drain(self.app, self.bot, min_age=timedelta(0))

    async def intake(self, chat: int, plan: dict[str, Any], stop: str | None = None) -> None:
        who = person(chat)
        await until(self.app.intake, who, await self.app.intake.start(who, "pilot"), plan, stop)
        await drain(self.app, self.bot, min_age=timedelta(0))

    async def referral(self, chat: int) -> Referral:
        async with self.app.uow() as uow:
            candidate = await uow.candidates.find("telegram", str(chat))
            assert candidate is not None
            return (await uow.referrals.of_candidate(candidate.id))[-1]

    def staff_messages(self) -> list[BotMessage]:
        return [m for who in (PEER, CONSULTANT, COORDINATOR) for m in self.server.sent_messages(who.chat_id)[1:]]


async def _booking(timed: Timed) -> Referral:
    """A peer's free time; an intake, claimed; the person books the time."""
    async def slot(uow: Any, cw: Any, now: datetime) -> None:
        peer = await uow.staff.find("telegram", str(PEER.chat_id))
        await uow.slots.add(peer, starts_at=now + timedelta(days=3), minutes=45, place="cafe", now=now)

    await timed.do(slot)
    await timed.intake(7410, {"q.name": BOOKED, "phq9.9": "0"})
    made = await timed.referral(7410)
    await timed.do(lambda uow, cw, now: cw.press(uow, CONSULTANT, f"ref.{made.id}", "claim", 0, now))
    async with timed.app.uow() as uow:
        (free,) = await uow.slots.free("pilot", timed.app.clock.now(), timed.app.clock.now() + timedelta(days=14))
    choice = BookChoice(slot_id=free.id).encode()
    await timed.do(lambda uow, cw, now: cw.meetings.book_press(uow, tg(7410), f"book.{made.id}", choice, now))
    return made


async def _partial(timed: Timed) -> Referral:
    """A risk answer, then the person leaves: an urgent partial referral; claimed; then finished."""
    plan = {"q.name": PARTIAL, "phq9.9": "2"}
    await timed.intake(7411, plan, stop="q.goal")
    timed.clock.advance(hours=13)
    await timed.do(lambda uow, cw, now: timed.app.intake.escalate_due(uow, now))
    made = await timed.referral(7411)
    assert made.payload["partial"] is True
    await timed.do(lambda uow, cw, now: cw.press(uow, CONSULTANT, f"ref.{made.id}", "claim", 0, now))
    await timed.intake(7411, plan)
    return made


async def _follow_up_risk(timed: Timed, case: Referral) -> None:
    """The 6-month follow-up of the booked case, answered with a risk; unseen, it climbs to the coordinator."""
    timed.clock.set(case.created_at + timedelta(days=182))
    await timed.do(lambda uow, cw, now: cw.followups.schedule(uow, now))
    async with timed.app.uow() as uow:
        (row,) = await uow.followups.of_referral(case.id)
    answers = ["s:looking", *["0"] * 8, "2"]  # PHQ-9 item 9 last
    for version, button in enumerate(answers):
        await timed.do(lambda uow, cw, now, v=version, b=button: cw.followups.press(
            uow, tg(7410), f"fu.{row.id}", v, b, now))
    timed.clock.advance(hours=3)
    await timed.do(lambda uow, cw, now: timed.app.intake.escalate_due(uow, now))


@pytest.mark.parametrize("detail", ["", "full"])
async def test_a_booking_a_follow_up_risk_and_a_partial_referral_tell_staff_chats_only_what_and_where(
    tmp_path: Path, detail: str,
) -> None:
    programmes = tmp_path / "programmes"
    programmes.mkdir()
    (programmes / "pilot.yaml").write_text(TIMED, encoding="utf-8")
    async with FakeTelegram(token=TOKEN) as server:
        values: dict[str, Any] = {"bot_token": TOKEN, "telegram_api_url": server.url,
                                  "database_url": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
                                  "encryption_key": Fernet.generate_key().decode(), "per_chat_interval": 0.0,
                                  "bot_framework": "aiogram", "programmes_dir": programmes, "web_url": WEB,
                                  "staff_chat_detail": detail or None}
        settings, clock = Settings(**values), ManualClock(START)
        async with open_app(settings, clock) as app:
            bot = create_bot(settings)
            try:
                timed = Timed(app, bot, server, clock)
                for who, role in ((PEER, "peer"), (CONSULTANT, "consultant"), (COORDINATOR, "coordinator")):
                    code = await _invite(app, role)
                    await timed.do(lambda uow, cw, now, w=who, c=code: cw.join(uow, w, c, now))
                booked = await _booking(timed)
                partial = await _partial(timed)
                await _follow_up_risk(timed, booked)
                told = timed.staff_messages()
            finally:
                await bot.session.close()
    _check(told, booked, partial, full=detail == "full")


async def _invite(app: App, role: str) -> str:
    async with app.uow() as uow:
        return await app.intake.casework.invite(uow, role=role, programme_id="pilot", name=role.title(),
                                                now=app.clock.now())


def _check(told: list[BotMessage], booked: Referral, partial: Referral, *, full: bool) -> None:
    texts = "\n".join(m.text or m.caption or "" for m in told)
    calendars = [m.document.content.decode() for m in told if m.document and m.document.filename == "meeting.ics"]
    assert len(calendars) == 2, [m.text[:40] for m in told]  # the peer's and the consultant's
    assert not any("Zelda" in c or "Yrsa" in c for c in calendars)  # a calendar file never names the person
    if full:  # today's messages, for a pilot whose data protection officer accepted them
        assert "Zelda" in texts and "Yrsa" in texts and "PHQ" in texts
        return
    assert "Zelda" not in texts and "Yrsa" not in texts and "Quist" not in texts and "Lund" not in texts
    assert "PHQ" not in texts and "selvmord" not in texts.lower() and "selvskade" not in texts.lower()
    links = {b["url"] for m in told for b in m.buttons if "url" in b}

    def about(fragment: str) -> list[BotMessage]:
        found = [m for m in told if fragment in (m.text or "")]
        assert found, (fragment, texts[:2000])
        return found

    # each kind is there, says what and where, and opens the staff area
    booking = about(DA("meet.booked_staff.brief", id=booked.id, when="", place="").split(":")[0])
    assert len(booking) == 2 and all(m.buttons for m in booking)
    assert all(DA("place.cafe") in m.text for m in booking)  # the time and place stay: the peer must be there
    completed = about(DA("staff.web.brief.completed", id=partial.id))
    risk = about(DA("staff.web.brief.escalation", id=booked.id))
    assert len(risk) >= 2  # the consultant holding it, then the coordinator
    for message in (*booking, *completed, *risk):
        assert any(b.get("url", "").startswith(f"{WEB}/staff/r/") for b in message.buttons), message.text
    assert links <= {f"{WEB}/staff/r/{booked.id}", f"{WEB}/staff/r/{partial.id}"}
    assert not [b for m in told for b in m.buttons if str(b.get("callback_data", "")).endswith("|export")]


async def test_an_export_pressed_in_a_chat_sends_a_link_and_no_file_in_brief_mode(staff_site: StaffSite) -> None:
    """The export button is gone from the chat in brief mode; an older message's (or a forged) press still
    goes through policy, and gets the number and a link to the staff area, never the files."""
    app, now = staff_site.app, staff_site.clock.now()
    who = tg(7500)
    async with app.uow() as uow:
        code = await app.intake.casework.invite(uow, role="consultant", programme_id="pilot", name="Tove", now=now)
        await app.intake.casework.join(uow, who, code, now)
    made = await referral(staff_site, 7501, {"q.name": "Xenia Brandt"})
    async with app.uow() as uow:
        await app.intake.casework.press(uow, who, f"ref.{made.id}", "claim", 0, now)
        await app.intake.casework.press(uow, who, f"case.{made.id}", "export", 0, now)
        rows = (await uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()  # type: ignore[attr-defined]
    (sent,) = [r.payload for r in rows if r.payload.get("to") == {"channel": "telegram", "id": "7500"}
               and r.payload["screens"] and r.payload["screens"][0]["text"] == DA("staff.export.caption", id=made.id)]
    assert not sent.get("documents")
    assert [b[0] for b in sent["screens"][0]["buttons"]] == [f"{ORIGIN}/staff/r/{made.id}"]
    assert not [a for a in await audit(staff_site, "referral.exported") if a.referral_id == made.id]
    assert [a for a in await audit(staff_site, "referral.export_linked") if a.referral_id == made.id]
