"""The operator's page of the staff area (role "operator", programme "*": every programme).

Two things an operator is there for: the urgent cases of every programme that climbed the ladder to
the operators and are still unseen, with "Seen — I will make contact" (the same `Casework.press`, so
`policy.may_mark_seen` decides at press time, as in the chat); and the programmes where an urgent case
would reach nobody, or nobody but the operators or the coordinators, from the same
`Escalations.reachable` that `ipsbot staff list` warns with.
Every read of a person's data is audited.
"""

from __future__ import annotations

from aiohttp import web

from bot.channels.web.staff import html
from bot.channels.web.staff.base import Area, Refused
from flows.escalation import RUNGS
from flows.programmes import Programme
from flows.summary import summary_text
from locales import Translator, format_when
from storage.models import Escalation
from storage.repositories import UnitOfWork

OPERATOR = ("operator",)
PATH = "/staff/operator"
SHOWN = 8  # cards on one page (a page stays under 30 KB)
SCAN = 200  # unseen escalations looked at per programme: those at the operators' rung are a few of them
OPERATORS = RUNGS.index("operators")


class Operator(Area):
    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get(PATH, self.page)
        router.add_post(PATH + "/esc/{id}", self.press_seen)

    async def page(self, request: web.Request) -> web.StreamResponse:
        async with self.app.uow() as uow:
            try:
                signed = await self.signed(uow, request, OPERATOR)
            except Refused as refused:
                return self.problem(request, refused)
            t = Translator(self.language(request, signed))
            rows = await self._at_operators(uow)
            cards = [await self._card(uow, t, signed.staff.id, row, self.csrf(request)) for row in rows[:SHOWN]]
            # what `ipsbot staff list` warns of: whom an urgent case reaches first, where that is no consultant
            reach = [(p, await self.app.intake.casework.escalations.reachable(uow, p.id))
                     for p in self.app.registry.all()]
        more = f"<p>{html.esc(t('staff.web.more', n=len(rows) - SHOWN))}</p>" if len(rows) > SHOWN else ""
        urgent = "".join(cards) + more or f"<p>{html.esc(t('staff.web.no_urgent'))}</p>"
        lines = "".join(f"<li>{html.esc(t(f'staff.web.operator.reach.{who}', programme=p.name(t.lang), id=p.id))}"
                        "</li>" for p, who in reach if who != "consultants")
        warnings = f"<ul>{lines}</ul>" if lines else f"<p>{html.esc(t('staff.web.operator.all_reach'))}</p>"
        body = (f"<h2>{html.esc(t('staff.web.operator.urgent'))}</h2>{urgent}"
                f"<h2>{html.esc(t('staff.web.operator.nobody'))}</h2>{warnings}")
        return self.signed_page(request, signed, t("staff.web.nav.operator"), body)

    async def _at_operators(self, uow: UnitOfWork) -> list[Escalation]:
        """Every programme's escalations sent and unseen whose last rung told was the operators', oldest first."""
        found: list[Escalation] = []
        for programme in self.app.registry.all():
            rows, _ = await uow.staff_web.escalations_sent(programme.id, SCAN)
            found += [row for row in rows if row.rung >= OPERATORS]
        return sorted(found, key=lambda row: (row.opened_at, row.id))

    async def _card(self, uow: UnitOfWork, t: Translator, staff_id: int, row: Escalation, csrf: str) -> str:
        programme: Programme | None = self.app.registry.get(row.programme_id)
        referral = await uow.referrals.get(row.referral_id) if row.referral_id else None
        zone = programme.timezone if programme else "Europe/Copenhagen"
        text = t("staff.web.urgent_line", id=row.referral_id or row.id,
                 since=format_when(row.sent_at or row.opened_at, t.lang, zone))
        if referral is not None and programme is not None:  # the copy the chat would show
            await uow.audit.record(actor=f"staff:{staff_id}", action="referral.viewed", at=self.now(),
                                   referral_id=referral.id)
            text = programme.name(t.lang) + "\n" + text
            text += "\n\n" + summary_text(referral.id, referral.payload, programme, t.lang, None)
        seen = html.button_form(f"{PATH}/esc/{row.id}", csrf, t("staff.escalation.seen"), {"button": "seen"})
        return (f'<article class="card crisis"><h3>{html.esc(t("staff.web.urgent", id=row.id))}</h3>'
                f"{html.text_block(text)}<div class=\"actions\">{seen}</div></article>")

    async def press_seen(self, request: web.Request) -> web.StreamResponse:
        async with self.app.uow() as uow:
            try:
                signed, form = await self.posted(uow, request, OPERATOR)
            except Refused as refused:
                return self.problem(request, refused)
            button = str(form.get("button", "seen"))[:40]
            # the same press as the chat's "Seen" button: policy decides now, and a refusal is audited there
            await self.app.intake.casework.press(uow, signed.who, f"esc.{request.match_info['id']}", button, 0,
                                                 self.now())
        raise web.HTTPSeeOther(PATH)
