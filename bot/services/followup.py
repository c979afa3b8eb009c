"""Follow-up after the intake: asking a claimed case's person, at the programme's times, how things
are with work or study, and the instruments the programme asks then.

Transport-neutral like the casework: `schedule` (called by the channel's periodic loop) asks each
follow-up whose trigger has come, once: the `followups` row (unique per referral and follow-up id),
the question and the one reminder (an outbox message with a due time and the topic
``followup:<id>``) are written in one transaction, so a restart never asks twice. A follow-up not
answered within its window lapses ("no answer" in the report); answering, `/stop` and lapsing
withdraw the reminder; erasing the person erases all of it (cascade). One whose whole window passed
unasked (the bot was not running) is recorded as missed, never asked late, and counted in the report.
A risk answer is handled as at intake: stored at once as a risk event, crisis help shown first, and
the case's consultant and the programme's coordinators told (its consultants when there is neither),
with a button "Seen, I will make contact" (``alert.<follow-up id>``, checked on the server at press
time); unseen within the programme's `urgent_window_hours` it goes out once more (`resend_alerts`).
The dialogue is `flows.followup`; presses are checked on the server (only the person's own, open
follow-up).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.services.notify import Notifier, staff_address
from bot.services.policy import may_mark_alert_seen
from flows import followup as dialogue
from flows import instruments
from flows.address import Address
from flows.consent import FOLLOWUPS_SINCE
from flows.programmes import FollowUp as Spec
from flows.programmes import Programme, Registry
from flows.screens import Button, InputKind, Screen, Tone
from locales import Translator, format_when
from storage.models import Candidate, FollowUp, FollowUpStatus, Referral, Staff
from storage.repositories import UnitOfWork

if TYPE_CHECKING:
    from bot.services.notify import Who

log = logging.getLogger(__name__)

MISSED_PER_PASS = 100  # a backlog of missed follow-ups is recorded over several passes: short transactions
DEFAULT_WINDOW = timedelta(days=7)  # for a follow-up whose programme entry was removed since it was asked


def topic(followup_id: int) -> str:
    return f"followup:{followup_id}"


class FollowUps:
    def __init__(self, registry: Registry, notifier: Notifier) -> None:
        self.registry = registry
        self.notifier = notifier

    def spec(self, row: FollowUp) -> tuple[Programme, Spec] | None:
        programme = self.registry.get(row.programme_id)
        found = next((f for f in programme.followups if f.id == row.key), None) if programme else None
        return (programme, found) if programme is not None and found is not None else None

    # --- the periodic loop -----------------------------------------------------------------

    async def schedule(self, uow: UnitOfWork, now: datetime) -> list[int]:
        """Ask every follow-up whose trigger has come (once each), and lapse those left unanswered."""
        ids: list[int] = []
        for programme in self.registry.all():
            for spec in programme.followups:
                trigger = spec.trigger
                for referral, _intake, candidate in await uow.followups.due(
                        programme.id, spec.id, after=trigger.after, days=trigger.days, window_days=spec.window_days,
                        outcomes=trigger.outcomes, now=now, consent_since=FOLLOWUPS_SINCE):
                    ids += await self._ask(uow, programme, spec, referral, candidate, now)
                for referral, _intake, candidate in await uow.followups.missed(
                        programme.id, spec.id, after=trigger.after, days=trigger.days, window_days=spec.window_days,
                        outcomes=trigger.outcomes, now=now, consent_since=FOLLOWUPS_SINCE, limit=MISSED_PER_PASS):
                    await self._miss(uow, programme, spec, referral, candidate, now)
        for row in await uow.followups.open_sent_before(now - timedelta(days=2)):
            found = self.spec(row)
            window = timedelta(days=found[1].window_days) if found else DEFAULT_WINDOW
            if row.sent_at <= now - window:
                row.status, row.closed_at = FollowUpStatus.LAPSED.value, now
                await uow.outbox.withdraw(topic(row.id))
                await uow.audit.record(actor="system", action="followup.lapsed", at=now, referral_id=row.referral_id,
                                       detail=row.key)
        return ids

    @staticmethod
    def _start(spec: Spec, referral: Referral, candidate: Candidate) -> datetime | None:
        """When the follow-up's days count from; None when the person cannot be asked at all (a console
        intake, a blocked bot: never asked, nor counted)."""
        to = Address.from_dict(candidate.contact)
        if to is None or to.channel == "console" or candidate.unreachable:
            return None
        return referral.created_at if spec.trigger.after == "referral" else referral.outcome_at

    async def _miss(self, uow: UnitOfWork, programme: Programme, spec: Spec, referral: Referral,
                    candidate: Candidate, now: datetime) -> None:
        """A follow-up whose window passed unasked: recorded as missed (for the report), never asked late."""
        start = self._start(spec, referral, candidate)
        if start is None:
            return
        row = await uow.followups.add(candidate_id=candidate.id, referral_id=referral.id, programme_id=programme.id,
                                      key=spec.id, due_at=start + timedelta(days=spec.trigger.days), now=now,
                                      state=dialogue.begin(), status=FollowUpStatus.MISSED.value)
        if row is not None:
            await uow.audit.record(actor="system", action="followup.missed", at=now, referral_id=referral.id,
                                   detail=spec.id)

    async def _ask(self, uow: UnitOfWork, programme: Programme, spec: Spec, referral: Referral,
                   candidate: Candidate, now: datetime) -> list[int]:
        start = self._start(spec, referral, candidate)
        to = Address.from_dict(candidate.contact)
        if start is None or to is None:
            return []
        row = await uow.followups.add(candidate_id=candidate.id, referral_id=referral.id, programme_id=programme.id,
                                      key=spec.id, due_at=start + timedelta(days=spec.trigger.days), now=now,
                                      state=dialogue.begin())
        if row is None:  # asked already (another scheduler got there first)
            return []
        chat = to
        lang = referral.language
        first = dialogue.screen(row.state, spec, programme, lang, row.id, row.version)
        again = dialogue.screen(row.state, spec, programme, lang, row.id, row.version, reminder=True)
        ids = [await self.notifier.queue(uow, chat, [first], now, candidate_id=candidate.id),
               await self.notifier.queue(uow, chat, [again], now, candidate_id=candidate.id,
                                         due_at=now + timedelta(days=spec.reminder_days), topic=topic(row.id))]
        await uow.audit.record(actor="system", action="followup.asked", at=now, referral_id=referral.id,
                               detail=spec.id)
        return ids

    # --- the person's answers ----------------------------------------------------------------

    async def press(self, uow: UnitOfWork, who: Who, step: str, version: int, button: str, now: datetime) -> None:
        """A button on a follow-up question (``fu.<id>``): only the person's own follow-up."""
        number = step.removeprefix("fu.")
        row = await uow.followups.get(int(number)) if number.isdigit() else None
        own = await uow.candidates.find(who.channel, who.external_id)
        found = self.spec(row) if row is not None else None
        referral = await uow.referrals.get(row.referral_id) if row is not None else None
        if row is None or own is None or own.id != row.candidate_id or found is None or referral is None:
            await self.notifier.refuse(uow, who, step, button, now)
            return
        programme, spec = found
        lang = referral.language
        chat = who.address
        if button == "stop":
            await self.stop(uow, who, now)
            return
        if row.status != FollowUpStatus.OPEN.value:
            await self.notifier.queue(uow, chat, [Screen(Translator(lang)("followup.closed"))], now,
                                      candidate_id=own.id)
            return
        current = dialogue.screen(row.state, spec, programme, lang, row.id, row.version)
        if version != row.version:  # an older question (the reminder, a question answered already): ask again
            await self.notifier.queue(uow, chat, [current], now, candidate_id=own.id)
            return
        age = referral.payload.get("candidate", {}).get("age")
        reply = dialogue.answer(row.state, spec, programme, lang, button, age=age if isinstance(age, int) else None)
        if not reply.accepted:
            await self.notifier.queue(uow, chat, [*reply.screens] or [current], now, candidate_id=own.id)
            return
        row.state, row.version = reply.state, row.version + 1
        for risk in reply.risks:  # stored now, apart from the state (H1); content-free audit
            await uow.risks.record(candidate_id=own.id, intake_id=referral.intake_id, instrument=risk.instrument,
                                   item=risk.item, score=risk.score, at=now)
            await uow.audit.record(actor="candidate", action="risk.recorded", at=now, referral_id=referral.id,
                                   detail="followup")
        if reply.risks:
            await self._alert(uow, row, referral, programme, own, now)
        screens = list(reply.screens)
        if reply.done:
            row.status, row.answered_at = FollowUpStatus.ANSWERED.value, now
            await uow.outbox.withdraw(topic(row.id))
            await uow.audit.record(actor="candidate", action="followup.answered", at=now, referral_id=referral.id,
                                   detail=row.key)
        else:
            screens.append(dialogue.screen(row.state, spec, programme, lang, row.id, row.version))
        await self.notifier.queue(uow, chat, screens, now, candidate_id=own.id)

    async def stop(self, uow: UnitOfWork, who: Who, now: datetime) -> bool:
        """/stop (or the button): no more follow-ups for this person; their data stays. False if unknown."""
        candidate = await uow.candidates.find(who.channel, who.external_id)
        if candidate is None:
            return False
        if candidate.followups_stopped_at is None:
            candidate.followups_stopped_at = now
        for row in await uow.followups.open_of(candidate.id):
            row.status, row.closed_at = FollowUpStatus.STOPPED.value, now
            await uow.outbox.withdraw(topic(row.id))
            await uow.audit.record(actor="candidate", action="followup.stopped", at=now, referral_id=row.referral_id,
                                   detail=row.key)
        await self.notifier.queue(uow, who.address, [Screen(Translator(candidate.language)("followup.stopped"))],
                                  now, candidate_id=candidate.id)
        return True

    async def _alert(self, uow: UnitOfWork, row: FollowUp, referral: Referral, programme: Programme,
                     candidate: Candidate, now: datetime) -> list[int]:
        """A risk answer at follow-up reaches a person: the case's consultant and the coordinators.

        Each copy carries "Seen, I will make contact"; a new risk answer after a press needs a press again."""
        staff = await self._recipients(uow, referral, programme, everyone_on_watch=False)
        if not staff:
            log.error("programme %s has no consultant and no coordinator; a follow-up risk answer of case %s "
                      "told nobody", programme.id, referral.id)
        if row.alerted_at is None or row.alert_seen_at is not None:  # unseen still: the window runs from the first
            row.alerted_at, row.alert_seen_at, row.alert_seen_by, row.alert_resent_at = now, None, None, None
        return await self._send_alert(uow, row, referral, programme, staff, candidate.id, now, "followup.risk_sent")

    @staticmethod
    async def _recipients(uow: UnitOfWork, referral: Referral, programme: Programme, *,
                          everyone_on_watch: bool) -> list[Staff]:
        """Who gets a risk alert: the consultant holding the case and the coordinators; the programme's
        consultants when there are neither. Sent again (`everyone_on_watch`), the consultants too when
        the programme has no coordinator."""
        holder = await uow.staff.get(referral.consultant_id) if referral.consultant_id else None
        staff: list[Staff] = [holder] if holder is not None and holder.active else []
        watch = await uow.staff.on_watch(programme.id)  # the coordinators, or the consultants when none
        if everyone_on_watch or not staff or any(member.role == "coordinator" for member in watch):
            staff += [member for member in watch if member not in staff]
        return staff

    async def _send_alert(self, uow: UnitOfWork, row: FollowUp, referral: Referral, programme: Programme,
                          staff: list[Staff], subject: int, now: datetime, action: str, note: str = "") -> list[int]:
        ids = []
        for member in staff:
            t = Translator(member.language)
            text = t("staff.followup.risk", id=referral.id, programme=programme.name(t.lang))
            if note:
                text = t(note, hours=programme.urgent_window_hours) + "\n\n" + text
            seen = (Button("seen", t("staff.followup.risk.seen")),)
            screen = Screen(text, f"alert.{row.id}", 0, InputKind.CHOICE, seen, tone=Tone.CRISIS)
            copy = await uow.followups.add_copy(row.id, member.id, now)
            ids.append(await self.notifier.queue(uow, staff_address(member.contact), [screen], now,
                                                 subject_id=subject, alert_copy=copy.id))
            await uow.audit.record(actor=f"staff:{member.id}", action=action, at=now, referral_id=referral.id)
        return ids

    async def seen(self, uow: UnitOfWork, who: Who, number: str, button: str, ref: int,
                   now: datetime) -> list[int]:
        """"Seen, I will make contact" on a follow-up's risk alert (``alert.<id>``), checked now by
        `policy.may_mark_alert_seen`; anything else is refused and audited."""
        staff = await uow.staff.find(who.channel, who.external_id)
        row = await uow.followups.get(int(number)) if number.isdigit() else None
        referral = await uow.referrals.get(row.referral_id) if row is not None else None
        copies = await uow.followups.copies(row.id) if row is not None else []
        if (staff is None or row is None or referral is None
                or not may_mark_alert_seen(staff, row, referral, copies, button)):
            return [await self.notifier.refuse(uow, who, f"alert.{number}", button, now,
                                               referral_id=referral.id if referral else None)]
        t = Translator(staff.language)
        if not await uow.followups.mark_seen(row.id, staff.id, now):  # someone else was first: say who
            await uow.followups.refresh(row)
            first = await uow.staff.get(row.alert_seen_by) if row.alert_seen_by else None
            text = t("staff.followup.risk.taken", id=referral.id, name=first.name if first else "?")
            return [await self.notifier.queue(uow, who.address, [Screen(text)], now)]
        await uow.audit.record(actor=f"staff:{staff.id}", action="followup.risk_seen", at=now,
                               referral_id=referral.id)
        edits: dict[tuple[Address, int], str] = {(who.address, ref): staff.language}  # the presser's copy first
        for copy in copies:  # everyone else's copies say who took it, as claims do
            sent_to = Address.from_dict(copy.address)
            if sent_to is not None and copy.message_ref is not None:
                other = await uow.staff.get(copy.staff_id)
                edits.setdefault((sent_to, int(copy.message_ref)), other.language if other else staff.language)
        ids = []
        for (to, message), lang in edits.items():
            taken = Screen(Translator(lang)("staff.followup.risk.taken", id=referral.id, name=staff.name))
            ids.append(await self.notifier.queue(uow, to, [], now, edit=(message, taken)))
        return ids

    async def resend_alerts(self, uow: UnitOfWork, now: datetime) -> list[int]:
        """Risk alerts nobody marked seen within the programme's urgent window go out once more: to the
        consultant holding the case, the coordinators and whoever is on watch; audited."""
        programmes = self.registry.all()
        if not programmes:
            return []
        shortest = min(p.urgent_window_hours for p in programmes)
        ids: list[int] = []
        for row in await uow.followups.unseen_alerts(now - timedelta(hours=shortest)):
            programme = self.registry.get(row.programme_id)
            if (programme is None or row.alerted_at is None
                    or row.alerted_at > now - timedelta(hours=programme.urgent_window_hours)):
                continue  # its own programme's window has not passed yet
            referral = await uow.referrals.get(row.referral_id)
            if referral is None:
                continue
            staff = await self._recipients(uow, referral, programme, everyone_on_watch=True)
            if not staff:
                log.error("programme %s has no consultant and no coordinator; an unseen follow-up risk alert of "
                          "case %s told nobody", programme.id, referral.id)
            row.alert_resent_at = now
            ids += await self._send_alert(uow, row, referral, programme, staff, row.candidate_id, now,
                                          "followup.risk_resent", note="staff.followup.risk.resent")
        return ids

    # --- the case card -----------------------------------------------------------------------

    async def card(self, uow: UnitOfWork, referral: Referral, card: Screen, lang: str) -> Screen:
        """The case card with each follow-up's answers and the change of each score since last time."""
        rows = await uow.followups.of_referral(referral.id)
        if not rows:
            return card
        t = Translator(lang)
        programme = self.registry.get(referral.programme_id)
        zone = programme.timezone if programme else "UTC"
        previous: dict[str, float] = {iid: float(r.get("mean", r["total"]))
                                      for iid, r in referral.payload.get("instruments", {}).items()}
        lines = [t("staff.case.followups")]
        for row in rows:
            state = row.state
            if row.status == FollowUpStatus.ANSWERED.value or state.get("status"):
                status = t(f"followup.status.{state['status']}") if state.get("status") else ""
            else:
                status = t(f"staff.case.followup.{'waiting' if row.status == 'open' else row.status}")
            lines.append(t("staff.case.followup", when=format_when(row.sent_at, lang, zone), status=status))
            for iid, result in state.get("results", {}).items():
                instrument = instruments.load(iid)
                value = float(result.get("mean", result["total"]))
                before = previous.get(iid)
                change = "–" if before is None else f"{value - before:+g}"
                reliable = ""
                if before is not None and instrument.reliable_change is not None:
                    key = "reliable" if abs(value - before) >= instrument.reliable_change else "not_reliable"
                    reliable = t(f"staff.case.followup.{key}", threshold=f"{instrument.reliable_change:g}")
                lines.append(t("staff.case.followup.score", instrument=t(instrument.name), score=f"{value:g}",
                               change=change, reliable=reliable))
                previous[iid] = value
        return replace(card, text=card.text + "\n\n" + "\n".join(lines))
