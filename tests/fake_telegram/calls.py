"""The recorded calls, and injected faults: errors, blocked users, rate limits."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from tests.fake_telegram.api import (
    _DEFAULT_DESCRIPTIONS,
    BLOCKED,
)
from tests.fake_telegram.records import (
    ApiError,
    Call,
    JsonDict,
    RateViolation,
    _Fault,
)


class Calls:
    """The recorded calls, and injected faults: errors, blocked users, rate limits.

    A part of `FakeTelegram`, whose `__init__` sets the state used here.
    """

    # -- recorded calls -----------------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        """Recorded calls of one method (case-insensitive)."""
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def clear_calls(self) -> None:
        self.calls.clear()

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 10.0,
        *,
        completed: bool = True,
        since: int = 0,
    ) -> Call:
        """Wait for a call of ``method`` (matching ``predicate``, at index >= ``since`` in ``calls``).

        With ``completed=False`` it returns as soon as the request arrived (useful for long polls)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for call in self.calls[since:]:
                if call.method.lower() != method.lower():
                    continue
                if completed and call.status is None:
                    continue
                if predicate is None or predicate(call):
                    return call
            if not await self._changed.wait(deadline - loop.time()):
                raise TimeoutError(f"no {method} call within {timeout}s")

    # -- fault injection ----------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        error_code: int = 429,
        retry_after: int | None = 1,
        times: int = 1,
        *,
        description: str | None = None,
        chat_id: int | str | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (``"*"`` = any method except getUpdates, optionally
        only for ``chat_id``) fail with ``error_code``; 429 carries ``parameters.retry_after``."""
        parameters: JsonDict | None = None
        if error_code == 429:
            retry = 1 if retry_after is None else retry_after
            parameters = {"retry_after": retry}
            description = description or f"Too Many Requests: retry after {retry}"
        description = description or _DEFAULT_DESCRIPTIONS.get(error_code, "Error")
        self._faults.append(
            _Fault(
                method=method.lower(),
                error_code=error_code,
                description=description,
                parameters=parameters,
                remaining=times,
                chat_id=chat_id,
            )
        )

    def clear_faults(self) -> None:
        self._faults.clear()

    def block_user(self, chat_id: int) -> None:
        """Sending to this chat now fails with 403 "Forbidden: bot was blocked by the user"."""
        self._blocked.add(chat_id)

    def unblock_user(self, chat_id: int) -> None:
        self._blocked.discard(chat_id)

    def rate_limit_per_chat(self, per_second: float | None = 1, *, enforce: bool = False) -> None:
        """Record sends exceeding ``per_second`` messages per second to one chat in ``rate_violations``;
        with ``enforce=True`` such sends also fail with 429.  ``None`` disables the check."""
        self._rate_limit = per_second
        self._rate_enforce = enforce
        self._rate_windows.clear()

    def _take_fault(self, method: str, params: JsonDict) -> _Fault | None:
        for fault in self._faults:
            if fault.method == "*" and method == "getupdates":
                continue
            if fault.method not in ("*", method):
                continue
            if fault.chat_id is not None and str(params.get("chat_id")) != str(fault.chat_id):
                continue
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.remove(fault)
            return fault
        return None

    def _check_send(self, chat_id: int, method: str) -> None:
        if chat_id in self._blocked:
            raise ApiError(403, BLOCKED)
        if self._rate_limit is None:
            return
        now = time.monotonic()
        window = self._rate_windows.setdefault(chat_id, deque())
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= self._rate_limit:
            self.rate_violations.append(RateViolation(chat_id, method, now, len(window) + 1))
            if self._rate_enforce:
                raise ApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1})
        window.append(now)
