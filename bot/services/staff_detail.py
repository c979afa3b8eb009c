"""How much a staff message in a messenger tells about a person: one switch (`STAFF_CHAT_DETAIL`, `WEB_URL`).

A messenger run by a third party outside the EU, its conversations not end-to-end encrypted, is no
place for health data of special category. So with a staff area (`WEB_URL` set) a staff message says
only what and where, e.g. "New referral R-1234 in IPS Vejle (urgent)", with a button that opens it in
the staff area; no name, score or free text.
`STAFF_CHAT_DETAIL=full` keeps the whole summary in the messenger (a pilot whose data protection officer
accepted it); without `WEB_URL` there is nowhere else to read it, so the messenger gets it in full as before.

The services call `summary` (and `offer`, `copy`, `card`, `completed`, `booking`, `export`, `with_link`) where
something about a person is put into a staff message;
`open_app` sets the switch from the settings for the life of the application.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from flows.programmes import Programme
from flows.screens import Button, Screen
from flows.summary import offer_screen, summary_text
from locales import Translator

_state: dict[str, Any] = {"web_url": None, "detail": None}


def configure(web_url: str | None, detail: str | None) -> None:
    _state["web_url"], _state["detail"] = (web_url or None), (detail or None)


def brief() -> bool:
    """True when staff messages in a messenger say only what and where."""
    return _state["web_url"] is not None and _state["detail"] != "full"


def link(referral_id: int) -> str:
    return f"{str(_state['web_url']).rstrip('/')}/staff/r/{referral_id}"


def summary(referral_id: int, payload: dict[str, Any], programme: Programme, lang: str,
            consent_at: datetime | None) -> str:
    """The summary for a staff message: whole, or only what and where."""
    if not brief():
        return summary_text(referral_id, payload, programme, lang, consent_at)
    t = Translator(lang)
    urgent = bool(payload.get("triage", {}).get("urgent"))
    return t("staff.web.brief", what=t("staff.web.brief.referral", id=referral_id), programme=programme.name(lang),
             urgent=t("staff.web.brief.urgent") if urgent else "")


def completed(screen: Screen, referral_id: int, payload: dict[str, Any], programme: Programme, lang: str) -> Screen:
    """A partial referral now complete, to the consultant holding it: whole, or what and where and a link."""
    if not brief():
        return screen
    t = Translator(lang)
    urgent = bool(payload.get("triage", {}).get("urgent"))
    what = t("staff.web.brief", what=t("staff.web.brief.completed", id=referral_id), programme=programme.name(lang),
             urgent=t("staff.web.brief.urgent") if urgent else "")
    return with_link(replace(screen, text=what), referral_id, lang)


def booking(referral_id: int, name: str, when: str, place: str, lang: str) -> str:
    """A booked first meeting, for the peer and the consultant. The time and place (and the referral's
    number) stay: the peer must find the person. The name goes: that a named person meets an IPS peer
    is itself health data (docs/privacy.md)."""
    t = Translator(lang)
    if not brief():
        return t("meet.booked_staff", id=referral_id, name=name, when=when, place=place)
    return t("meet.booked_staff.brief", id=referral_id, when=when, place=place)


def export(caption: Screen, documents: list[dict[str, Any]], referral_id: int, lang: str
           ) -> tuple[Screen, list[dict[str, Any]] | None]:
    """A case's export asked for in the messenger (the button is gone in brief mode; an old or forged press):
    the files, or only the caption and a link (the staff area's export asks for the passkey again)."""
    if not brief():
        return caption, documents
    return with_link(caption, referral_id, lang), None


def copy(screen: Screen, referral_id: int, programme: Programme, lang: str) -> Screen:
    """An escalation's copy ("Seen — I will make contact" stays): whole, or what and where and a link."""
    if not brief():
        return screen
    t = Translator(lang)
    what = t("staff.web.brief", what=t("staff.web.brief.escalation", id=referral_id),
             programme=programme.name(lang), urgent="")
    return with_link(replace(screen, text=what), referral_id, lang)


def with_link(screen: Screen, referral_id: int, lang: str) -> Screen:
    """In brief mode: no export to the messenger (it would carry the data), and a button to the staff area."""
    if not brief():
        return screen
    kept = tuple(b for b in screen.buttons if b.id != "export")
    return replace(screen, buttons=(*kept, Button(link(referral_id), Translator(lang)("staff.web.brief.open"))))


def offer(referral_id: int, payload: dict[str, Any], programme: Programme, lang: str, consent_at: datetime | None,
          note: str = "") -> Screen:
    """A consultant's offer (`flows.summary.offer_screen`), brief or whole."""
    screen = offer_screen(referral_id, payload, programme, lang, consent_at, note)
    if not brief():
        return screen
    text = (note + "\n\n" if note else "") + summary(referral_id, payload, programme, lang, consent_at)
    return with_link(replace(screen, text=text), referral_id, lang)


def card(screen: Screen, referral_id: int, lang: str) -> Screen:
    """A case card for the messenger: whole, or its number and a link (its next-step buttons stay: they carry
    nothing about the person)."""
    if not brief():
        return screen
    return with_link(replace(screen, text=Translator(lang)("staff.web.case", id=referral_id)), referral_id, lang)
