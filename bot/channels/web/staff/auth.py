"""Sign-in to the staff area: a passkey registered with an invite, a passkey sign-in, a passkey again
before an export, a one-time link from a staff chat, and sign-out.

The WebAuthn protocol is the `webauthn` library's (options, and the verification of what the
browser's authenticator answers); this module keeps the challenges (one-time, 5 minutes, server side)
and what comes of them: the staff member (`Casework.join`, as in the chat), the passkey, a new session.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from typing import Any

import webauthn
from aiohttp import web
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from bot.channels.web.middleware import Gate
from bot.channels.web.staff import html
from bot.channels.web.staff.base import PRE_COOKIE, Area, Refused, csrf_of, see
from bot.channels.web.tokens import RateLimit
from bot.services import staff_sessions as sessions
from bot.services.notify import Who
from bot.services.staffing import INVITE_TRIES, invite_window
from flows.address import Address
from locales import Translator
from storage.candidates import subject_hash
from storage.repositories import UnitOfWork

# one address: no list separators, comments or quotes (a "To:" of "a@b.dk,c" would be two)
EMAIL = re.compile(r"^[^@\s<>\"(),;:\[\]\\]{1,64}@[^@\s<>\"(),;:\[\]\\]{1,190}\.[A-Za-z]{2,}\Z")
BUTTONS = {"register": "staff.web.passkey_register", "login": "staff.web.passkey_login"}
CEREMONIES_PER_MINUTE = 30  # passkey ceremonies begun from one address in a minute


class Auth(Area):
    def __init__(self, app: Any, settings: Any) -> None:
        super().__init__(app, settings)
        self.attempts = RateLimit(CEREMONIES_PER_MINUTE)
        self.gate = Gate(settings)  # the client's address, also behind the README's proxy (WEB_TRUST_PROXY)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/staff/register", self.register_page)
        router.add_get("/staff/login", self.login_page)
        router.add_get("/staff/link", self.link_page)
        router.add_post("/staff/link", self.link)
        router.add_post("/staff/logout", self.logout)
        for mode in ("register", "login", "verify"):
            router.add_post(f"/staff/{mode}/options", self.options)
            router.add_post(f"/staff/{mode}/finish", self.finish)

    # --- pages ------------------------------------------------------------------------------

    def _passkey_page(self, request: web.Request, mode: str, title: str, intro: str, fields: str = "") -> web.Response:
        lang = self.language(request)
        t = Translator(lang)
        value, csrf = self.pre_csrf(request)
        button = (f'<button type="submit" data-mode="{mode}" data-wait="{html.esc(t("staff.web.passkey_wait"))}" '
                  f'data-failed="{html.esc(t("staff.web.passkey_failed"))}">{html.esc(t(BUTTONS[mode]))}'
                  "</button>")
        body = (f"<p>{html.esc(intro)}</p><form class=\"block\" method=\"post\" action=\"/staff/{mode}/options\">"
                f'<input type="hidden" name="csrf" value="{html.esc(csrf)}">{fields}{button}</form>'
                '<p id="passkey-status" role="status" aria-live="polite"></p>'
                f'<noscript><p>{html.esc(t("staff.web.needs_script"))}</p></noscript>')
        response = self.respond(html.page(lang, title, body, script=True))
        self.set_cookie(request, response, PRE_COOKIE, value, 3600)
        return response

    async def register_page(self, request: web.Request) -> web.Response:
        t = Translator(self.language(request))
        code = request.query.get("code", "")[:64]
        fields = (f'<input type="hidden" name="code" data-send value="{html.esc(code)}">'
                  f'<label for="email">{html.esc(t("staff.web.email_label"))}</label>'
                  '<input type="email" id="email" name="email" data-send autocomplete="email">'
                  f'<p class="hint">{html.esc(t("staff.web.email_hint"))}</p>')
        return self._passkey_page(request, "register", t("staff.web.register_title"), t("staff.web.register_intro"),
                                  fields)

    async def login_page(self, request: web.Request) -> web.Response:
        t = Translator(self.language(request))
        return self._passkey_page(request, "login", t("staff.web.login_title"), t("staff.web.login_intro"))

    # --- the ceremony -----------------------------------------------------------------------

    def _json(self, data: dict[str, Any], status: int = 200) -> web.Response:
        return web.json_response(data, status=status)

    def _check_csrf(self, request: web.Request, body: dict[str, Any], mode: str) -> None:
        value = self.session_value(request) if mode == "verify" else self.pre_value(request)
        wanted = csrf_of(f"s:{value}") if mode == "verify" else csrf_of(f"pre:{value}")
        given = str(body.get("csrf", ""))
        if not value or not self.same_origin(request) or not hmac.compare_digest(given.encode(), wanted.encode()):
            raise Refused(403)

    async def options(self, request: web.Request) -> web.Response:
        mode = request.path.split("/")[2]
        if not self.attempts.allow(self.gate.address(request)):  # each call stores a challenge: not without end
            return self._json({"message": Translator(self.language(request))("web.rate_limited")}, 429)
        body = await self.json_body(request)
        now = self.now()
        async with self.app.uow() as uow:
            try:
                self._check_csrf(request, body, mode)
                data, staff_id, options = await self._options(uow, request, mode, body)
            except Refused as refused:
                await self.refuse(uow, request, None, f"{mode} options")
                return self._json({"message": Translator(self.language(request))(refused.msgid)}, refused.status)
            ticket = await sessions.add_token(uow, mode, data, now, staff_id=staff_id)
        return self._json({"options": json.loads(webauthn.options_to_json(options)), "ticket": ticket})

    async def _options(self, uow: UnitOfWork, request: web.Request, mode: str,
                       body: dict[str, Any]) -> tuple[dict[str, Any], int | None, Any]:
        rp_id, challenge = self.rp_id(request), secrets.token_bytes(32)
        data: dict[str, Any] = {"challenge": bytes_to_base64url(challenge)}
        if mode == "register":
            email = str(body.get("email", "")).strip()[:254]
            if email and not EMAIL.match(email):
                raise Refused(400, "staff.web.email_bad")
            code = str(body.get("code", ""))[:64]
            await self._invite_usable(uow, request, code)
            ident, _ = sessions.web_identity()
            data |= {"code": code, "ident": ident, "email": email}
            created = webauthn.generate_registration_options(
                rp_id=rp_id, rp_name="IPS", user_name=ident, user_id=ident.encode(), challenge=challenge,
                authenticator_selection=AuthenticatorSelectionCriteria(
                    resident_key=ResidentKeyRequirement.REQUIRED,
                    user_verification=UserVerificationRequirement.REQUIRED))
            return data, None, created
        allowed: list[PublicKeyCredentialDescriptor] = []
        staff_id = None
        if mode == "verify":  # a signed-in member of staff proves it again: only their own passkeys
            signed = await self.signed(uow, request, ("consultant", "peer", "coordinator", "operator"))
            staff_id = signed.staff.id
            allowed = [PublicKeyCredentialDescriptor(id=webauthn.base64url_to_bytes(c.credential_id))
                       for c in await uow.staff_web.credentials_of(staff_id)]
        options = webauthn.generate_authentication_options(
            rp_id=rp_id, challenge=challenge, allow_credentials=allowed,
            user_verification=UserVerificationRequirement.REQUIRED)
        return data, staff_id, options

    async def _invite_usable(self, uow: UnitOfWork, request: web.Request, code: str) -> None:
        """Refuses an invite that cannot be used, before the device makes a passkey (it is only looked at
        here: `join` uses it up). Wrong codes are counted per address as the chat counts them per person
        (a new web identity each time would never reach the chat's limit)."""
        subject, window = subject_hash("web-address", self.gate.address(request)), invite_window(self.now())
        if await uow.invites.wrong_codes(subject, window) >= INVITE_TRIES:
            raise Refused(429, "staff.invite.limited")
        _, problem = await uow.invites.redeem(code, self.now())
        if problem or not code:
            await uow.invites.count_wrong_code(subject, window)
            raise Refused(403, "staff.web.invite_bad")

    async def finish(self, request: web.Request) -> web.Response:
        mode = request.path.split("/")[2]
        body = await self.json_body(request)
        now = self.now()
        lang = self.language(request)
        async with self.app.uow() as uow:
            try:
                self._check_csrf(request, body, mode)
                data = await sessions.take_token(uow, str(body.get("ticket", "")), mode, now)
                if data is None:
                    raise Refused(403, "staff.web.passkey_failed")
                staff = await (self._registered(uow, request, data, body, lang) if mode == "register"
                               else self._asserted(uow, request, data, body))
                previous = self.session_value(request)
                raw = await sessions.open_session(uow, staff, now, verified=True, previous=previous)
            except Refused as refused:
                await self.refuse(uow, request, None, f"{mode} finish")
                return self._json({"message": Translator(lang)(refused.msgid)}, refused.status)
        nxt = str(body.get("next", ""))
        response = self._json({"next": nxt if nxt.startswith("/staff/") and "//" not in nxt else "/staff"})
        self.set_session(request, response, raw)
        return response

    async def _registered(self, uow: UnitOfWork, request: web.Request, data: dict[str, Any],
                          body: dict[str, Any], lang: str) -> Any:
        try:
            verified = webauthn.verify_registration_response(
                credential=dict(body.get("credential") or {}),
                expected_challenge=webauthn.base64url_to_bytes(data["challenge"]),
                expected_rp_id=self.rp_id(request), expected_origin=self.base(request),
                require_user_verification=True)
        except Exception as exc:  # the library's InvalidRegistrationResponse and its kin: a forged or broken answer
            raise Refused(403, "staff.web.passkey_failed") from exc
        if await uow.staff_web.credential(bytes_to_base64url(verified.credential_id)) is not None:
            # "none" attestation: the id is the sender's choice; someone else's is refused, the invite kept
            raise Refused(403, "staff.web.passkey_failed")
        ident = str(data["ident"])
        address = Address("email", data["email"]) if data.get("email") else Address(sessions.WEB, ident)
        await self.app.intake.casework.join(uow, Who(sessions.WEB, ident, address, lang), str(data["code"]), self.now())
        staff = await uow.staff.find(sessions.WEB, ident)
        if staff is None:  # the invite was unknown, used or expired (counted and audited by join)
            raise Refused(403, "staff.web.invite_bad")
        await uow.staff_web.set_identity(staff.id, {"channel": sessions.WEB, "id": ident}, self.now())
        await uow.staff_web.add_credential(staff.id, bytes_to_base64url(verified.credential_id),
                                           verified.credential_public_key, verified.sign_count, self.now())
        return staff

    async def _asserted(self, uow: UnitOfWork, request: web.Request, data: dict[str, Any],
                        body: dict[str, Any]) -> Any:
        credential = body.get("credential")
        found = await uow.staff_web.credential(str(credential.get("id", ""))[:1400]) if isinstance(
            credential, dict) else None
        if not isinstance(credential, dict) or found is None or (
                data.get("staff_id") is not None and found.staff_id != data["staff_id"]):
            raise Refused(403, "staff.web.passkey_failed")
        try:
            verified = webauthn.verify_authentication_response(
                credential=credential, expected_challenge=webauthn.base64url_to_bytes(data["challenge"]),
                expected_rp_id=self.rp_id(request), expected_origin=self.base(request),
                credential_public_key=found.public_key, credential_current_sign_count=found.sign_count,
                require_user_verification=True)
        except Exception as exc:  # a wrong signature, challenge, origin or a counter gone back
            raise Refused(403, "staff.web.passkey_failed") from exc
        staff = await uow.staff.get(found.staff_id)
        if staff is None or not staff.active:
            raise Refused(403, "staff.web.passkey_failed")
        found.sign_count, found.used_at = verified.new_sign_count, self.now()
        return staff

    # --- a link from the chat, and leaving ---------------------------------------------------

    async def link_page(self, request: web.Request) -> web.Response:
        """A GET uses nothing (a link preview must not spend the link): the button posts it."""
        lang = self.language(request)
        t = Translator(lang)
        value, csrf = self.pre_csrf(request)
        body = html.button_form("/staff/link", csrf, t("staff.web.link_button"),
                                {"t": request.query.get("t", "")[:100]})
        response = self.respond(html.page(lang, t("staff.web.login_title"), body))
        self.set_cookie(request, response, PRE_COOKIE, value, 3600)
        return response

    async def link(self, request: web.Request) -> web.StreamResponse:
        form = await self.form(request)
        now = self.now()
        async with self.app.uow() as uow:
            value = self.pre_value(request)
            ok_csrf = bool(value) and hmac.compare_digest(str(form.get("csrf", "")).encode(),
                                                          csrf_of(f"pre:{value}").encode())
            staff = await sessions.use_link(uow, str(form.get("t", "")), now) if ok_csrf and self.same_origin(
                request) else None
            if staff is None:
                await self.refuse(uow, request, None, "link")
                return self.problem(request, Refused(403, "staff.web.link_bad"))
            raw = await sessions.open_session(uow, staff, now, verified=False, previous=self.session_value(request))
        response = see("/staff")
        self.set_session(request, response, raw)
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        async with self.app.uow() as uow:
            try:
                await self.posted(uow, request, ("consultant", "peer", "coordinator", "operator"))
            except Refused as refused:
                return self.problem(request, refused)
            await sessions.end_session(uow, self.session_value(request), self.now())
        response = see("/staff/login")
        self.set_session(request, response, None)
        return response
