"""Messages from the services to people: outbox rows holding screens as data, keyed by an address.

The one form every service message takes (casework, meetings, erasure); the channel named in the
address renders it when it sends. Written in the caller's unit of work, so a message is committed
with its cause. `Casework` and `Meetings` both send through a `Notifier`, so neither needs the other
for that.

The payload is a `storage.outbox.OutboxPayload` (a `TypedDict`: its keys, their types and meanings
are there): the address (``to``), screens as data, an ``edit`` of a message sent before, ``documents``,
what to record of the sent messages (``offer_id``, ``about``, ``alert_copy``), and for erasure
``withdraw`` with a ``notice``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.services.person import Who as Who  # re-exported: services import it from here
from flows.address import Address
from flows.screens import Screen, screen_to_dict
from locales import Translator
from storage.outbox import DocumentData, OutboxPayload, ShownData
from storage.repositories import UnitOfWork


def payload(to: Address, screens: list[Screen], *, edit: tuple[int, Screen] | None = None,
            offer_id: int | None = None, documents: Sequence[Mapping[str, str]] | None = None,
            about: int | None = None, alert_copy: int | None = None,
            withdraw: tuple[list[ShownData], str] | None = None) -> OutboxPayload:
    """An outbox payload in the one form channels read; `withdraw`: the messages and the notice."""
    data = OutboxPayload(
        to=to.to_dict(), screens=[screen_to_dict(s) for s in screens],
        edit={"ref": edit[0], "screen": screen_to_dict(edit[1])} if edit else None,
        offer_id=offer_id, about=about,
        documents=[DocumentData(filename=d["filename"], content=d["content"], caption=d.get("caption", ""))
                   for d in documents or ()],
    )
    if alert_copy is not None:
        data["alert_copy"] = alert_copy
    if withdraw is not None:
        data["withdraw"], data["notice"] = withdraw
    return data


class Notifier:
    """Queues screens for an address in the caller's unit of work."""

    async def queue(self, uow: UnitOfWork, to: Address, screens: list[Screen], now: datetime, *,
                    edit: tuple[int, Screen] | None = None, offer_id: int | None = None,
                    documents: Sequence[Mapping[str, str]] | None = None, candidate_id: int | None = None,
                    due_at: datetime | None = None, topic: str = "", subject_id: int | None = None,
                    alert_copy: int | None = None) -> int:
        """An outbox message with screens as data (rendered by the address's channel when it sends).

        `candidate_id`: the candidate it is sent to; `subject_id`: the candidate a message to staff shows
        (erased with them; the channel records the sent messages, so erasing them can withdraw them);
        `alert_copy`: the escalation copy it is (the channel records where it went)."""
        data = payload(to, screens, edit=edit, offer_id=offer_id, documents=documents,
                       about=subject_id if candidate_id is None else None, alert_copy=alert_copy)
        return await uow.outbox.add(channel=to.channel, payload=data, now=now, candidate_id=candidate_id,
                                    due_at=due_at, topic=topic, subject_id=subject_id)

    async def notify(self, uow: UnitOfWork, to: Address, text: str, now: datetime) -> int:
        return await self.queue(uow, to, [Screen(text)], now)

    async def refuse(self, uow: UnitOfWork, who: Who, step: str, button: str, now: datetime, *,
                     referral_id: int | None = None) -> int:
        """A press that is not this person's to make: refused, and kept in the audit trail."""
        staff = await uow.staff.find(who.channel, who.external_id)
        await uow.audit.record(actor=f"staff:{staff.id}" if staff else f"{who.channel}:unknown", action="denied",
                               at=now, referral_id=referral_id, detail=f"{step}|{button}"[:120])
        t = Translator(staff.language if staff else who.language or "da")
        return await self.queue(uow, who.address, [Screen(t("staff.denied"))], now)


def staff_address(contact: dict[str, Any]) -> Address:
    """Where a staff member is reached: always stored when they join (a missing one is a bug, and loud)."""
    return Address(str(contact["channel"]), str(contact["id"]))
