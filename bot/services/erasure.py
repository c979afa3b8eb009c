"""Erasing a person: the one function behind `/delete`, `ipsbot erase` and `ipsbot purge`.

In the caller's unit of work, before the rows go:

- whoever holds or was offered one of the person's referrals is told only that it was withdrawn;
- a booked first meeting is cancelled: the peer and the consultant get a calendar update that removes
  it (METHOD:CANCEL, the same UID, a higher SEQUENCE), the slot is free again, its reminders are
  withdrawn;
- every staff message that showed the person (summary, case card, export, booking notice, calendar
  file) is withdrawn: the outbox message names each one with when it was sent, and the channel deletes
  it where its own rules still allow that (each channel knows how long), otherwise it replaces it by a
  short "withdrawn" notice; the content-free record of those messages goes as soon as that is queued.

Then `CandidateRepository.delete` removes every row that holds the person's content. Everything sent
goes through the outbox, committed with the erasure; each channel renders the deletions and edits
when it sends.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.services.casework import Casework
from bot.services.meetings import ics
from bot.services.notify import payload, staff_address
from flows.address import Address
from flows.screens import Screen
from locales import Translator, format_when
from storage import dashboard
from storage.models import Referral
from storage.outbox import ShownData
from storage.repositories import UnitOfWork

log = logging.getLogger(__name__)


async def erase(uow: UnitOfWork, casework: Casework, candidate_id: int, now: datetime, *,
                tell_staff: bool = True) -> list[int]:
    """Erase the candidate and everything about them; returns the outbox messages written (to send).

    `tell_staff=False` (retention): no "withdrawn by the candidate" notice, which would not be true."""
    ids = await casework.withdrawn(uow, candidate_id, now) if tell_staff else []
    for referral in await uow.referrals.of_candidate(candidate_id):
        ids += await _cancel_meeting(uow, casework, referral, now)
    ids += await _withdraw_shown(uow, candidate_id, now)
    await uow.candidates.delete(candidate_id)
    dashboard.forget()  # values the dashboard derived from their answers, kept in this process's memory
    return ids


async def _cancel_meeting(uow: UnitOfWork, casework: Casework, referral: Referral, now: datetime) -> list[int]:
    slot = await uow.slots.booked_for(referral.id)
    if slot is None or slot.starts_at <= now:  # no meeting, or one that is over: nothing to cancel
        return []
    programme = casework.registry[referral.programme_id]
    await uow.outbox.withdraw(f"slot:{slot.id}:{slot.bookings}")  # the reminders, to everyone
    ids = []
    peer = await uow.staff.get(slot.staff_id)
    consultant = await uow.staff.get(referral.consultant_id) if referral.consultant_id else None
    for member in (m for m in (peer, consultant) if m is not None and m.active):
        t = Translator(member.language)
        text = t("meet.cancelled", when=format_when(slot.starts_at, t.lang, programme.timezone)) + f" (#{referral.id})"
        update = {"filename": "meeting.ics", "content": ics(slot, programme, t.lang, now, cancel=True), "caption": ""}
        ids.append(await casework.queue(uow, staff_address(member.contact), [Screen(text)], now, documents=[update]))
    await uow.slots.release(slot)
    await uow.audit.record(actor="system", action="meeting.cancelled", at=now, referral_id=referral.id)
    return ids


async def _withdraw_shown(uow: UnitOfWork, candidate_id: int, now: datetime) -> list[int]:
    """One outbox message per staff address: delete (or edit) each message there that showed the person."""
    shown = await uow.shown.of(candidate_id)
    if not shown:
        return []
    languages = {staff_address(member.contact): member.language for member in await uow.staff.all()}
    per_address: dict[Address, list[ShownData]] = {}
    for record in shown:
        to = Address.from_dict(record.address)
        if to is None:  # stored without a usable address (a bug): nothing can reach it, so say so loudly
            log.error("a staff message that showed a person being erased has no address; it cannot be withdrawn")
            continue
        per_address.setdefault(to, []).append(
            {"ref": record.message_ref, "kind": record.kind, "sent_at": record.sent_at.isoformat()})
    ids = []
    for to, messages in per_address.items():
        notice = Translator(languages.get(to, "da"))("staff.withdrawn.shown")
        ids.append(await uow.outbox.add(channel=to.channel, payload=payload(to, [], withdraw=(messages, notice)),
                                        now=now))
    await uow.shown.forget(candidate_id)
    return ids
