"""Health data stays off Telegram: with WEB_URL set and STAFF_CHAT_DETAIL unset, a whole intake with a
risk answer sends no name, score or free text to any staff chat; each staff message says what and
where, with a button to the staff area. `ipsbot run` is a real process against the fake Bot API; the
test reads what the fake received (it decrypts nothing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from locales import Translator
from storage.models import OutboxMessage
from tests.channels.web.staff_kit import ORIGIN, StaffSite, referral, staff_site
from tests.e2e.telegram_bot import TOKEN, BotProcess, Candidate, bot_env
from tests.fake_telegram import FakeTelegram
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
