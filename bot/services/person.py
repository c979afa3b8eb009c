"""Who is talking to the services, as a channel knows them: one type for candidates and staff."""

from __future__ import annotations

from dataclasses import dataclass

from flows.address import Address
from storage.candidates import subject_hash


@dataclass(frozen=True, slots=True)
class Person:
    """A person on a channel: their identity there, where the channel writes to them later, their language.

    A candidate may have no address (the console and the web form answer only in reply); a member of
    staff always has one: `Who`."""

    channel: str  # the channel's name: "console", "web" ...
    external_id: str  # the channel's id of the person
    address: Address | None = None  # where the channel writes to them later (none: only in reply)
    language: str | None = None  # the device's language, if known

    @property
    def log_id(self) -> str:
        """A short, non-reversible id for log lines (never the raw user id)."""
        return subject_hash(self.channel, self.external_id)[:8]


@dataclass(frozen=True, slots=True)
class Who(Person):
    """A person pressing a staff button: always reachable, since staff are answered by message."""

    address: Address
