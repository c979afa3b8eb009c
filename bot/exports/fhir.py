"""FHIR R4 export of the questionnaires: ``ipsbot export --format fhir`` (NDJSON).

The mapping itself is pure and lives in `flows.fhir` (a consultant's case export builds the same
responses, and a service may not import `bot.exports`); these are its names as the exports use them.
"""

from __future__ import annotations

from flows.fhir import (
    BASE_URL,
    ITEM_CODE,
    LOINC,
    ORDINAL_VALUE,
    QUESTIONNAIRE_VERSION,
    REFERRAL_SYSTEM,
    RISK_SIGNAL,
    TOTAL_LINK_ID,
    answer_system,
    canonical_url,
    fhir_lines,
    questionnaire,
    questionnaire_responses,
)

__all__ = ["BASE_URL", "ITEM_CODE", "LOINC", "ORDINAL_VALUE", "QUESTIONNAIRE_VERSION",
           "REFERRAL_SYSTEM", "RISK_SIGNAL", "TOTAL_LINK_ID", "answer_system", "canonical_url", "fhir_lines",
           "questionnaire", "questionnaire_responses"]
