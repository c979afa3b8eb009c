"""A small test programme ("pilot", Denmark) as YAML: what every test programme shares, and each
test's own lines (instruments, caps, windows, follow-ups, its triage)."""

from __future__ import annotations

BASE = """\
id: pilot
names: {da: "Pilotprojekt", sv: "Pilotprojekt", en: "Pilot"}
country: DK
region: hovedstaden
timezone: Europe/Copenhagen
languages: [da, en]
crisis:
  - {label: crisis.dk.112, phone: "112"}
contact: {da: "Kontakt jobcentret.", sv: "Kontakta jobbcentret.", en: "Contact the job centre."}
"""
ELIGIBLE = """\
  - outcome: eligible
    reason: reason.target_group
"""


def pilot_yaml(own: str, *, triage: str = ELIGIBLE) -> str:
    """The pilot programme with these lines of its own and this triage (default: everyone eligible)."""
    return BASE + own + "triage:\n" + triage
