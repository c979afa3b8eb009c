"""Follow-up after the intake: asking a claimed case's person, at the programme's times, how things
are with work or study, and the instruments the programme asks then.

Transport-neutral like the casework: `schedule` (called by the clocks of every process, `bot.services.clocks`) asks each
follow-up whose trigger has come, once: the `followups` row (unique per referral and follow-up id),
the question and the one reminder (an outbox message with a due time and the topic
``followup:<id>``) are written in one transaction, so a restart never asks twice. A follow-up not
answered within its window lapses ("no answer" in the report); answering, `/stop` and lapsing
withdraw the reminder; erasing the person erases all of it (cascade). One whose whole window passed
unasked (the bot was not running) is recorded as missed, never asked late, and counted in the report.
A risk answer is handled as at intake: stored at once as a risk event, crisis help shown first, and
an escalation opened (`bot.services.escalation`): the consultant holding the case first, then up the
ladder until a named person presses "Seen — I will make contact".
The dialogue is `flows.followup`; presses are checked on the server (only the person's own, open
follow-up).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.services.escalation import Escalations
from bot.services.notify import Notifier
from bot.services.policy import record_id
from flows import followup as dialogue
from flows.address import Address
from flows.consent import FOLLOWUPS_SINCE
from flows.followup_rules import Asked, Press, askable, card_lines, counts_from, lapses, press_on
from flows.programmes import FollowUp as Spec
from flows.programmes import Programme, Registry
from flows.screens import Screen
from locales import Translator
from storage.models import Candidate, FollowUp, FollowUpStatus, Referral
from storage.repositories import UnitOfWork

if TYPE_CHECKING:
    from bot.services.notify import Who

log = logging.getLogger(__name__)

MISSED_PER_PASS = 100  # a backlog of missed follow-ups is recorded over several passes: short transactions


def topic(followup_id: int) -> str:
    return f"followup:{followup_id}"


class FollowUps:
    def __init__(self, registry: Registry, notifier: Notifier, escalations: Escalations) -> None:
        self.registry = registry
        self.notifier = notifier
        self.escalations = escalations

    def spec(self, row: FollowUp) -> tuple[Programme, Spec] | None:
        programme = self.registry.get(row.programme_id)
        found = next((f for f in programme.followups if f.id == row.key), None) if programme else None
        return (programme, found) if programme is not None and found is not None else None

    # --- the clocks --------------------------------------------------------------------------

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
            if lapses(row.sent_at, found[1].window_days if found else None, now):
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
        if not askable(to.channel if to else None, candidate.unreachable):
            return None
        return counts_from(spec.trigger.after, referral.created_at, referral.outcome_at)

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
        lang = referral.language
        first = dialogue.screen(row.state, spec, programme, lang, row.id, row.version)
        again = dialogue.screen(row.state, spec, programme, lang, row.id, row.version, reminder=True)
        ids = [await self.notifier.queue(uow, to, [first], now, candidate_id=candidate.id),
               await self.notifier.queue(uow, to, [again], now, candidate_id=candidate.id,
                                         due_at=now + timedelta(days=spec.reminder_days), topic=topic(row.id))]
        await uow.audit.record(actor="system", action="followup.asked", at=now, referral_id=referral.id,
                               detail=spec.id)
        return ids

    # --- the person's answers ----------------------------------------------------------------

    async def press(self, uow: UnitOfWork, who: Who, step: str, version: int, button: str, now: datetime) -> None:
        """A button on a follow-up question (``fu.<id>``): only the person's own follow-up."""
        number = step.removeprefix("fu.")
        followup_id = record_id(number)
        row = await uow.followups.get(followup_id) if followup_id is not None else None
        own = await uow.candidates.find(who.channel, who.external_id)
        found = self.spec(row) if row is not None else None
        referral = await uow.referrals.get(row.referral_id) if row is not None else None
        if row is None or own is None or own.id != row.candidate_id or found is None or referral is None:
            await self.notifier.refuse(uow, who, step, button, now)
            return
        programme, spec = found
        lang = referral.language
        to = who.address
        decision = press_on(button, row.status == FollowUpStatus.OPEN.value, version, row.version)
        if decision is Press.STOP:
            await self.stop(uow, who, now)
            return
        if decision is Press.CLOSED:
            await self.notifier.queue(uow, to, [Screen(Translator(lang)("followup.closed"))], now,
                                      candidate_id=own.id)
            return
        current = dialogue.screen(row.state, spec, programme, lang, row.id, row.version)
        if decision is Press.ASK_AGAIN:  # an older question (the reminder, one answered already): ask again
            await self.notifier.queue(uow, to, [current], now, candidate_id=own.id)
            return
        age = referral.payload.get("candidate", {}).get("age")
        reply = dialogue.answer(row.state, spec, programme, lang, button, age=age if isinstance(age, int) else None)
        if not reply.accepted:
            await self.notifier.queue(uow, to, [*reply.screens] or [current], now, candidate_id=own.id)
            return
        row.state, row.version = reply.state, row.version + 1
        for risk in reply.risks:  # stored now, apart from the state (H1); content-free audit
            await uow.risks.record(candidate_id=own.id, intake_id=referral.intake_id, instrument=risk.instrument,
                                   item=risk.item, score=risk.score, at=now)
            await uow.audit.record(actor="candidate", action="risk.recorded", at=now, referral_id=referral.id,
                                   detail="followup")
        if reply.risks:  # a named person will see it: the case's holder first, then up the ladder
            await self.escalations.followup_risk(uow, referral, row.id, own.id, now)
        screens = list(reply.screens)
        if reply.done:
            row.status, row.answered_at = FollowUpStatus.ANSWERED.value, now
            await uow.outbox.withdraw(topic(row.id))
            await uow.audit.record(actor="candidate", action="followup.answered", at=now, referral_id=referral.id,
                                   detail=row.key)
        else:
            screens.append(dialogue.screen(row.state, spec, programme, lang, row.id, row.version))
        await self.notifier.queue(uow, to, screens, now, candidate_id=own.id)

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

    # --- the case card -----------------------------------------------------------------------

    async def card(self, uow: UnitOfWork, referral: Referral, card: Screen, lang: str) -> Screen:
        """The case card with each follow-up's answers and the change of each score since last time."""
        rows = await uow.followups.of_referral(referral.id)
        if not rows:
            return card
        programme = self.registry.get(referral.programme_id)
        asked = [Asked(row.status, row.status == FollowUpStatus.OPEN.value, row.status == FollowUpStatus.ANSWERED.value,
                       row.state, row.sent_at) for row in rows]
        lines = card_lines(asked, referral.payload.get("instruments", {}), lang,
                           programme.timezone if programme else "UTC")
        return replace(card, text=card.text + "\n\n" + "\n".join(lines))
