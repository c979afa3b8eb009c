"""Staff access on each backend, at the service level: every forged staff, slot and booking press is
refused and audited and leaks nothing; new times must be sane; wrong invite codes are rate-limited and
a second invite does not move anyone. Referrals are made by real intakes through the intake service."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import ManualClock
from bot.services.casework import INVITE_TRIES, Casework, Who
from bot.services.intake import IntakeService, Person
from flows.intake import IntakeFlow
from flows.programmes import Registry
from locales import Translator
from storage.models import AuditEvent, InviteAttempt, OutboxMessage, Referral, Slot, Staff
from storage.repositories import UnitOfWork
from tests.support.people import tg, tg_address
from tests.support.service import ServicePort, walk_until
from tests.support.walk import TYPICAL

DA = Translator("da")
FLOW = IntakeFlow(Registry.load())
START = datetime(2026, 3, 5, 13, 30, tzinfo=UTC)  # a Thursday, 14:30 in Copenhagen
TOMORROW = "20260306"

A, B, C = tg(11), tg(12), tg(13)
P, Q, R = tg(21), tg(22), tg(23)
X, Y, Z, W = (tg(n) for n in (31, 32, 33, 34))
STRANGER = tg(99)

OFFER_BUTTONS = ("claim", "pass", "export")
CASE_BUTTONS = ("contact", "meeting", "jobsearch", "outcome", "outcome:flex", "close", "meetcancel", "export")


@dataclass
class Scene:
    """Consultants A, B (reconnect) and C (hjorring); peers P (reconnect), Q (hjorring), R (reconnect,
    removed); candidates X (claimed by A), Y (offered, B passed), Z (claimed and closed by A),
    W (redirected, offered to no one)."""

    factory: async_sessionmaker[AsyncSession]
    clock: ManualClock
    casework: Casework
    referral: dict[str, int] = field(default_factory=dict)
    slot: dict[str, int] = field(default_factory=dict)

    async def run(self, action: Any) -> Any:
        async with UnitOfWork(self.factory) as uow:
            return await action(uow)

    async def join(self, who: Who, role: str, programme: str) -> None:
        now = self.clock.now()

        async def go(uow: UnitOfWork) -> None:
            code = await self.casework.invite(uow, role=role, programme_id=programme, name=f"{role}{who.chat_id}",
                                              now=now)
            await self.casework.join(uow, who, code, now)

        await self.run(go)

    async def intake(self, who: Who, age: str) -> int:
        svc = IntakeService(lambda: UnitOfWork(self.factory), FLOW, self.clock, self.casework)
        person = Person("telegram", who.external_id, language="da", address=tg_address(who.chat_id))
        plan = {**TYPICAL, "q.name": f"Name{who.chat_id}", "q.age": age}
        await walk_until(ServicePort(svc, person, await svc.start(person, "reconnect")), plan, default="1")
        return int(await self.run(lambda uow: uow.session.scalar(select(func.max(Referral.id)))))

    async def press(self, who: Who, step: str, button: str) -> None:
        now = self.clock.now()
        meetings = self.casework.meetings
        if step.startswith("book."):
            await self.run(lambda uow: meetings.book_press(uow, who, step, button, now))
        elif step.startswith("slot."):
            await self.run(lambda uow: meetings.slot_press(uow, who, step, button, now))
        else:
            await self.run(lambda uow: self.casework.press(uow, who, step, button, 1, now))

    async def state(self) -> tuple[Any, ...]:
        """Everything a press could change: referrals with their case, offers passed, slots and bookings."""
        async def read(uow: UnitOfWork) -> tuple[Any, ...]:
            referrals = (await uow.session.execute(select(
                Referral.id, Referral.status, Referral.consultant_id, Referral.first_contact_at,
                Referral.first_meeting_at, Referral.job_search_at, Referral.case_outcome, Referral.closed_at)
                .order_by(Referral.id))).all()
            slots = (await uow.session.execute(select(Slot.id, Slot.referral_id, Slot.withdrawn_at)
                                               .order_by(Slot.id))).all()
            staff = (await uow.session.execute(select(Staff.id, Staff.role, Staff.programme_id, Staff.active)
                                               .order_by(Staff.id))).all()
            return tuple(map(tuple, referrals)), tuple(map(tuple, slots)), tuple(map(tuple, staff))

        return await self.run(read)

    async def since(self, outbox_mark: int, audit_mark: int) -> tuple[list[dict[str, Any]], list[str]]:
        async def read(uow: UnitOfWork) -> tuple[list[dict[str, Any]], list[str]]:
            sent = (await uow.session.scalars(select(OutboxMessage).where(OutboxMessage.id > outbox_mark)
                                              .order_by(OutboxMessage.id))).all()
            audit = (await uow.session.scalars(select(AuditEvent.action).where(AuditEvent.id > audit_mark))).all()
            return [m.payload for m in sent], list(audit)

        return await self.run(read)

    async def marks(self) -> tuple[int, int]:
        async def read(uow: UnitOfWork) -> tuple[int, int]:
            outbox = await uow.session.scalar(select(func.coalesce(func.max(OutboxMessage.id), 0)))
            audit = await uow.session.scalar(select(func.coalesce(func.max(AuditEvent.id), 0)))
            return int(outbox or 0), int(audit or 0)

        return await self.run(read)

    async def staff_id(self, who: Who) -> int:
        member = await self.run(lambda uow: uow.staff.find(who.channel, who.external_id))
        return int(member.id) if member else 0


async def scene(factory: async_sessionmaker[AsyncSession]) -> Scene:
    clock = ManualClock(START)
    s = Scene(factory, clock, Casework(FLOW.registry))
    for who, role, programme in ((A, "consultant", "reconnect"), (B, "consultant", "reconnect"),
                                 (C, "consultant", "hjorring"), (P, "peer", "reconnect"), (Q, "peer", "hjorring"),
                                 (R, "peer", "reconnect")):
        await s.join(who, role, programme)
    tomorrow_10 = datetime(2026, 3, 6, 9, 0, tzinfo=UTC)

    async def slots(uow: UnitOfWork) -> None:
        for name, who, at in (("near", P, tomorrow_10), ("far", P, tomorrow_10 + timedelta(days=30)),
                              ("other", Q, tomorrow_10), ("gone", R, tomorrow_10 + timedelta(hours=1))):
            member = await uow.staff.find(who.channel, who.external_id)
            assert member is not None
            s.slot[name] = (await uow.slots.add(member, starts_at=at, minutes=45, place="cafe", now=START)).id

    await s.run(slots)
    r_id = await s.staff_id(R)
    await s.run(lambda uow: s.casework.remove_staff(uow, r_id, START))
    s.referral["x"] = await s.intake(X, "19")
    await s.press(A, f"ref.{s.referral['x']}", "claim")
    s.referral["y"] = await s.intake(Y, "20")
    await s.press(B, f"ref.{s.referral['y']}", "pass")
    s.referral["z"] = await s.intake(Z, "21")
    await s.press(A, f"ref.{s.referral['z']}", "claim")
    await s.press(A, f"case.{s.referral['z']}", "close")
    s.referral["w"] = await s.intake(W, "40")  # outside reconnect's 15-24: redirected, offered to no one
    return s


def forged(s: Scene) -> list[tuple[str, Who, str, str]]:
    """(why, who, step, button): every press here must be refused."""
    x, y, z, w = (s.referral[k] for k in "xyzw")
    offer = [(f"ref.{r}", b) for b in OFFER_BUTTONS for r in (x, y, z, w)]
    case = [(f"case.{r}", b) for b in CASE_BUTTONS for r in (x, y, z, w)]
    slot = [("slot.list", "new"), ("slot.list", f"remove-{s.slot['near']}"), ("slot.day", TOMORROW),
            ("slot.time", f"{TOMORROW}1000"), ("slot.length", f"{TOMORROW}1000-45"),
            ("slot.place", f"{TOMORROW}1000-45-cafe"), ("slot.repeat", f"{TOMORROW}1000-45-cafe-1")]
    book = [(f"book.{x}", str(s.slot["near"])), (f"book.{x}", "more-1"), (f"book.{x}", "cancel")]
    # an escalation's "Seen" (none was opened here), malformed ids, and the buttons of the code before it
    alert = [("esc.1", "seen"), ("esc.x", "seen"), ("esc.²", "seen"), ("esc." + "9" * 5000, "seen"),
             ("alert.1", "seen"), ("chk.1", "checked")]
    cases: list[tuple[str, Who, str, str]] = []
    # a colleague: X's case is A's (B's old Claim and Export too), B passed Y, Z is closed, W was offered to no one
    cases += [("colleague", B, st, b) for st, b in offer + case if not (st == f"ref.{y}" and b == "pass")]
    cases += [("holder, closed or redirected", A, st, b) for st, b in offer + case
              if st.endswith((f".{z}", f".{w}"))]
    cases += [("holder, not a case yet", A, f"case.{y}", b) for b in CASE_BUTTONS]
    cases += [("holder, claimed already", A, f"ref.{x}", b) for b in ("claim", "pass")]
    cases += [("peer", P, st, b) for st, b in offer + case + book + alert]
    cases += [("candidate", X, st, b) for st, b in offer + case + slot + alert]
    cases += [("other programme", C, st, b) for st, b in offer + case + slot + book + alert]
    cases += [("other programme's peer", Q, "slot.list", f"remove-{s.slot['near']}")]
    cases += [("consultant on the peers' calendar", A, st, b) for st, b in slot]
    cases += [("stranger", STRANGER, st, b) for st, b in offer + case + slot + book + alert]
    cases += [("colleague, no alert", B, st, b) for st, b in alert]
    cases += [("another candidate", Y, st, b) for st, b in book]
    cases += [("own referral not claimed", Y, f"book.{y}", str(s.slot["near"]))]
    cases += [("slot of another programme", X, f"book.{x}", str(s.slot["other"])),
              ("slot out of the window", X, f"book.{x}", str(s.slot["far"])),
              ("slot of a removed peer", X, f"book.{x}", str(s.slot["gone"]))]
    return cases


async def test_every_forged_press_is_refused_audited_and_leaks_nothing(
        factory: async_sessionmaker[AsyncSession]) -> None:
    s = await scene(factory)
    async with UnitOfWork(factory) as uow:
        assert (await uow.referrals.get(s.referral["w"])) is not None
        statuses = {k: (await uow.referrals.get(v)).status for k, v in s.referral.items()}  # type: ignore[union-attr]
    assert statuses == {"x": "claimed", "y": "new", "z": "closed", "w": "redirected"}
    before = await s.state()
    a_name = "consultant11"
    matrix = forged(s)
    assert len(matrix) > 250
    for why, who, step, button in matrix:
        outbox_mark, audit_mark = await s.marks()
        await s.press(who, step, button)
        sent, audit = await s.since(outbox_mark, audit_mark)
        label = (why, who.chat_id, step, button)
        assert audit == ["denied"], label
        assert len(sent) == 1 and sent[0]["to"] == who.address.to_dict() and sent[0]["documents"] == [], label
        text = sent[0]["screens"][0]["text"]
        # B's Claim on its own offers of X and Z, taken by A: told who has it; everything else: the refusal
        taken = who == B and button == "claim" and step in (f"ref.{s.referral['x']}", f"ref.{s.referral['z']}")
        expected = DA("staff.taken", name=a_name) if taken else DA("staff.denied")
        assert text == expected, label
        assert await s.state() == before, label  # nothing changed

    # the same buttons work for whom they are meant: the holder and an open offer export; the peer adds a time
    for who, step in ((A, f"ref.{s.referral['x']}"), (A, f"case.{s.referral['x']}"), (A, f"ref.{s.referral['y']}")):
        outbox_mark, audit_mark = await s.marks()
        await s.press(who, step, "export")
        sent, audit = await s.since(outbox_mark, audit_mark)
        assert audit == ["referral.exported"] and len(sent[0]["documents"]) == 2, step
    outbox_mark, audit_mark = await s.marks()
    await s.press(P, "slot.repeat", f"{TOMORROW}1000-45-cafe-1")
    assert (await s.since(outbox_mark, audit_mark))[1] == ["slots.added"]
    await s.press(X, f"book.{s.referral['x']}", str(s.slot["near"]))
    slot = await s.run(lambda uow: uow.slots.get(s.slot["near"]))
    assert slot.referral_id == s.referral["x"]


async def test_new_times_must_be_sane(factory: async_sessionmaker[AsyncSession]) -> None:
    clock = ManualClock(START)
    s = Scene(factory, clock, Casework(FLOW.registry))
    await s.join(P, "peer", "reconnect")
    later = f"{(START + timedelta(days=91)):%Y%m%d}"
    odd = [("slot.day", "20260304"), ("slot.day", later), ("slot.time", "202603060300"),
           ("slot.time", f"{TOMORROW}2130"), ("slot.length", f"{TOMORROW}2030-60"),
           ("slot.place", f"{TOMORROW}1000-90-cafe"), ("slot.repeat", "202603051000-45-cafe-1"),  # this morning
           ("slot.repeat", f"{later}1000-45-cafe-1"), ("slot.repeat", f"{TOMORROW}0300-45-cafe-1"),
           ("slot.repeat", f"{TOMORROW}2030-60-cafe-1"), ("slot.repeat", "202605311000-45-cafe-4"),  # 4th > 90 days
           ("slot.repeat", "202603290230-30-cafe-1")]  # 02:30 does not exist that night (and is at night)
    message = DA("slots.out_of_range", days=90, first="07.00", last="21.00")
    for step, button in odd:
        outbox_mark, audit_mark = await s.marks()
        await s.press(P, step, button)
        sent, audit = await s.since(outbox_mark, audit_mark)
        assert audit == ["slots.refused"], (step, button)
        assert [m["screens"][0]["text"] for m in sent] == [message], (step, button)
    assert await s.run(lambda uow: uow.session.scalar(select(func.count()).select_from(Slot))) == 0
    for step, button in (("slot.day", TOMORROW), ("slot.repeat", f"{TOMORROW}0700-60-cafe-1"),
                         ("slot.repeat", f"{TOMORROW}2000-60-video-4")):
        outbox_mark, audit_mark = await s.marks()
        await s.press(P, step, button)
        assert "slots.refused" not in (await s.since(outbox_mark, audit_mark))[1], (step, button)
    assert await s.run(lambda uow: uow.session.scalar(select(func.count()).select_from(Slot))) == 5


async def test_wrong_invite_codes_are_counted_and_limited_per_person_and_hour(
        factory: async_sessionmaker[AsyncSession]) -> None:
    clock = ManualClock(START)
    s = Scene(factory, clock, Casework(FLOW.registry))
    code = await s.run(lambda uow: s.casework.invite(uow, role="consultant", programme_id="reconnect", name="Mia",
                                                     now=START))
    outbox_mark, audit_mark = await s.marks()
    for n in range(300):
        await s.run(lambda uow, n=n: s.casework.join(uow, STRANGER, f"guess-{n}", clock.now()))
    # the right code within the same hour is not even tried
    await s.run(lambda uow: s.casework.join(uow, STRANGER, code, clock.now()))
    sent, audit = await s.since(outbox_mark, audit_mark)
    texts = [m["screens"][0]["text"] for m in sent]
    assert texts == [DA("staff.invite.unknown")] * INVITE_TRIES + [DA("staff.invite.limited")]
    assert audit == ["invite.refused", "invite.limited"]
    rows = await s.run(lambda uow: uow.session.execute(select(InviteAttempt.attempts)))
    assert [r[0] for r in rows.all()] == [301]  # one counter, not a row per attempt
    assert await s.staff_id(STRANGER) == 0
    # another person is not limited by it; and after the hour the right code works
    outbox_mark, audit_mark = await s.marks()
    await s.run(lambda uow: s.casework.join(uow, Y, "guess-y", clock.now()))
    assert [m["screens"][0]["text"] for m in (await s.since(outbox_mark, audit_mark))[0]] == \
        [DA("staff.invite.unknown")]
    clock.advance(hours=1)
    await s.run(lambda uow: s.casework.join(uow, STRANGER, code, clock.now()))
    assert await s.staff_id(STRANGER) != 0
    rows = await s.run(lambda uow: uow.session.execute(select(InviteAttempt.subject_hash)))
    assert rows.all() == []  # past windows are dropped


async def test_a_second_invite_does_not_move_a_consultant(factory: async_sessionmaker[AsyncSession]) -> None:
    clock = ManualClock(START)
    s = Scene(factory, clock, Casework(FLOW.registry))
    await s.join(A, "consultant", "reconnect")
    a_id = await s.staff_id(A)
    for role, programme in (("consultant", "hjorring"), ("peer", "reconnect")):
        code = await s.run(lambda uow, r=role, p=programme: s.casework.invite(
            uow, role=r, programme_id=p, name="Again", now=START))
        outbox_mark, audit_mark = await s.marks()
        await s.run(lambda uow, c=code: s.casework.join(uow, A, c, clock.now()))
        sent, audit = await s.since(outbox_mark, audit_mark)
        assert [m["screens"][0]["text"] for m in sent] == [
            DA("staff.invite.already", programme=FLOW.registry["reconnect"].name("da"))]
        assert audit == ["invite.refused"]
        member = await s.run(lambda uow: uow.staff.get(a_id))
        assert (member.role, member.programme_id, member.name) == ("consultant", "reconnect", "consultant11")
    # once the coordinator removed them, the last invite (still unused) moves them
    await s.run(lambda uow: s.casework.remove_staff(uow, a_id, clock.now()))
    await s.run(lambda uow: s.casework.join(uow, A, code, clock.now()))
    member = await s.run(lambda uow: uow.staff.get(a_id))
    assert (member.role, member.programme_id, member.active) == ("peer", "reconnect", True)


async def test_a_removed_staff_members_press_is_audited_under_their_id(
        factory: async_sessionmaker[AsyncSession]) -> None:
    from storage.candidates import subject_hash

    s = await scene(factory)
    async with UnitOfWork(factory) as uow:  # R, a peer, was removed in the scene
        hashed = subject_hash(R.channel, R.external_id)
        r_id = await uow.session.scalar(select(Staff.id).where(Staff.subject_hash == hashed))
    assert r_id
    for who, actor in ((R, f"staff:{r_id}"), (STRANGER, "telegram:unknown"), (B, f"staff:{await s.staff_id(B)}")):
        _, audit_mark = await s.marks()
        await s.press(who, f"case.{s.referral['x']}", "export")  # X is A's case: refused to all three
        async with UnitOfWork(factory) as uow:
            rows = (await uow.session.scalars(select(AuditEvent).where(AuditEvent.id > audit_mark))).all()
        assert [(e.action, e.actor) for e in rows] == [("denied", actor)], who
