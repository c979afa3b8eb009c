"""The role pages of the staff area, each calling the same services and `policy.py` rules as Telegram.

Consultant: referrals offered to them (the summary), claim or pass, their caseload (case cards with
the IPS clocks and follow-ups), a case's next step and outcome, an export (JSON or FHIR, after the
passkey again). Peer: their time slots and bookings, no health data. Coordinator: urgent cases with
"Seen — I will make contact", the waiting list, staff (invite, remove) and the dashboard.
Every press goes to `Casework.press` (checked there by policy at press time); every read of a
person's data is audited.
"""

from __future__ import annotations

import json

from aiohttp import web

from bot.channels.web.staff import html
from bot.channels.web.staff.base import Area, Refused
from bot.exports import charts
from bot.services import staff_sessions as sessions
from bot.services.policy import may_act, record_id
from flows.ips import CASE_OUTCOMES, CLOCKS
from flows.referral import export_record
from flows.summary import offer_screen, outcome_screen, summary_text
from locales import Translator, format_when

CONSULTANT, PEER, COORDINATOR = ("consultant",), ("peer",), ("coordinator",)
SHOWN = 8  # cards on one page (a page stays under 30 KB)
HOME = {"consultant": "/staff/referrals", "peer": "/staff/slots", "coordinator": "/staff/urgent",
        "operator": "/staff/operator"}


