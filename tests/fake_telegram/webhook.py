"""Delivery of updates to a webhook, with retries, and the webhook methods."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import aiohttp
import orjson

from tests.fake_telegram.api import (
    _SECRET_RE,
)
from tests.fake_telegram.records import (
    _DEFAULT,
    ApiError,
    Call,
    JsonDict,
    UploadedFile,
    WebhookDelivery,
    _as_int,
    _Default,
    _Described,
    _parse_multipart,
)


class Webhook:
    """Delivery of updates to a webhook, with retries, and the webhook methods.

    A part of `FakeTelegram`, whose `__init__` sets the state used here.
    """

    # -- webhook ------------------------------------------------------------------------------------------

    async def post_to_webhook(
        self,
        update: JsonDict,
        *,
        secret: str | _Default | None = _DEFAULT,
        url: str | None = None,
    ) -> int:
        """POST an update directly to the webhook (``secret``: default = configured one, ``None`` = no
        header, or any string) and return the HTTP status.  Not queued, not retried."""
        target = url or self.webhook_url
        if not target:
            raise RuntimeError("no webhook url configured")
        if "update_id" not in update:
            update = self._assign_id(update)
        status, _, _ = await self._post_update(target, update, secret)
        self.webhook_responses.append(
            WebhookDelivery(
                update_id=update.get("update_id"), status=status, attempt=1, time=time.monotonic()
            )
        )
        self._changed.fire()
        return status if status is not None else 0

    @property
    def last_webhook_status(self) -> int | None:
        return self.webhook_responses[-1].status if self.webhook_responses else None

    @property
    def webhook_statuses(self) -> list[int | None]:
        return [r.status for r in self.webhook_responses]

    async def wait_for_webhook_delivery(
        self,
        update_id: int,
        timeout: float = 10.0,
        *,
        status: int | None = 200,
    ) -> WebhookDelivery:
        """Wait until a webhook POST of ``update_id`` got ``status`` (``None`` = any outcome)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for delivery in self.webhook_responses:
                if delivery.update_id == update_id and (status is None or delivery.status == status):
                    return delivery
            if not await self._changed.wait(deadline - loop.time()):
                raise TimeoutError(f"update {update_id} not delivered to the webhook within {timeout}s")

    def _assign_id(self, update: JsonDict) -> JsonDict:
        update = {"update_id": self._new_update_id(), **update}
        self._update_log[update["update_id"]] = update
        return update

    async def _post_update(
        self, url: str, update: JsonDict, secret: str | _Default | None
    ) -> tuple[int | None, str, str | None]:
        if self._client is None:
            raise RuntimeError("FakeTelegram is not started")
        headers = {"Content-Type": "application/json"}
        secret_value = self.webhook_secret if isinstance(secret, _Default) else secret
        if secret_value is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret_value
        try:
            async with self._client.post(
                url,
                data=orjson.dumps(update),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
            ) as response:
                body = await response.read()
                if response.status == 200:
                    await self._execute_webhook_reply(response, body)
                return response.status, body.decode("utf-8", "replace"), None
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, "", f"{type(exc).__name__}: {exc}"

    async def _execute_webhook_reply(self, response: aiohttp.ClientResponse, body: bytes) -> None:
        """Telegram executes a method returned in the webhook response body; so do we."""
        raw: JsonDict = {}
        files: dict[str, UploadedFile] = {}
        if response.content_type == "application/json":
            with contextlib.suppress(ValueError):
                data = json.loads(body or b"{}")
                if isinstance(data, dict):
                    raw = data
        elif response.content_type == "multipart/form-data":
            raw, files = _parse_multipart(response.headers.get("Content-Type", ""), body)
        method = raw.pop("method", None)
        if not isinstance(method, str):
            return
        params = self._decode_params(raw)
        call = Call(method=method, params=params, time=time.monotonic(), files=files, token=self.token)
        self.calls.append(call)
        handler = self._methods.get(method.lower())
        if handler is None or method.lower() == "getupdates":
            self._record_result(call, ApiError(404, "Not Found").payload(), 404)
            return
        try:
            result = await handler(params, files)
        except ApiError as exc:
            self._record_result(call, exc.payload(), exc.error_code)
            return
        if isinstance(result, _Described):
            result = result.result
        self._record_result(call, {"ok": True, "result": result}, 200)

    def _record_result(self, call: Call, body: JsonDict, status: int) -> None:
        call.status = status
        call.response = body
        self._changed.fire()

    async def _webhook_worker(self) -> None:
        while not self._closing:
            if not self.webhook_url or not self._pending:
                await self._updates_changed.wait(None)
                continue
            pending = self._pending[0]
            if not self._is_allowed(pending.update, self.webhook_allowed_updates):
                self._pending.pop(0)
                self._updates_changed.fire()
                continue
            url = self.webhook_url
            pending.attempts += 1
            attempt = pending.attempts
            status, body, error = await self._post_update(url, pending.update, _DEFAULT)
            self.webhook_responses.append(
                WebhookDelivery(
                    update_id=pending.update_id,
                    status=status,
                    attempt=attempt,
                    time=time.monotonic(),
                    error=error,
                    body=body,
                )
            )
            if status == 200:
                self.delivered_update_ids.append(pending.update_id)
            else:
                message = error or f"Wrong response from the webhook: {status}"
                self.webhook_last_error = (int(time.time()), message)
            done = status == 200 or attempt >= self.webhook_max_tries
            if done:
                if pending in self._pending:
                    self._pending.remove(pending)
                self._updates_changed.fire()
            self._changed.fire()
            if not done:
                delay = min(self.webhook_retry_delay * 2 ** (attempt - 1), self.webhook_max_retry_delay)
                await asyncio.sleep(delay)

    async def _m_set_webhook(self, params: JsonDict, files: dict[str, UploadedFile]) -> Any:
        url = str(params.get("url") or "")
        if not url:
            return await self._m_delete_webhook(params, files)
        if not url.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_RE.match(str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if params.get("drop_pending_updates") is True:
            self._pending.clear()
        self.webhook_url = url
        self.webhook_secret = str(secret) if secret is not None else None
        allowed = params.get("allowed_updates")
        self.webhook_allowed_updates = [str(x) for x in allowed] if isinstance(allowed, list) else None
        self.webhook_max_connections = _as_int(params.get("max_connections"), 40)
        self.webhook_last_error = None
        self._updates_changed.fire()
        return _Described(True, "Webhook was set")

    async def _m_delete_webhook(self, params: JsonDict, files: dict[str, UploadedFile]) -> Any:
        had = self.webhook_url is not None
        if params.get("drop_pending_updates") is True:
            self._pending.clear()
        self.webhook_url = None
        self.webhook_secret = None
        self.webhook_allowed_updates = None
        self._updates_changed.fire()
        return _Described(True, "Webhook was deleted" if had else "Webhook is already deleted")

    async def _m_get_webhook_info(self, params: JsonDict, files: dict[str, UploadedFile]) -> JsonDict:
        info: JsonDict = {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook_url:
            info["max_connections"] = self.webhook_max_connections
            info["ip_address"] = self.host
            if self.webhook_allowed_updates is not None:
                info["allowed_updates"] = list(self.webhook_allowed_updates)
            if self.webhook_last_error:
                info["last_error_date"], info["last_error_message"] = self.webhook_last_error
        return info
