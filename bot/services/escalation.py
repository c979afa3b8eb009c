"""Every urgent case ends with a named person who has seen it: the escalation, written once.

`flows.escalation` decides (who is told next, and when); this service loads who is on each rung,
sends each of them the case with "Seen — I will make contact", stores the new state and audits it.
What opens an escalation:

- a risk answer in an intake (`risk_given`, from `IntakeService`, the conversation and the web form alike):
  pending until the intake had its time to finish;
- an urgent referral, finished or partial, eligible or outside the target group (`for_referral`);
- a risk answer at a follow-up (`followup_risk`);
- an urgent case whose consultant was removed (`holder_left`).

Its steps are taken by the clocks of every long-running process (`bot.services.clocks`). It ends when
a named person presses "Seen" (checked on the server by `policy.may_mark_seen`) or claims the case,
or with the person's own erasure (the rows go with them).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from bot.services import staff_detail
from bot.services.notify import Notifier, Who, staff_address
from bot.services.policy import may_mark_seen, record_id
from flows import escalation as ladder_rules
from flows.address import Address
from flows.escalation import RUNGS, Ladder, Status
from flows.programmes import Programme, Registry
from flows.screens import Button, InputKind, Screen, Tone
from flows.summary import summary_text
from flows.triage import goes_to_consultant
from locales import Translator
from storage.escalations import state_of, store
from storage.models import Escalation, EscalationCause, Referral, ReferralStatus, Staff
from storage.repositories import UnitOfWork

log = logging.getLogger(__name__)

STEP = "esc"  # a copy's button: "esc.<id>" | "seen"
RETRY = timedelta(hours=1)  # a step that could not be taken is tried again then, behind the others


def window(programme: Programme) -> timedelta:
    return timedelta(hours=programme.urgent_window_hours)


class Escalations:
    def __init__(self, registry: Registry, notifier: Notifier) -> None:
        self.registry = registry
        self.notifier = notifier

    # --- opening ----------------------------------------------------------------------------------

    async def risk_given(self, uow: UnitOfWork, candidate_id: int, programme_id: str, now: datetime) -> None:
        """A risk answer in an intake: pending until the intake had its time to finish (one per person)."""
        programme = self.registry.get(programme_id)
        open_ones = await uow.escalations.open_of(candidate_id, EscalationCause.INTAKE.value)
        if programme is None or any(row.referral_id is None for row in open_ones):
            return  # one is pending for this intake already (one for an earlier referral does not cover it)
        state = ladder_rules.pending(now, timedelta(hours=programme.risk_abandon_hours), window(programme))
        await uow.escalations.open(candidate_id=candidate_id, programme_id=programme.id,
                                   cause=EscalationCause.INTAKE.value, state=state, now=now)
        await uow.audit.record(actor="system", action="escalation.opened", at=now)

    async def for_referral(self, uow: UnitOfWork, referral: Referral, candidate_id: int, now: datetime) -> list[int]:
        """An urgent referral (finished or partial): the person's pending escalation, or a new one, steps now."""
        rows = await uow.escalations.open_of(candidate_id, EscalationCause.INTAKE.value)
        row = next((r for r in rows if r.referral_id in (None, referral.id)), None)
        if row is None:
            row = await uow.escalations.open(candidate_id=candidate_id, programme_id=referral.programme_id,
                                             cause=EscalationCause.INTAKE.value, referral_id=referral.id,
                                             state=ladder_rules.Escalation(Status.SENT, next_at=now), now=now)
        row.referral_id, row.programme_id = referral.id, referral.programme_id
        if row.status == Status.UNREACHED.value or row.rung >= 0:
            return []  # told already (or waiting for anyone): the ladder goes on as it was
        return await self.step(uow, row, now)

    async def followup_risk(self, uow: UnitOfWork, referral: Referral, followup_id: int, candidate_id: int,
                            now: datetime) -> list[int]:
        """A risk answer at a follow-up: a new escalation unless one of this follow-up is still unseen."""
        if any(r.followup_id == followup_id
               for r in await uow.escalations.open_of(candidate_id, EscalationCause.FOLLOWUP.value)):
            return []
        row = await uow.escalations.open(candidate_id=candidate_id, programme_id=referral.programme_id,
                                         cause=EscalationCause.FOLLOWUP.value, referral_id=referral.id,
                                         followup_id=followup_id,
                                         state=ladder_rules.Escalation(Status.SENT, next_at=now), now=now)
        return await self.step(uow, row, now)

    async def again(self, uow: UnitOfWork, referral: Referral, candidate_id: int, now: datetime, *,
                    cause: EscalationCause = EscalationCause.INTAKE) -> list[int]:
        """The ladder again from the bottom, now: an urgent case whose consultant left (`HOLDER_LEFT`), or a
        partial one now completed outside the target group with nobody holding it (someone checks). Its
        unseen escalation starts over; a seen one stays seen, and a new one starts."""
        row = next((r for r in await uow.escalations.of_referral(referral.id)
                    if r.status in (Status.PENDING.value, Status.SENT.value, Status.UNREACHED.value)), None)
        if row is None:
            row = await uow.escalations.open(candidate_id=candidate_id, programme_id=referral.programme_id,
                                             cause=cause.value, referral_id=referral.id,
                                             state=ladder_rules.reopen(now), now=now)
        else:
            store(row, ladder_rules.reopen(now))
        return await self.step(uow, row, now)

    # --- stepping ---------------------------------------------------------------------------------

    async def ladder(self, uow: UnitOfWork, programme_id: str, referral: Referral | None) -> tuple[Ladder,
                                                                                                    dict[int, Staff]]:
        """Who is on each rung now, and the staff by id."""
        holder = await uow.staff.get(referral.consultant_id) if referral and referral.consultant_id else None
        holders = [holder] if holder is not None and holder.active and holder.role == "consultant" else []
        consultants = await uow.staff.with_role(programme_id, "consultant")
        coordinators = await uow.staff.with_role(programme_id, "coordinator")
        operators = await uow.escalations.operators()
        by_id = {s.id: s for s in (*holders, *consultants, *coordinators, *operators)}
        ids = [tuple(s.id for s in group) for group in (holders, consultants, coordinators, operators)]
        return Ladder(*ids), by_id

    async def step(self, uow: UnitOfWork, row: Escalation, now: datetime) -> list[int]:
        """Take the next step of `row` now: tell the next rung (or the top again), or wait for anyone."""
        programme = self.registry.get(row.programme_id)
        referral = await uow.referrals.get(row.referral_id) if row.referral_id else None
        if programme is None or referral is None:  # its programme file removed, or the referral erased
            log.error("escalation %s has no %s; tried again in an hour", row.id,
                      "programme" if programme is None else "referral")
            row.next_at = now + RETRY
            return []
        ladder, staff = await self.ladder(uow, programme.id, referral)
        before = state_of(row)
        taken = ladder_rules.step(before, ladder, now, window(programme))
        store(row, taken.escalation)
        if not taken.send_to:
            log.error("programme %s: an urgent case (escalation %s) can reach nobody: no consultant, coordinator or "
                      "operator; it waits for the first who joins", programme.id, row.id)
            await uow.audit.record(actor="system", action="escalation.unreached", at=now, referral_id=referral.id)
            return []
        if row.sent_at is None:
            row.sent_at = now
        offered = await self._offered(uow, row, referral) if not taken.again else set()
        upcoming = ladder_rules.next_rung(taken.escalation, ladder)
        ids = []
        for staff_id in taken.send_to:
            member = staff[staff_id]
            if staff_id in offered and taken.rung == RUNGS.index("consultants"):
                continue  # their offer of it has the summary, Claim and Seen already
            ids.append(await self._send(uow, row, referral, programme, member, taken.rung, upcoming, now))
        await uow.audit.record(actor="system", action="escalation.resent" if taken.again else "escalation.sent",
                               at=now, referral_id=referral.id, detail=RUNGS[taken.rung])
        return ids

    @staticmethod
    async def _offered(uow: UnitOfWork, row: Escalation, referral: Referral) -> set[int]:
        """Consultants whose open offer of this urgent referral is their copy (it has the summary and "Seen")."""
        if row.cause != EscalationCause.INTAKE.value or not referral.urgent \
                or referral.status != ReferralStatus.NEW.value:
            return set()
        return {o.staff_id for o in await uow.cases.offers(referral.id) if not o.passed}

    async def _send(self, uow: UnitOfWork, row: Escalation, referral: Referral, programme: Programme, member: Staff,
                    rung: int, upcoming: int | None, now: datetime) -> int:
        t = Translator(member.language)
        when = format_datetime(row.next_at or now, "d. MMMM HH:mm", tzinfo=ZoneInfo(programme.timezone), locale=t.lang)
        nxt = (t("staff.escalation.next", who=t(f"staff.escalation.rung.{RUNGS[upcoming]}"), when=when)
               if upcoming is not None else t("staff.escalation.again", when=when))
        head = [t(f"staff.escalation.title.{self._kind(row, referral)}", id=referral.id,
                  programme=programme.name(t.lang)),
                t(f"staff.escalation.as.{RUNGS[rung]}"), nxt]
        text = "\n".join(head) + "\n\n" + summary_text(referral.id, referral.payload, programme, member.language,
                                                      await self._consent_at(uow, referral))
        seen = (Button("seen", t("staff.escalation.seen")),)
        screen = Screen(text, f"{STEP}.{row.id}", 0, InputKind.CHOICE, seen, tone=Tone.CRISIS)
        screen = staff_detail.copy(screen, referral.id, programme, member.language)  # STAFF_CHAT_DETAIL
        copy = await uow.escalations.add_copy(row.id, member.id, rung, now)
        await uow.audit.record(actor=f"staff:{member.id}", action="escalation.copy_sent", at=now,
                               referral_id=referral.id)
        return await self.notifier.queue(uow, staff_address(member.contact), [screen], now,
                                         subject_id=row.candidate_id, alert_copy=copy.id)

    @staticmethod
    def _kind(row: Escalation, referral: Referral) -> str:
        if row.cause == EscalationCause.FOLLOWUP.value:
            return "followup"
        if row.cause == EscalationCause.HOLDER_LEFT.value:
            return "holder_left"
        if not goes_to_consultant(referral.outcome):
            return "outside"
        return "partial" if referral.payload.get("partial") else "urgent"

    @staticmethod
    async def _consent_at(uow: UnitOfWork, referral: Referral) -> datetime | None:
        intake = await uow.intakes.get(referral.intake_id)
        return intake.consent_at if intake is not None else None

    async def reach_waiting(self, uow: UnitOfWork, staff: Staff, now: datetime) -> list[int]:
        """Someone joined: every escalation that could reach nobody, of their programme (an operator: of
        all), goes to them (and whoever else is on the ladder now) at once."""
        programmes = None if staff.role == "operator" else [staff.programme_id]
        ids: list[int] = []
        for row in await uow.escalations.unreached(programmes):
            ids += await self.step(uow, row, now)
        return ids

    async def staff_left(self, uow: UnitOfWork, staff: Staff, now: datetime) -> list[int]:
        """A member of staff was removed: an unseen escalation whose rung told last has nobody left on it
        (or whose every told person is gone) steps now, rather than leaving its next step to a rung that
        can no longer press "Seen"."""
        ids: list[int] = []
        for row in await uow.escalations.all_open():
            if row.status != Status.SENT.value or staff.id not in (row.told or []):
                continue
            copies = await uow.escalations.copies(row.id)
            current = {c.staff_id for c in copies if c.rung == row.rung} or set(row.told)
            members = [await uow.staff.get(staff_id) for staff_id in current]
            if not any(member is not None and member.active for member in members):
                ids += await self.step(uow, row, now)
        return ids

    # --- seeing -----------------------------------------------------------------------------------

    async def press(self, uow: UnitOfWork, who: Who, number: str, button: str, ref: int,
                    now: datetime) -> list[int]:
        """"Seen — I will make contact" (``esc.<id>``), checked now by `policy.may_mark_seen`."""
        staff = await uow.staff.find(who.channel, who.external_id)
        found = record_id(number)
        row = await uow.escalations.get(found) if found is not None else None
        referral = await uow.referrals.get(row.referral_id) if row is not None and row.referral_id else None
        copies = await uow.escalations.copies(row.id) if row is not None else []
        if row is None or not may_mark_seen(staff, row, referral, copies, button):
            return [await self.notifier.refuse(uow, who, f"{STEP}.{number}", button, now,
                                               referral_id=referral.id if referral else None)]
        if staff is None:  # may_mark_seen refuses nobody; this keeps the type checker sure of it
            return []
        return await self.mark_seen(uow, row, staff, now, pressed=(who.address, ref))

    async def seen_on_offer(self, uow: UnitOfWork, staff: Staff, referral: Referral, ref: int,
                            now: datetime) -> list[int]:
        """"Seen" on an urgent offer (the consultant's offer is their copy): every open escalation of it."""
        ids: list[int] = []
        rows = await uow.escalations.of_referral(referral.id)
        for row in rows:
            if row.status in (Status.SENT.value, Status.UNREACHED.value):  # their offer keeps its Claim
                ids += await self.mark_seen(uow, row, staff, now, pressed=None)
        if not ids and rows and rows[-1].seen_by is not None:  # seen already: say who took it
            first = await uow.staff.get(rows[-1].seen_by)
            text = Translator(staff.language)("staff.escalation.taken", id=referral.id,
                                              name=first.name if first else "?")
            ids.append(await self.notifier.queue(uow, staff_address(staff.contact), [Screen(text)], now))
        return ids

    async def claimed(self, uow: UnitOfWork, referral: Referral, staff: Staff, now: datetime) -> list[int]:
        """A claim is seen by a named person: the claimer holds the case and makes contact."""
        ids: list[int] = []
        for row in await uow.escalations.of_referral(referral.id):
            if row.status in (Status.PENDING.value, Status.SENT.value, Status.UNREACHED.value):
                ids += await self.mark_seen(uow, row, staff, now, pressed=None)
        return ids

    async def mark_seen(self, uow: UnitOfWork, row: Escalation, staff: Staff, now: datetime, *,
                        pressed: tuple[Address, int] | None) -> list[int]:
        """The first press counts (one conditional update); every copy then says who took it."""
        t = Translator(staff.language)
        if not await uow.escalations.mark_seen(row.id, staff.id, now):
            await uow.escalations.refresh(row)
            first = await uow.staff.get(row.seen_by) if row.seen_by else None
            if pressed is None:
                return []
            text = t("staff.escalation.taken", id=row.referral_id or "", name=first.name if first else "?")
            return [await self.notifier.queue(uow, pressed[0], [Screen(text)], now)]
        await uow.escalations.refresh(row)
        await uow.audit.record(actor=f"staff:{staff.id}", action="escalation.seen", at=now,
                               referral_id=row.referral_id)
        edits: dict[tuple[Address, int], str] = {}
        if pressed is not None:
            edits[pressed] = staff.language
        for copy in await uow.escalations.copies(row.id):
            sent_to = Address.from_dict(copy.address)
            if sent_to is not None and copy.message_ref is not None:
                other = await uow.staff.get(copy.staff_id)
                edits.setdefault((sent_to, int(copy.message_ref)), other.language if other else staff.language)
        ids = []
        for (to, message), lang in edits.items():
            taken = Screen(Translator(lang)("staff.escalation.taken", id=row.referral_id or "", name=staff.name))
            ids.append(await self.notifier.queue(uow, to, [], now, edit=(message, taken)))
        return ids

    # --- what the candidate is told, and who can be reached -----------------------------------------

    async def reachable(self, uow: UnitOfWork, programme_id: str) -> str:
        """Who an urgent case of this programme reaches first: "consultants", "coordinators", "operators" or
        "nobody" (for what the candidate is told, and for the start-up check)."""
        ladder, _ = await self.ladder(uow, programme_id, None)
        for name, members in zip(RUNGS, ladder.rungs, strict=True):
            if members:
                return name
        return "nobody"