class Roles(Area):
    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/staff", self.home)
        router.add_get("/staff/r/{id}", self.opened)
        router.add_get("/staff/referrals", self.referrals)
        router.add_post("/staff/ref/{id}", self.press_offer)
        router.add_get("/staff/cases", self.cases)
        router.add_post("/staff/case/{id}", self.press_case)
        router.add_get("/staff/export/{id}", self.export)
        router.add_get("/staff/urgent", self.urgent)
        router.add_post("/staff/esc/{id}", self.press_seen)

    async def home(self, request: web.Request) -> web.StreamResponse:
        async with self.app.uow() as uow:
            try:
                signed = await self.signed(uow, request, tuple(HOME))
            except Refused as refused:
                return self.problem(request, refused)
        raise web.HTTPSeeOther(HOME[signed.staff.role])

    async def opened(self, request: web.Request) -> web.StreamResponse:
        """The link in a staff chat's brief message: the page where that referral is, for this role."""
        async with self.app.uow() as uow:
            try:
                signed = await self.signed(uow, request, tuple(HOME))
            except Refused as refused:
                return self.problem(request, refused)
            found = record_id(request.match_info["id"])
            referral = await uow.referrals.get(found) if found is not None else None
        holds = referral is not None and referral.consultant_id == signed.staff.id
        raise web.HTTPSeeOther("/staff/cases" if holds else HOME[signed.staff.role])

    # --- consultant -------------------------------------------------------------------------

    async def referrals(self, request: web.Request) -> web.StreamResponse:
        now = self.now()
        async with self.app.uow() as uow:
            try:
                signed = await self.signed(uow, request, CONSULTANT)
            except Refused as refused:
                return self.problem(request, refused)
            t = Translator(self.language(request, signed))
            cards = []
            for referral in (await uow.staff_web.offered_to(signed.staff.id))[:SHOWN]:
                programme = self.app.registry.get(referral.programme_id)
                if programme is None or referral.programme_id != signed.staff.programme_id:
                    continue
                await uow.audit.record(actor=f"staff:{signed.staff.id}", action="referral.viewed", at=now,
                                       referral_id=referral.id)
                screen = offer_screen(referral.id, referral.payload, programme, t.lang, referral.created_at)
                export = f'<p><a href="/staff/export/{referral.id}?fmt=json">{html.esc(t("staff.export"))}</a></p>'
                cards.append(html.screen_card(screen, f"/staff/ref/{referral.id}", self.csrf(request),
                                              t("staff.web.referral", id=referral.id), skip=("export",)) + export)
        body = "".join(cards) or f"<p>{html.esc(t('staff.web.no_referrals'))}</p>"
        return self.signed_page(request, signed, t("staff.web.nav.referrals"), body)

    async def _press(self, request: web.Request, kind: str, roles: tuple[str, ...], back: str) -> web.StreamResponse:
        number = request.match_info["id"]
        async with self.app.uow() as uow:
            try:
                signed, form = await self.posted(uow, request, roles)
            except Refused as refused:
                return self.problem(request, refused)
            button = str(form.get("button", "seen" if kind == "esc" else ""))[:40]
            if button == "export":  # the export is the GET with the passkey again, never a file to a chat or mail
                await self.refuse(uow, request, signed, "export")
                return self.problem(request, Refused(403))
            # the same press as a chat button's; policy decides now, and a refusal is audited there
            await self.app.intake.casework.press(uow, signed.who, f"{kind}.{number}", button, 0, self.now())
        raise web.HTTPSeeOther(back)

    async def press_offer(self, request: web.Request) -> web.StreamResponse:
        return await self._press(request, "ref", CONSULTANT, "/staff/referrals")

    async def press_case(self, request: web.Request) -> web.StreamResponse:
        return await self._press(request, "case", CONSULTANT, "/staff/cases")

    async def press_seen(self, request: web.Request) -> web.StreamResponse:
        return await self._press(request, "esc", ("coordinator", "consultant"), "/staff/urgent")

    async def cases(self, request: web.Request) -> web.StreamResponse:
        now = self.now()
        casework = self.app.intake.casework
        async with self.app.uow() as uow:
            try:
                signed = await self.signed(uow, request, CONSULTANT)
            except Refused as refused:
                return self.problem(request, refused)
            t = Translator(self.language(request, signed))
            cards = []
            for referral in await uow.cases.open_cases(signed.staff.id):
                await uow.audit.record(actor=f"staff:{signed.staff.id}", action="case.viewed", at=now,
                                       referral_id=referral.id)
                card = await casework.followups.card(uow, referral, casework.case_card(referral, t.lang, now), t.lang)
                action, csrf = f"/staff/case/{referral.id}", self.csrf(request)
                outcome = html.choice_form(action, csrf, f"outcome-{referral.id}", t("staff.web.outcome_label"),
                                           [(b.id, b.label) for b in outcome_screen(referral.id, t.lang).buttons],
                                           t("staff.web.outcome_record"))
                export = (f'<p><a href="/staff/export/{referral.id}?fmt=json">JSON</a> · '
                          f'<a href="/staff/export/{referral.id}?fmt=fhir">FHIR</a></p>')
                cards.append(html.screen_card(card, action, csrf, t("staff.web.case", id=referral.id),
                                              skip=("export", "outcome"), extra=outcome + export))
        body = "".join(cards) or f"<p>{html.esc(t('staff.cases.none'))}</p>"
        return self.signed_page(request, signed, t("staff.web.nav.cases"), body)

    async def export(self, request: web.Request) -> web.StreamResponse:
        """A case as a file: only what `may_act` allows for "export", and only after the passkey again."""
        now = self.now()
        fmt = "fhir" if request.query.get("fmt") == "fhir" else "json"
        async with self.app.uow() as uow:
            try:
                signed = await self.signed(uow, request, CONSULTANT)
            except Refused as refused:
                return self.problem(request, refused)
            found = record_id(request.match_info["id"])
            referral = await uow.referrals.get(found) if found is not None else None
            offer = await uow.cases.offer_for(referral.id, signed.staff.id) if referral else None
            kind = "case" if referral is not None and referral.consultant_id == signed.staff.id else "ref"
            if referral is None or not may_act(signed.staff, referral, offer, kind, "export"):
                await self.refuse(uow, request, signed, "export")
                return self.problem(request, Refused(403))
            if not signed.fresh(now):
                return self._verify_page(request, signed, f"{request.path}?fmt={fmt}")
            await uow.audit.record(actor=f"staff:{signed.staff.id}", action="referral.exported", at=now,
                                   referral_id=referral.id, detail=f"web {fmt}")
            content = self._file(referral, fmt)
        response = web.Response(text=content, content_type="application/json", charset="utf-8")
        name = f"referral-{referral.id}{'.fhir' if fmt == 'fhir' else ''}.json"
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    @staticmethod
    def _file(referral: object, fmt: str) -> str:
        from bot.exports.fhir import questionnaire_responses

        r = referral
        if fmt == "fhir":
            responses = questionnaire_responses(r.id, r.created_at.isoformat(), r.payload)  # type: ignore[attr-defined]
            return "[" + ",".join(x.model_dump_json(exclude_none=True) for x in responses) + "]"
        clocks = {k: (getattr(r, k).isoformat() if getattr(r, k) else None) for k in CLOCKS}
        record = export_record(r.id, r.created_at.isoformat(), r.status, r.payload,  # type: ignore[attr-defined]
                               clocks, r.case_outcome)  # type: ignore[attr-defined]
        return json.dumps(record, ensure_ascii=False, indent=2)

    def _verify_page(self, request: web.Request, signed: sessions.SignedIn, nxt: str) -> web.Response:
        t = Translator(self.language(request, signed))
        button = (f'<button type="submit" data-mode="verify" data-wait="{html.esc(t("staff.web.passkey_wait"))}" '
                  f'data-failed="{html.esc(t("staff.web.passkey_failed"))}">{html.esc(t("staff.web.passkey_verify"))}'
                  "</button>")
        body = (f"<p>{html.esc(t('staff.web.verify_intro'))}</p><form class=\"block\" method=\"post\" "
                f'action="/staff/verify/options"><input type="hidden" name="csrf" '
                f'value="{html.esc(self.csrf(request))}">'
                f'<input type="hidden" name="next" data-send value="{html.esc(nxt)}">{button}</form>'
                '<p id="passkey-status" role="status" aria-live="polite"></p>')
        return self.signed_page(request, signed, t("staff.web.verify_title"), body, script=True)

    # --- coordinator: urgent cases ----------------------------------------------------------

    async def urgent(self, request: web.Request) -> web.StreamResponse:
        now = self.now()
        async with self.app.uow() as uow:
            try:
                signed = await self.signed(uow, request, COORDINATOR)
            except Refused as refused:
                return self.problem(request, refused)
            charts.warm()  # a coordinator's first page: the dashboard's library loads meanwhile
            t = Translator(self.language(request, signed))
            programme = self.app.registry.get(signed.staff.programme_id)
            cards = []
            rows, total = await uow.staff_web.escalations_sent(signed.staff.programme_id, SHOWN)
            for row in rows:  # the oldest first; the page stays small, the rest follow once seen
                referral = await uow.referrals.get(row.referral_id) if row.referral_id else None
                text = t("staff.web.urgent_line", id=row.referral_id or row.id, since=format_when(
                    row.sent_at or row.opened_at, t.lang, programme.timezone if programme else "Europe/Copenhagen"))
                if referral is not None and programme is not None:  # the copy the chat would show
                    await uow.audit.record(actor=f"staff:{signed.staff.id}", action="referral.viewed", at=now,
                                           referral_id=referral.id)
                    text += "\n\n" + summary_text(referral.id, referral.payload, programme, t.lang, None)
                seen = html.button_form(f"/staff/esc/{row.id}", self.csrf(request), t("staff.escalation.seen"),
                                        {"button": "seen"})
                cards.append(f'<article class="card crisis"><h2>{html.esc(t("staff.web.urgent", id=row.id))}</h2>'
                             f"{html.text_block(text)}<div class=\"actions\">{seen}</div></article>")
        more = f"<p>{html.esc(t('staff.web.more', n=total - len(rows)))}</p>" if total > len(rows) else ""
        body = "".join(cards) + more or f"<p>{html.esc(t('staff.web.no_urgent'))}</p>"
        return self.signed_page(request, signed, t("staff.web.nav.urgent"), body)


OUTCOMES = CASE_OUTCOMES  # re-exported for the tests: the outcome buttons a case card carries
