"""One walker for every port: a candidate who answers each question from a plan."""

from __future__ import annotations

from typing import Any

# What a typical candidate answers, by step; instrument items not listed get `default_score`.
TYPICAL: dict[str, Any] = {
    "programme": "reconnect", "language": "da", "info.ips": "next", "info.screening": "next",
    "info.help": "next", "consent": "yes", "q.name": "Ana", "q.age": "19", "q.municipality": "Hjørring",
    "q.situation": "unemployed", "q.support": "uddannelseshjaelp", "q.treatment": "in_treatment",
    "q.contact": "chat", "q.phone": "+45 12 34 56 78", "q.email": "ana@example.dk", "q.substance": "A",
    "q.diagnoses": ["anxiety", "depression"], "q.substance_treatment": "yes",
    "q.goal": "work", "q.dream": "Work in a bike shop", "q.background": "9th grade, a summer job",
    "q.strengths": "Fixing things", "q.hours": "10_20", "q.worries": "Being tired",
    "q.disclosure": "partly", "q.support_wanted": "Someone to go with me the first time",
    "q.support_se": "other", "summary": "confirm",
    "mdi.6": 0,  # any other answer to MDI item 6 is a risk answer (see mdi.yaml)
}
