"""The update queue and its delivery by long polling (`getUpdates`)."""

from __future__ import annotations

import asyncio
import copy

from aiohttp import web

from tests.fake_telegram.api import (
    _OPT_IN_UPDATE_TYPES,
)
from tests.fake_telegram.records import (
    ApiError,
    JsonDict,
    _as_float,
    _as_int,
    _Pending,
    _update_type,
)


class Updates:
    """The update queue and its delivery by long polling (`getUpdates`).

    A part of `FakeTelegram`, whose `__init__` sets the state used here.
    """

    def enqueue_raw(self, update: JsonDict) -> JsonDict:
        """Queue an arbitrary update dict (an ``update_id`` is assigned when missing)."""
        return self._enqueue(copy.deepcopy(update))

    def duplicate(self, update_id: int) -> JsonDict:
        """Deliver an earlier update again with the same ``update_id`` (even if it was already confirmed)."""
        update = self._update_log.get(update_id)
        if update is None:
            raise LookupError(f"unknown update_id {update_id}")
        self._pending.insert(0, _Pending(copy.deepcopy(update), forced=True))
        self._updates_changed.fire()
        return update

    @property
    def pending_updates(self) -> list[JsonDict]:
        """Updates not yet confirmed (polling) or not yet delivered (webhook)."""
        return [p.update for p in self._pending]

    def get_update(self, update_id: int) -> JsonDict:
        return self._update_log[update_id]

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until no updates are pending (confirmed by getUpdates offset or delivered to the webhook)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._pending:
            if not await self._updates_changed.wait(deadline - loop.time()):
                raise TimeoutError(f"{len(self._pending)} updates still pending after {timeout}s")

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until the bot has finished with every update: none pending, and (polling) the bot
        waiting in a long poll for news.

        For a bot that stores updates before it confirms them and long-polls only when it has nothing
        in hand (ours); with a webhook, the same as `drain`.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._pending or not (self.webhook_url or self.waiting_in_long_poll):
            if not await self._updates_changed.wait(deadline - loop.time()):
                state = f"{len(self._pending)} updates pending" if self._pending else "no long poll waiting"
                raise TimeoutError(f"not settled after {timeout}s: {state}")

    @property
    def waiting_in_long_poll(self) -> bool:
        """Whether a getUpdates with a timeout is waiting, with nothing to deliver yet."""
        return self._waiting_poll is not None and self._waiting_poll == self._poll_generation

    def _new_update_id(self) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        return update_id

    def _enqueue(self, update: JsonDict) -> JsonDict:
        if "update_id" not in update:
            update = {"update_id": self._new_update_id(), **update}
        self._next_update_id = max(self._next_update_id, int(update["update_id"]) + 1)
        self._update_log[int(update["update_id"])] = update
        self._pending.append(_Pending(update))
        self._updates_changed.fire()
        return update

    def _is_allowed(self, update: JsonDict, allowed: list[str] | None) -> bool:
        kind = _update_type(update)
        if allowed:
            return kind in allowed
        return kind not in _OPT_IN_UPDATE_TYPES

    # -- polling ------------------------------------------------------------------------------------------

    async def _get_updates(self, params: JsonDict, request: web.Request) -> list[JsonDict]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _as_int(params.get("offset"), 0)
        limit = min(max(_as_int(params.get("limit"), 100), 1), 100)
        timeout = max(_as_float(params.get("timeout"), 0.0), 0.0)
        if "allowed_updates" in params and isinstance(params["allowed_updates"], list):
            self._allowed_updates = [str(x) for x in params["allowed_updates"]]

        self._poll_generation += 1
        generation = self._poll_generation
        self._updates_changed.fire()  # terminates an older long poll
        if offset:
            self._confirm(offset)

        batch = await self._wait_for_batch(generation, limit, timeout)
        transport = request.transport
        if transport is not None and not transport.is_closing():
            for pending in batch:
                pending.forced = False
                self.delivered_update_ids.append(pending.update_id)
        return [copy.deepcopy(p.update) for p in batch]

    async def _wait_for_batch(self, generation: int, limit: int, timeout: float) -> list[_Pending]:
        """What this long poll delivers: at once, when news comes, or nothing at its timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                if self._poll_generation != generation:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                if self.webhook_url:
                    raise ApiError(409, "Conflict: webhook is active")
                batch = self._take_batch(limit)
                if batch or self._closing:
                    return batch
                if deadline > loop.time() and self._waiting_poll != generation:
                    self._waiting_poll = generation  # the bot waits for news: see `settle`
                    self._updates_changed.fire()
                if not await self._updates_changed.wait(deadline - loop.time()):
                    return []
        finally:
            if self._waiting_poll == generation:
                self._waiting_poll = None

    def _confirm(self, offset: int) -> None:
        before = len(self._pending)
        if offset < 0:
            self._pending = self._pending[offset:]
        else:
            self._pending = [p for p in self._pending if p.update_id >= offset or p.forced]
        if len(self._pending) != before:
            self._updates_changed.fire()

    def _take_batch(self, limit: int) -> list[_Pending]:
        allowed = self._allowed_updates
        dropped = [p for p in self._pending if not self._is_allowed(p.update, allowed)]
        if dropped:
            self._pending = [p for p in self._pending if p not in dropped]
        return self._pending[:limit]
