"""Runs one answer of one person through the flow and stores the result in one transaction.

Every channel (the console, the web form and the others in `bot/channels/`) calls this; none of them
holds dialogue logic or touches the database directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.clock import Clock
from bot.services.actions import first_time
from bot.services.casework import Casework
from bot.services.erasure import erase
from bot.services.escalation import RETRY
from bot.services.person import Person as Person  # re-exported: channels import it from here
from flows import instruments
from flows.answers import Answer, Command
from flows.escalation import Status as EscalationStatus
from flows.intake import Event, IntakeFlow, Reply
from flows.screens import Screen
from flows.status import IntakeStatus, ReferralStatus
from flows.triage import goes_to_consultant
from locales import Translator
from storage.outbox import OutboxPayload, Payloads
from storage.repositories import StaleStateError, UnitOfWork
from storage.risks import as_listed

log = logging.getLogger(__name__)


@dataclass(slots=True)
class IntakeResult:
    """What one answer to the intake service came to: the screens to show, the state, the events, and
    the outbox messages written (not `flows.triage.Outcome`, the triage's result)."""

    screens: list[Screen]
    state: dict[str, Any]
    events: list[Event]
    duplicate: bool = False
    stale: bool = False  # a tap on an old button; nothing changed
    outbox_id: int | None = None  # the replies, committed with the answer, waiting to be sent
    personal_data: dict[str, Any] | None = None  # after /mydata: everything stored about the person
    others: list[int] = field(default_factory=list)  # outbox messages to other people (consultants)
    payloads: Payloads = field(default_factory=dict)  # payloads of those just written

    @property
    def finished(self) -> bool:
        return self.state.get("status") != IntakeStatus.ACTIVE.value or any(e.kind == "delete" for e in self.events)


Deliver = Callable[[IntakeResult], OutboxPayload]  # the channel's outbox row for the replies


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


async def personal_data(uow: UnitOfWork, candidate: Any) -> dict[str, Any]:
    """A person's copy of everything stored about them (GDPR art. 15 and 20), as JSON data."""
    intakes = []
    for intake in await uow.intakes.all_of(candidate.id):
        state = intake.state or {}
        referral = await uow.referrals.for_intake(intake.id)
        intakes.append({
            "programme": intake.programme_id,
            "language": intake.language,
            "status": intake.status,
            "started_at": _iso(intake.started_at),
            "completed_at": _iso(intake.completed_at),
            "consent": {"version": intake.consent_version, "given_at": _iso(intake.consent_at),
                        "language": intake.consent_language},
            "answers": state.get("answers", {}),
            "flags": state.get("flags", []),
            "referral": None if referral is None else {
                "id": referral.id, "created_at": _iso(referral.created_at), "status": referral.status,
                "outcome": referral.outcome, "reason": referral.reason, "urgent": referral.urgent,
                "content": referral.payload,
            },
        })
    return {
        "channel": candidate.channel,
        "language": candidate.language,
        "first_contact": _iso(candidate.created_at),
        "intakes": intakes,
        "risk_answers": as_listed(await uow.risks.of_candidate(candidate.id)),
    }


async def _kept(uow: UnitOfWork, candidate_id: int) -> list[str]:
    """What is stored about the person before a new intake begins (`State.kept`): their risk answers,
    a referral. The flow cannot know it, and what it tells the person on declining must be true."""
    kept = ["risk"] if await uow.risks.of_candidate(candidate_id) else []
    return kept + (["referral"] if await uow.referrals.of_candidate(candidate_id) else [])



class IntakeService:
    def __init__(self, uow: Callable[[], UnitOfWork], flow: IntakeFlow, clock: Clock,
                 casework: Casework | None = None) -> None:
        self._uow = uow
        self.flow = flow
        self.clock = clock
        self.casework = casework or Casework(flow.registry)

    async def start(self, person: Person, programme: str | None = None, *, anew: bool = False) -> IntakeResult:
        """``/start [programme]``: a new intake, or the current question of the one under way.

        `anew` begins a new intake even after a finished one (console ``--reset``).
        """
        return await self.answer(person, Command("start", programme or ""), anew=anew)

    async def answer(self, person: Person, answer: Answer, *, event_id: int | None = None,
                     source: str = "", anew: bool = False, deliver: Deliver | None = None) -> IntakeResult:
        """One answer in one transaction.

        `event_id`, if given, is the channel's id of the event that carried the answer, in its update
        inbox `source`: marked handled in this transaction, so a repeat changes nothing.

        `deliver`, if given, turns the outcome into the adapter's rendered replies; they are written
        to the outbox in the same transaction, so a crash before sending loses nothing.
        """
        now = self.clock.now()
        async with self._uow() as uow:
            if event_id is not None and not await first_time(uow, source, event_id, now):
                return IntakeResult([], {}, [], duplicate=True)  # seen before: acknowledged, not repeated
            candidate, intake = await uow.candidates.get_or_create_with_latest(
                person.channel, person.external_id, language=person.language or "en", now=now,
                contact=person.address.to_dict() if person.address else None,
            )
            if anew and intake is not None and intake.status == IntakeStatus.ACTIVE.value:
                await self._withdraw(uow, intake, now, candidate.id)
            if intake is None or intake.status == IntakeStatus.WITHDRAWN.value or anew:
                programme = answer.arg if isinstance(answer, Command) and answer.name == "start" else None
                reply = self.flow.begin(programme or None, person.language)
                if not (isinstance(answer, Command) and answer.name == "start"):
                    reply = self._then(reply, answer)
                reply.state = self.flow.with_kept(reply.state, await _kept(uow, candidate.id))
                intake = await uow.intakes.start(
                    candidate.id, programme_id=reply.state.get("programme") or "",
                    language=reply.state["lang"], state=reply.state, now=now,
                )
            else:
                reply = self.flow.handle(intake.state, answer)
            for event in reply.events:
                intake = await self._apply(uow, event, candidate, intake, reply, now)
            if intake is not None:
                await uow.intakes.save_state(
                    intake, reply.state, programme_id=reply.state.get("programme") or "",
                    language=reply.state["lang"], now=now,
                )
            if log.isEnabledFor(logging.DEBUG):  # the log id is a keyed hash: not made for nothing
                log.debug("person %s at step %s", person.log_id, reply.state.get("step"))
            outcome = IntakeResult(reply.screens, reply.state, reply.events, stale=reply.stale)
            if intake is not None and any(e.kind == "mydata" for e in reply.events):
                outcome.personal_data = await personal_data(uow, candidate)
            if deliver is not None:
                outcome.outbox_id = await uow.outbox.add(
                    channel=person.channel, payload=deliver(outcome), now=now,
                    candidate_id=candidate.id if intake is not None else None,  # None once erased
                )
            outcome.others = [i for i in uow.outbox.added if i != outcome.outbox_id and i in uow.outbox.payloads]
            outcome.payloads = dict(uow.outbox.payloads)
            return outcome

    def _then(self, reply: Reply, answer: Answer) -> Reply:
        """Apply a first answer to a just-begun intake (someone who typed before /start)."""
        nxt = self.flow.handle(reply.state, answer)
        return Reply(nxt.state, [*reply.screens[:-1], *nxt.screens], nxt.events, nxt.stale)

    async def _apply(self, uow: UnitOfWork, event: Event, candidate: Any, intake: Any, reply: Reply,
                     now: Any) -> Any:
        """Persist one event; returns the intake the new state belongs to (None once erased)."""
        if event.kind == "consent":
            await uow.intakes.record_consent(
                intake, version=event.data["version"], language=event.data["language"], at=now
            )
            # risk answers of an earlier, restarted or abandoned intake stay with the person (H1)
            earlier = await uow.risks.of_candidate(candidate.id)
            reply.state = self.flow.with_risks(
                reply.state, [f"{e.detail['instrument']}.{e.detail['item']}" for e in earlier])
        elif event.kind == "risk":  # stored now, apart from the state: /restart or leaving cannot lose it
            await self._record_risk(uow, candidate.id, intake, event.data["instrument"], event.data["item"],
                                    int(event.data["score"]), now)
        elif event.kind == "declined":
            await uow.intakes.finish(intake, status=IntakeStatus.DECLINED, now=now)
        elif event.kind == "completed":
            await self._completed(uow, event, candidate, intake, reply, now)
        elif event.kind == "language":
            candidate.language = event.data["lang"]
        elif event.kind == "restart":
            if intake.status == IntakeStatus.ACTIVE.value:
                await self._withdraw(uow, intake, now, candidate.id)
            reply.state = self.flow.with_kept(reply.state, await _kept(uow, candidate.id))
            return await uow.intakes.start(
                candidate.id, programme_id=reply.state.get("programme") or "",
                language=reply.state["lang"], state=reply.state, now=now,
            )
        elif event.kind == "delete":
            await erase(uow, self.casework, candidate.id, now)  # consultants learn only that it was withdrawn
            await uow.audit.record(actor="candidate:erased", action="candidate.erased", at=now)
            return None
        return intake

    async def _completed(self, uow: UnitOfWork, event: Event, candidate: Any, intake: Any, reply: Reply,
                         now: Any) -> None:
        """The finished intake: its referral, made once (or an urgent partial one completed), and who is told."""
        triage = event.data["triage"]
        # every risk answer of the person, with when it was given (also from earlier intakes)
        event.data["risks"] = as_listed(await uow.risks.of_candidate(candidate.id))
        referral, created = await uow.referrals.create_once(
            intake, programme_id=event.data["programme"], language=event.data["language"],
            outcome=triage["outcome"], reason=triage["reason"], urgent=triage["urgent"],
            priority=triage["priority"],
            status=ReferralStatus.NEW.value if goes_to_consultant(triage["outcome"])
            else ReferralStatus.REDIRECTED.value,
            payload=event.data, now=now,
        )
        await uow.intakes.finish(intake, status=IntakeStatus.COMPLETED, now=now)
        if created:  # content-free: no outcome; the actor is the intake's random reference, erased with it
            await uow.audit.record(actor=f"candidate:{intake.actor_ref or 'unknown'}", action="referral.created",
                                   at=now, referral_id=referral.id)
            if referral.status == ReferralStatus.NEW.value:  # to the consultants, in this same transaction
                place = await self.casework.dispatch(uow, referral, intake.consent_at, now)
                if place is not None and not referral.urgent:  # urgent: "as soon as possible" stands
                    reply.screens.append(Screen(Translator(reply.state["lang"])("waiting.place", place=place)))
            if referral.urgent:  # a named person sees it (outside the target group: checks they got help)
                await self.casework.escalations.for_referral(uow, referral, candidate.id, now)
            if referral.urgent and goes_to_consultant(referral.outcome):  # promised a call: who makes it
                await self._who_will_call(uow, referral, reply)
        elif referral.payload.get("partial"):  # an urgent partial referral went out: now complete it
            referral.payload = event.data
            referral.outcome, referral.reason = triage["outcome"], triage["reason"]
            await uow.audit.record(actor=f"candidate:{intake.actor_ref or 'unknown'}", action="referral.completed",
                                   at=now, referral_id=referral.id)  # content-free, like referral.created
            # never silently: whoever holds or was offered it sees the whole; outside the target group
            # and nobody holding it, a coordinator checks that the person got help
            await self.casework.completed_later(uow, referral, intake.consent_at, now)

    async def note_risks(self, person: Person, answers: Mapping[str, str]) -> list[str]:
        """Store the risk answers among `answers` (item step -> score, e.g. "mdi.6" -> "3") at once.

        For a channel that gets several answers at a time (a questionnaire page): the flow stores a
        risk answer only when it takes the item, in order, so one given with an earlier item left out,
        with "back" pressed, or on an old page would be lost if the person then left (H1, H24). Only
        the answers that are risk answers of a known item are taken, each stored as the flow's risk
        event is (encrypted, audited without content); the intake's state carries the flag, as after
        `with_risks`. Nothing happens without an active, consented intake, nor for an instrument its
        programme does not ask. Returns the steps stored (now or before) in this intake.
        """
        risky: list[tuple[str, str, int]] = []
        for step, value in answers.items():
            found = instruments.risk_signal(step, value)
            if found is not None:
                risky.append((found.instrument, found.item, found.score))
        if not risky:
            return []
        for attempt in range(3):  # a concurrent answer saved the state first: read it again (the rows once)
            try:
                return await self._note(person, risky)
            except StaleStateError:
                if attempt == 2:
                    raise
        return []

    async def _note(self, person: Person, risky: list[tuple[str, str, int]]) -> list[str]:
        now = self.clock.now()
        async with self._uow() as uow:
            candidate = await uow.candidates.find(person.channel, person.external_id)
            intake = await uow.intakes.latest(candidate.id) if candidate is not None else None
            if candidate is None or intake is None or intake.status != IntakeStatus.ACTIVE.value \
                    or intake.consent_at is None or not intake.state:
                return []
            programme = self.flow.registry.get(intake.programme_id)
            risky = [r for r in risky if programme is not None and r[0] in programme.instruments]  # what it asks
            for instrument, item, score in risky:
                await self._record_risk(uow, candidate.id, intake, instrument, item, score, now)
            steps = [f"{instrument}.{item}" for instrument, item, _ in risky]
            if not steps:
                return []
            state = self.flow.with_risks(dict(intake.state), steps)
            await uow.intakes.save_state(intake, state, programme_id=intake.programme_id, language=intake.language,
                                         now=now)
            return steps

    async def _record_risk(self, uow: UnitOfWork, candidate_id: int, intake: Any, instrument: str, item: str,
                           score: int, now: datetime) -> None:
        """One risk answer as its own row, audited without content; the same answer in the same intake
        once (a page noted it before the flow took it, or it was given again after "back")."""
        detail = {"instrument": instrument, "item": item, "score": score}
        # a named person will see it: pending while the intake may still finish (once per person)
        await self.casework.escalations.risk_given(uow, candidate_id, intake.programme_id, now)
        if any(e.intake_id == intake.id and e.detail == detail for e in await uow.risks.of_candidate(candidate_id)):
            return
        await uow.risks.record(candidate_id=candidate_id, intake_id=intake.id, instrument=instrument, item=item,
                               score=score, at=now)
        await uow.audit.record(actor=f"candidate:{intake.actor_ref or 'unknown'}", action="risk.recorded",
                               at=now)  # no content

    async def _who_will_call(self, uow: UnitOfWork, referral: Any, reply: Reply) -> None:
        """An urgent candidate promised a call while the programme has no consultant to tell: the result
        says truly who will act (its leads), or that nobody can see it yet (with crisis help). Kept in the
        state's result, so every channel that shows the result again shows the same."""
        reach = await self.casework.escalations.reachable(uow, referral.programme_id)
        if reach == "consultants" or not reply.state.get("result"):
            return
        reply.state["result"]["reach"] = "nobody" if reach == "nobody" else "lead"
        shown = self.flow.show(reply.state)[0]
        reply.screens = [shown if screen.step == shown.step else screen for screen in reply.screens]

    async def escalate_due(self, uow: UnitOfWork, now: datetime) -> list[int]:
        """Take every escalation step that is due (the clocks of every process call this).

        A pending one (a risk answer in an intake) whose intake did not finish in time, because the
        person left, restarted or declined, first becomes an urgent partial referral, dispatched like an
        urgent referral: the consent they gave covered the risk answer, and promised contact.
        """
        before = len(uow.outbox.added)
        escalations = self.casework.escalations
        for row in await uow.escalations.due(now):
            try:
                async with uow.savepoint():  # one step that fails does not undo the others
                    if row.status == EscalationStatus.PENDING.value and row.referral_id is None:
                        referral = await self._partial(uow, row.candidate_id, row.programme_id, now)
                        if referral is None:
                            row.next_at = now + RETRY  # tried again later, behind the others
                            continue
                        row.referral_id = referral.id
                    await escalations.step(uow, row, now)
            except Exception:
                log.exception("an escalation step failed; it is tried again on the next round")
        # waiting for anyone, while someone joined in another process as the step found nobody
        for row in await uow.escalations.unreached():
            ladder, _ = await escalations.ladder(uow, row.programme_id, None)
            if ladder.anyone:
                await escalations.step(uow, row, now)
        return list(uow.outbox.added[before:])

    async def _partial(self, uow: UnitOfWork, candidate_id: int, programme_id: str, now: datetime) -> Any:
        """The urgent partial referral of the person's latest intake (whatever its status), made once; in
        the escalation's programme if the intake names none (restarted before choosing one)."""
        intake = await uow.intakes.latest(candidate_id)
        if intake is None:
            return None
        existing = await uow.referrals.for_intake(intake.id)
        if existing is not None:
            return existing
        programme = self.flow.registry.get(intake.programme_id) or self.flow.registry.get(programme_id)
        if programme is None:  # its programme file was removed since: said loudly, tried again each round
            log.error("an escalation's programme %s is not known; it cannot be sent", programme_id)
            return None
        state = intake.state if intake.state and intake.state.get("programme") == programme.id else {
            "programme": programme.id, "lang": intake.language, "flags": ["risk"]}
        payload = self.flow.partial(state)
        payload["risks"] = as_listed(await uow.risks.of_candidate(candidate_id))
        triage = payload["triage"]
        referral, created = await uow.referrals.create_once(
            intake, programme_id=programme.id, language=payload["language"], outcome=triage["outcome"],
            reason=triage["reason"], urgent=True, priority=False, status=ReferralStatus.NEW.value, payload=payload,
            now=now,
        )
        if created:
            await uow.audit.record(actor="system", action="referral.partial", at=now, referral_id=referral.id)
            await self.casework.dispatch(uow, referral, intake.consent_at, now)
        return referral

    @staticmethod
    async def _withdraw(uow: UnitOfWork, intake: Any, now: Any, candidate_id: int) -> None:
        """An abandoned intake keeps no answers: not in its state, nor in the replies it was sent (its
        summary screen, a /mydata file) that wait in the outbox or were sent already."""
        await uow.intakes.save_state(intake, {}, programme_id=intake.programme_id, language=intake.language,
                                     now=now)
        await uow.intakes.finish(intake, status=IntakeStatus.WITHDRAWN, now=now)
        await uow.outbox.forget_replies(candidate_id, since=intake.started_at)
