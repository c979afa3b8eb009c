"""Who may press which button: the access rules of the staff side, as plain functions of what is stored.

Every staff press is checked here on the server at press time, never trusted from the button:
`may_act` for a referral offer (``ref.<id>``) and a case card, its outcome question and the meeting
cancel on a consultant's notice (``case.<id>``); `may_use_slot` for a peer's slot calendar;
`may_book` for a candidate's choice of a first-meeting time; `slot_fits` for the times a peer may
publish; `may_mark_seen` for "Seen — I will make contact" on an escalation's copy (``esc.<id>``) of an
urgent case. Callers refuse and audit whatever these deny. Nothing here touches a session, so the
whole matrix is tested without a channel.
"""

from __future__ import annotations

from datetime import datetime

from flows.ips import CASE_OUTCOMES
from flows.slots import BOOKING_WINDOW, DAY_END, DAY_START, LENGTHS, SLOT_HORIZON, slot_fits
from flows.summary import CASE_ACTIONS
from storage.models import Escalation, EscalationCopy, Offer, Referral, ReferralStatus, Slot, Staff

OFFER_BUTTONS = frozenset({"claim", "pass", "export", "seen"})  # "seen": urgent offers only
CASE_BUTTONS = frozenset({*CASE_ACTIONS, "export", "meetcancel", *(f"outcome:{o}" for o in CASE_OUTCOMES)})

# the first meeting's times and `slot_fits` are written once, in `flows.slots`; named here as before
__all__ = ["BOOKING_WINDOW", "CASE_BUTTONS", "DAY_END", "DAY_START", "LENGTHS", "OFFER_BUTTONS", "SLOT_HORIZON",
           "may_act", "may_book", "may_mark_seen", "may_use_slot", "record_id", "slot_fits"]


def record_id(text: str) -> int | None:
    """The id a button names (``ref.<id>``), or None: ASCII digits only, at most 12 (a forged "²" or a
    number of 5,000 digits is simply not an id)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 12 else None


def may_act(staff: Staff | None, referral: Referral | None, offer: Offer | None, kind: str, button: str) -> bool:
    """May this person press `button` on a referral offer (kind "ref") or a case card (kind "case")?

    Only an active consultant of the referral's programme, and then only
    - on an offer: while the referral is still on offer and their own offer of it is open (not
      passed): claim, pass or export; once they hold the case, export still;
    - on a case: while they hold it and it is open: the case buttons.
    So a colleague's claimed case, a closed one, a redirected one nobody was offered, an offer
    someone passed, and every other programme's referrals are out of reach.
    """
    if staff is None or referral is None or not staff.active or staff.role != "consultant":
        return False
    if referral.programme_id != staff.programme_id:
        return False
    holds = referral.status == ReferralStatus.CLAIMED.value and referral.consultant_id == staff.id
    if kind == "ref":
        on_offer = (referral.status == ReferralStatus.NEW.value and offer is not None and not offer.passed
                    and offer.staff_id == staff.id and offer.referral_id == referral.id)
        if button == "seen" and not referral.urgent:
            return False
        return button in OFFER_BUTTONS and (on_offer or (holds and button == "export"))
    if kind == "case":
        return holds and button in CASE_BUTTONS
    return False


def may_mark_seen(staff: Staff | None, row: Escalation | None, referral: Referral | None,
                  copies: list[EscalationCopy], button: str) -> bool:
    """May this person press "Seen — I will make contact" on an escalation's copy (``esc.<id>``)?

    Only an active member of staff: an operator (any programme); else of the escalation's programme,
    a coordinator, the consultant holding the case, or a consultant it was sent to. Peers never.
    """
    if staff is None or row is None or referral is None or not staff.active or button != "seen":
        return False
    if row.sent_at is None or row.referral_id != referral.id:  # nobody was sent it: nothing to have seen
        return False
    if staff.role == "operator":
        return True
    if staff.programme_id != row.programme_id or (referral is not None and referral.programme_id != row.programme_id):
        return False
    if staff.role == "coordinator":
        return True
    holds = referral is not None and referral.consultant_id == staff.id
    return staff.role == "consultant" and (holds or any(c.staff_id == staff.id for c in copies))


def may_use_slot(staff: Staff | None, slot: Slot | None = None) -> bool:
    """The slot calendar is a peer's; a given slot only its own peer's, in their programme, not withdrawn."""
    if staff is None or not staff.active or staff.role != "peer":
        return False
    return slot is None or (slot.staff_id == staff.id and slot.programme_id == staff.programme_id
                            and slot.withdrawn_at is None)


def may_book(referral: Referral, slot: Slot | None, peer: Staff | None, now: datetime) -> bool:
    """May the candidate of `referral` book `slot`? (Whether it is still free is decided by the booking.)

    Only a slot of the referral's own programme, of a peer still active there, not withdrawn, and
    within the booking window the candidate was offered.
    """
    if slot is None or peer is None or not peer.active or peer.id != slot.staff_id:
        return False
    return (slot.programme_id == referral.programme_id and peer.programme_id == referral.programme_id
            and slot.withdrawn_at is None and now < slot.starts_at <= now + BOOKING_WINDOW)
