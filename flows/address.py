"""Where a person is reached: a channel and the id that channel knows them by.

The core (flows, services, storage) passes addresses around and stores them as data; only the
channel named in an address knows what its id means (for a messenger: the private conversation's id).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Address:
    """A channel ("console", "web", a messenger's name ...) and the id of a person or conversation in it."""

    channel: str
    id: str

    def to_dict(self) -> dict[str, str]:
        return {"channel": self.channel, "id": self.id}

    @classmethod
    def from_dict(cls, data: Any) -> Address | None:
        """The address stored as `to_dict` made it; None for anything else (nothing stored, or malformed)."""
        if not isinstance(data, dict) or not data.get("channel") or data.get("id") in (None, ""):
            return None
        return cls(str(data["channel"]), str(data["id"]))
