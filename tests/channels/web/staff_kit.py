"""The staff area under test: a software passkey (a P-256 key answering WebAuthn as an authenticator
would), a site with a controllable clock, and helpers to sign in and to make a referral.

The passkey builds real attestation and assertion data (CBOR, COSE key, ECDSA signature over the
authenticator data and the client data's hash), so the server's `webauthn` library checks them in full.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cbor2
import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from bot.app import App, open_app
from bot.channels.web.server import WebChannel
from bot.clock import ManualClock
from bot.services.intake import Person
from bot.settings import Settings
from flows.address import Address
from storage.models import Referral
from tests.channels.web.conftest import settings_for
from tests.service.test_risk_routing import until
from tests.support.programmes import pilot_yaml

ORIGIN = "http://localhost"
PROGRAMME = "pilot"
PILOT = pilot_yaml("instruments: [phq9]\ncaseload_cap: 2\n")
OTHER = PILOT.replace("id: pilot", "id: other", 1)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Passkey:
    """One credential on a software authenticator."""

    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    credential_id: bytes = field(default_factory=lambda: hashlib.sha256(str(id(object())).encode()).digest()[:16])
    user: bytes = b""
    counter: int = 0

    def _cose(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    @staticmethod
    def _client(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}).encode()

    def create(self, options: dict[str, Any], origin: str = ORIGIN) -> dict[str, Any]:
        self.user = unb64(options["user"]["id"])
        rp_hash = hashlib.sha256(options["rp"]["id"].encode()).digest()
        attested = bytes(16) + struct.pack(">H", len(self.credential_id)) + self.credential_id + self._cose()
        auth = rp_hash + bytes([0x45]) + struct.pack(">I", self.counter) + attested  # UP, UV, attested data
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth})
        return {"id": b64(self.credential_id), "rawId": b64(self.credential_id), "type": "public-key",
                "clientExtensionResults": {},
                "response": {"clientDataJSON": b64(self._client("webauthn.create", options["challenge"], origin)),
                             "attestationObject": b64(attestation), "transports": ["internal"]}}

    def get(self, options: dict[str, Any], origin: str = ORIGIN, *, rp_id: str | None = None) -> dict[str, Any]:
        self.counter += 1
        rp_hash = hashlib.sha256((rp_id or options["rpId"]).encode()).digest()
        auth = rp_hash + bytes([0x05]) + struct.pack(">I", self.counter)  # UP, UV
        client = self._client("webauthn.get", options["challenge"], origin)
        signature = self.key.sign(auth + hashlib.sha256(client).digest(), ec.ECDSA(hashes.SHA256()))
        return {"id": b64(self.credential_id), "rawId": b64(self.credential_id), "type": "public-key",
                "clientExtensionResults": {},
                "response": {"clientDataJSON": b64(client), "authenticatorData": b64(auth),
                             "signature": b64(signature), "userHandle": b64(self.user)}}


class Browser(TestClient[Any, Any]):
    """A browser of its own (its cookies) on the shared server: closing it leaves the server running."""

    async def close(self) -> None:
        if not self._closed:
            for resp in self._responses:
                resp.close()
            for ws in self._websockets:
                await ws.close()
            await self._session.close()
            self._closed = True


@dataclass
class StaffSite:
    app: App
    server: TestServer
    clock: ManualClock
    settings: Settings

    def browser(self) -> Browser:
        return Browser(self.server)


@pytest.fixture
async def staff_site(tmp_path: Path) -> AsyncIterator[StaffSite]:
    clock = ManualClock()
    programmes = tmp_path / "programmes"
    programmes.mkdir()
    (programmes / "pilot.yaml").write_text(PILOT, encoding="utf-8")
    (programmes / "other.yaml").write_text(OTHER, encoding="utf-8")
    settings = settings_for(tmp_path, web_url=ORIGIN, programmes_dir=programmes)
    async with open_app(settings, clock) as app:
        server = TestServer(WebChannel(app, settings).application())
        async with TestClient(server) as client:  # starts the server once for every browser of the test
            del client
            yield StaffSite(app, server, clock, settings)


def csrf_in(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    if found is None:
        raise AssertionError("no CSRF token on the page")
    return found.group(1)


async def invite(site: StaffSite, role: str, programme: str = PROGRAMME, name: str = "") -> str:
    async with site.app.uow() as uow:
        return await site.app.intake.casework.invite(uow, role=role, programme_id=programme,
                                                     name=name or f"{role} {programme}", now=site.clock.now())


async def register(site: StaffSite, browser: TestClient[Any, Any], code: str, passkey: Passkey,
                   email: str = "") -> Any:
    page = await (await browser.get(f"/staff/register?code={code}")).text()
    csrf = csrf_in(page)
    start = await browser.post("/staff/register/options", json={"csrf": csrf, "code": code, "email": email})
    assert start.status == 200, await start.text()
    body = await start.json()
    return await browser.post("/staff/register/finish", json={
        "csrf": csrf, "code": code, "ticket": body["ticket"], "credential": passkey.create(body["options"])})


async def sign_in(browser: TestClient[Any, Any], passkey: Passkey) -> Any:
    csrf = csrf_in(await (await browser.get("/staff/login")).text())
    start = await (await browser.post("/staff/login/options", json={"csrf": csrf})).json()
    return await browser.post("/staff/login/finish", json={"csrf": csrf, "ticket": start["ticket"],
                                                           "credential": passkey.get(start["options"])})


async def joined(site: StaffSite, role: str, programme: str = PROGRAMME) -> tuple[TestClient[Any, Any], Passkey]:
    """A member of staff who joined in the staff area and is signed in (their browser and passkey)."""
    browser, passkey = site.browser(), Passkey()
    answer = await register(site, browser, await invite(site, role, programme), passkey)
    assert answer.status == 200, await answer.text()
    return browser, passkey


async def referral(site: StaffSite, n: int, plan: dict[str, Any] | None = None,
                   programme: str = PROGRAMME) -> Referral:
    """A whole intake in the chat by person `n`, to its referral (offered to the programme's consultants)."""
    svc = site.app.intake
    who = Person("telegram", str(n), language="da", address=Address("telegram", str(n)))
    await until(svc, who, await svc.start(who, programme), plan or {})
    async with site.app.uow() as uow:
        candidate = await uow.candidates.find("telegram", str(n))
        assert candidate is not None
        found = await uow.referrals.of_candidate(candidate.id)
        assert found, "the intake made no referral"
        return found[-1]


async def audit(site: StaffSite, action: str) -> list[Any]:
    from sqlalchemy import select

    from storage.models import AuditEvent
    async with site.app.uow() as uow:
        rows = await uow.audit.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                               .order_by(AuditEvent.id))
        return list(rows.all())
