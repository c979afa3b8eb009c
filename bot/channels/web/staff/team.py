"""The coordinator's pages besides urgent cases: the waiting list, the team (invite, remove) and the dashboard.

A coordinator acts only on their own programme: an invite is for it and a removal of it, and both only
of consultants and peers (never a coordinator or an operator). Removing someone ends their sessions at
once (and every request checks anyway); their cases go back as `Casework.remove_staff` does in the chat.
"""

from __future__ import annotations

import io

from aiohttp import web

from bot.channels.web.staff import html
from bot.channels.web.staff.base import Area, Refused
from bot.services.policy import record_id
from locales import Translator, format_when

COORDINATOR = ("coordinator",)
REMOVABLE = ("consultant", "peer")
# only whom a coordinator may also remove: else a coordinator could keep a second coordinator identity
# that no coordinator can remove here (coordinators are invited with `ipsbot invite`)
INVITABLE = REMOVABLE


class Team(Area):
    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/staff/waiting", self.waiting)
        router.add_get("/staff/team", self.team)
        router.add_post("/staff/team/invite", self.invite)
        router.add_post("/staff/team/remove", self.remove)
        router.add_get("/staff/dashboard", self.dashboard)
        router.add_get("/staff/dashboard.csv", self.dashboard_csv)

    async def waiting(self, request: web.Request) -> web.StreamResponse:
        async with self.app.uow() as uow:
            try:
                signed = await self.signed(uow, request, COORDINATOR)
            except Refused as refused:
                return self.problem(request, refused)
            t = Translator(self.language(request, signed))
            programme = self.app.registry.get(signed.staff.programme_id)
            zone = programme.timezone if programme else "Europe/Copenhagen"
            waiting, total = await uow.staff_web.waiting(signed.staff.programme_id)
            # which referrals wait, and which are urgent (a risk answer): a read of people's data
            await uow.audit.record(actor=f"staff:{signed.staff.id}", action="waiting.viewed", at=self.now(),
                                   detail=signed.staff.programme_id)
            rows = [[f"R-{r.id}", format_when(r.waiting_since or r.created_at, t.lang, zone),
                     t("staff.web.yes") if r.urgent else ""] for r in waiting]
        more = f"<p>{html.esc(t('staff.web.more', n=total - len(rows)))}</p>" if total > len(rows) else ""
        body = more + html.table(t("staff.web.nav.waiting"), [t("staff.web.col.referral"), t("staff.web.col.since"),
                                                       t("staff.web.col.urgent")], rows)
        return self.signed_page(request, signed, t("staff.web.nav.waiting"),
                                body or f"<p>{html.esc(t('staff.web.no_waiting'))}</p>")

    async def team(self, request: web.Request, shown: str = "") -> web.StreamResponse:
        async with self.app.uow() as uow:
            try:
                signed = await self.signed(uow, request, COORDINATOR)
            except Refused as refused:
                return self.problem(request, refused)
            members = [s for s in await uow.staff.all()
                       if s.active and s.programme_id == signed.staff.programme_id]
        t = Translator(self.language(request, signed))
        csrf = self.csrf(request)
        rows = [[s.name, t(f"staff.web.role.{s.role}"),
                 html.button_form("/staff/team/remove", csrf, t("staff.web.remove", name=s.name),
                                  {"staff": str(s.id)}) if s.role in REMOVABLE else ""] for s in members]
        options = "".join(f'<option value="{r}">{html.esc(t(f"staff.web.role.{r}"))}</option>' for r in INVITABLE)
        invite = (f'<h2>{html.esc(t("staff.web.invite"))}</h2><form class="block" method="post" '
                  f'action="/staff/team/invite"><input type="hidden" name="csrf" value="{html.esc(csrf)}">'
                  f'<label for="role">{html.esc(t("staff.web.col.role"))}</label><select id="role" name="role">'
                  f'{options}</select><label for="name">{html.esc(t("staff.web.col.name"))}</label>'
                  '<input type="text" id="name" name="name" maxlength="80" required autocomplete="off"> '
                  f'<button type="submit">{html.esc(t("staff.web.invite"))}</button></form>')
        body = shown + html.table(t("staff.web.nav.team"), [t("staff.web.col.name"), t("staff.web.col.role"), ""],
                                  rows, raw_last=True) + invite
        return self.signed_page(request, signed, t("staff.web.nav.team"), body)

    async def invite(self, request: web.Request) -> web.StreamResponse:
        now = self.now()
        async with self.app.uow() as uow:
            try:
                signed, form = await self.posted(uow, request, COORDINATOR)
            except Refused as refused:
                return self.problem(request, refused)
            role, name = str(form.get("role", "")), str(form.get("name", "")).strip()[:80]
            if role not in INVITABLE or not name:
                await self.refuse(uow, request, signed, f"invite {role[:16]}")
                return self.problem(request, Refused(400, "web.bad_request"))
            code = await self.app.intake.casework.invite(uow, role=role, programme_id=signed.staff.programme_id,
                                                         name=name, now=now)
            await uow.audit.record(actor=f"staff:{signed.staff.id}", action="staff.invited", at=now, detail=role)
        t = Translator(self.language(request, signed))
        link = f"{self.base(request)}/staff/register?code={code}"
        shown = (f'<div class="card" role="status"><p>{html.esc(t("staff.web.invited", name=name))}</p>'
                 f"<p><code>{html.esc(link)}</code></p></div>")
        return await self.team(request, shown)

    async def remove(self, request: web.Request) -> web.StreamResponse:
        now = self.now()
        async with self.app.uow() as uow:
            try:
                signed, form = await self.posted(uow, request, COORDINATOR)
            except Refused as refused:
                return self.problem(request, refused)
            found = record_id(str(form.get("staff", "")))
            member = await uow.staff.get(found) if found is not None else None
            if (member is None or not member.active or member.programme_id != signed.staff.programme_id
                    or member.role not in REMOVABLE):
                await self.refuse(uow, request, signed, "remove")
                return self.problem(request, Refused(403))
            await self.app.intake.casework.remove_staff(uow, member.id, now)  # their sessions end there
            await uow.audit.record(actor=f"staff:{signed.staff.id}", action="staff.removed_by", at=now,
                                   detail=f"staff:{member.id}")
        raise web.HTTPSeeOther("/staff/team")

    async def dashboard(self, request: web.Request) -> web.StreamResponse:
        from bot.exports.dashboard_render import dashboard_html

        now = self.now()
        async with self.app.uow() as uow:
            try:
                signed = await self.signed(uow, request, COORDINATOR)
            except Refused as refused:
                return self.problem(request, refused)
            await uow.audit.record(actor=f"staff:{signed.staff.id}", action="dashboard.viewed", at=now,
                                   detail=signed.staff.programme_id)
        lang = self.language(request, signed)
        _, fragment = await dashboard_html(self.app.uow, self.app.registry, signed.staff.programme_id, now, lang)
        t = Translator(lang)
        head = (f'<p>{html.esc(t("dash.legend"))}</p>'
                f'<p><a href="/staff/dashboard.csv?lang={lang}">{html.esc(t("staff.web.dashboard_csv"))}</a></p>')
        return self.signed_page(request, signed, t("staff.web.nav.dashboard"), head + fragment)

    async def dashboard_csv(self, request: web.Request) -> web.StreamResponse:
        """The aggregated table as CSV (counts, shares and times; "<5" and hidden cells as published)."""
        from bot.exports.dashboard import build
        from bot.exports.dashboard_render import write_csv

        now = self.now()
        async with self.app.uow() as uow:
            try:
                signed = await self.signed(uow, request, COORDINATOR)
            except Refused as refused:
                return self.problem(request, refused)
            await uow.audit.record(actor=f"staff:{signed.staff.id}", action="report", at=now,
                                   detail=f"{signed.staff.programme_id} csv")
        out = io.StringIO()
        write_csv(await build(self.app.uow, self.app.registry, signed.staff.programme_id, now), out,
                  self.language(request, signed))
        response = web.Response(text=out.getvalue(), content_type="text/csv", charset="utf-8")
        response.headers["Content-Disposition"] = f'attachment; filename="dashboard-{signed.staff.programme_id}.csv"'
        return response
