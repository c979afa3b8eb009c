"""The peer's page: their coming times and bookings (no health data), publishing a time and taking one back.

A new time goes to `Meetings.slot_press` as the chat's last step does (``slot.repeat`` with
``YYYYmmddHHMM-<minutes>-<place>-<weeks>``), so the same rules (`policy.slot_fits`, `may_use_slot`)
decide, and a refusal is audited there; taking one back is the chat's ``remove-<id>``.
"""

from __future__ import annotations

from datetime import date

from aiohttp import web

from bot.channels.web.staff import html
from bot.channels.web.staff.base import Area, Refused, see
from bot.services.policy import LENGTHS, may_use_slot
from flows.slots import FIRST_HOUR, LAST_HOUR, PLACES, WEEKS
from locales import Translator, format_when

PEER = ("peer",)


class Peer(Area):
    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/staff/slots", self.slots)
        router.add_post("/staff/slots", self.publish)

    async def slots(self, request: web.Request) -> web.StreamResponse:
        now = self.now()
        async with self.app.uow() as uow:
            try:
                signed = await self.signed(uow, request, PEER)
            except Refused as refused:
                return self.problem(request, refused)
            t = Translator(self.language(request, signed))
            programme = self.app.registry.get(signed.staff.programme_id)
            zone = programme.timezone if programme else "Europe/Copenhagen"
            csrf = self.csrf(request)
            rows = [[format_when(s.starts_at, t.lang, zone), str(s.minutes), t(f"place.{s.place}"),
                     t("staff.web.booked") if s.referral_id else t("staff.web.free"),
                     html.button_form("/staff/slots", csrf, t("slots.remove", when=format_when(
                         s.starts_at, t.lang, zone)), {"remove": str(s.id)}, cls="nav")]
                    for s in await uow.slots.upcoming_of(signed.staff.id, now) if may_use_slot(signed.staff, s)]
        table = html.table(t("staff.web.nav.slots"), [t("staff.web.col.when"), t("staff.web.col.minutes"),
                                                      t("staff.web.col.place"), t("staff.web.col.booking"), ""],
                           rows, raw_last=True)
        body = (table or f"<p>{html.esc(t('staff.web.no_slots'))}</p>") + self._new_form(t, csrf)
        return self.signed_page(request, signed, t("staff.web.nav.slots"), body)

    @staticmethod
    def _new_form(t: Translator, csrf: str) -> str:
        def select(name: str, label: str, options: list[tuple[str, str]]) -> str:
            opts = "".join(f'<option value="{html.esc(v)}">{html.esc(text)}</option>' for v, text in options)
            return f'<label for="{name}">{html.esc(label)}</label><select id="{name}" name="{name}">{opts}</select>'

        times = [f"{h:02d}{m:02d}" for h in range(FIRST_HOUR, LAST_HOUR + 1) for m in (0, 30)][:-1]
        return (f'<h2>{html.esc(t("slots.add"))}</h2><form class="block" method="post" action="/staff/slots">'
                f'<input type="hidden" name="csrf" value="{html.esc(csrf)}">'
                f'<label for="day">{html.esc(t("staff.web.col.day"))}</label>'
                '<input type="date" id="day" name="day" required>'
                + select("time", t("staff.web.col.time"), [(v, f"{v[:2]}:{v[2:]}") for v in times])
                + select("minutes", t("staff.web.col.minutes"), [(str(n), t("slots.minutes", minutes=n))
                                                                 for n in LENGTHS])
                + select("place", t("staff.web.col.place"), [(p, t(f"place.{p}")) for p in PLACES])
                + select("weeks", t("staff.web.col.repeat"), [("1", t("slots.once")),
                                                               (str(WEEKS), t("slots.weekly", weeks=WEEKS))])
                + f' <button type="submit">{html.esc(t("slots.add"))}</button></form>')

    async def publish(self, request: web.Request) -> web.StreamResponse:
        async with self.app.uow() as uow:
            try:
                signed, form = await self.posted(uow, request, PEER)
            except Refused as refused:
                return self.problem(request, refused)
            meetings = self.app.intake.casework.meetings
            remove = str(form.get("remove", ""))[:12]
            if remove:
                await meetings.slot_press(uow, signed.who, "slot.list", f"remove-{remove}", self.now())
                return see("/staff/slots")
            try:
                day = date.fromisoformat(str(form.get("day", ""))[:10])
            except ValueError:
                day = None
            fields = [str(form.get(k, ""))[:12] for k in ("time", "minutes", "place", "weeks")]
            # an impossible time or length is the service's to refuse (and audit), as in the chat
            button = f"{day:%Y%m%d}{fields[0]}-{fields[1]}-{fields[2]}-{fields[3]}" if day else "x"
            await meetings.slot_press(uow, signed.who, "slot.repeat", button, self.now())
        return see("/staff/slots")
