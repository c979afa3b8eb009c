"""FHIR R4 questionnaires and responses, pure: ``ipsbot export --format fhir`` (NDJSON, `bot.exports.fhir`)
and a consultant's case export (`flows.casework.case_documents`) build them here.

Built with the ``fhir.resources.R4B`` models (FHIR 4.3; ``Questionnaire`` and ``QuestionnaireResponse``
are the same in R4 4.0.1 and R4B, and the package's default modules are R5), so every resource is
validated when it is made.

- ``questionnaire(id, lang)``: the instrument as a ``Questionnaire`` – one ``choice`` item per item
  (linkId = item id, MDI 8a/8b and 10a/10b apart), answer codes = scores, each score also as the
  ``ordinalValue`` extension, and a read-only ``total`` item; the LOINC panel, item, answer and total
  codes where the instrument data has them (GAD-7, PHQ-9; the MDI has none): answers are then coded
  with their LOINC answer codes (LA...), otherwise with the score in our own code system.
- ``questionnaire_responses(id, created_at, payload)``: one ``QuestionnaireResponse`` per instrument
  of a referral (status ``in-progress`` for a partial referral, else ``completed``); each item carries
  its LOINC code in the ``item-code`` extension. No name and no subject: the identifier
  ``<referral id>-<instrument>`` in the system ``https://ips-intake.example/referral`` is the only
  link to the person. Each risk answer (``flows.referral.risk_signals``) is a flag on the item it was
  given to: the extension ``risk-signal`` (``RISK_SIGNAL``, this project's) with the sub-extensions
  ``answer`` (the option as a Coding, coded as the item's answers are) and ``time`` (when it was
  given), one per risk answer, also when the item's answer was changed later: the item then shows
  the later answer and the flag the one given. A risk answer to an instrument the referral has no
  response for (a partial referral, a restarted intake) gets an ``in-progress`` response holding the
  flagged items alone, without answers.
- ``fhir_lines(referrals)``: the export stream, one JSON resource per line: the questionnaires first,
  then the responses, one referral at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.questionnaire import Questionnaire, QuestionnaireItem, QuestionnaireItemAnswerOption
from fhir.resources.R4B.questionnaireresponse import (
    QuestionnaireResponse,
    QuestionnaireResponseItem,
    QuestionnaireResponseItemAnswer,
)

from flows.instruments import Instrument, available, load
from flows.referral import risk_signals
from locales import Translator

BASE_URL = "https://ips-intake.example"
REFERRAL_SYSTEM = f"{BASE_URL}/referral"
LOINC = "http://loinc.org"
# R4/R4B core extension (R5 replaced it with itemWeight); context Coding, so it sits on the valueCoding.
ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
# R4 QuestionnaireResponse items have no `code`; the item's LOINC code rides in this extension so a
# response read without its Questionnaire still says which LOINC question each answer belongs to.
ITEM_CODE = f"{BASE_URL}/fhir/StructureDefinition/item-code"
# A risk answer given to the item (a flag): sub-extensions "answer" (valueCoding) and "time" (valueDateTime).
RISK_SIGNAL = f"{BASE_URL}/fhir/StructureDefinition/risk-signal"
# Bump when an instrument's items, options or scores change.
QUESTIONNAIRE_VERSION = "1.0.0"
TOTAL_LINK_ID = "total"

__all__ = [
    "Questionnaire",
    "QuestionnaireResponse",
    "answer_system",
    "canonical_url",
    "fhir_lines",
    "questionnaire",
    "questionnaire_responses",
]


def canonical_url(instrument_id: str) -> str:
    return f"{BASE_URL}/fhir/Questionnaire/{instrument_id}"


def answer_system(instrument_id: str) -> str:
    """The code system of an instrument's answers (code = score); shared by Questionnaire and responses."""
    return f"{BASE_URL}/fhir/CodeSystem/{instrument_id}-score"


def _resource_name(instrument: Instrument) -> str:
    """A computer-friendly name (FHIR: ``[A-Z]([A-Za-z0-9_]){0,254}``): GAD7, MDI, PHQ9."""
    return instrument.id.upper()


def _answer_coding(instrument: Instrument, score: int, t: Translator, item_id: str | None = None) -> Coding:
    """An answer: its LOINC answer code where the instrument has one (GAD-7, PHQ-9), else our own code (the score).

    `item_id`: for an item with its own answers (MANSA's yes/no questions)."""
    options = instrument.options_of(instrument.item(item_id)) if item_id is not None else instrument.options
    option = next(o for o in options if o.score == score)
    loinc_answer = instrument.loinc.answers.get(score) if instrument.loinc else None
    return Coding(
        system=LOINC if loinc_answer else answer_system(instrument.id),
        code=loinc_answer or str(score),
        display=t(option.label),
        extension=[Extension(url=ORDINAL_VALUE, valueDecimal=Decimal(score))],
    )


def _item_codes(instrument: Instrument, item_id: str) -> list[Coding] | None:
    """The item's LOINC code, where the instrument data has one (the MDI has none)."""
    code = instrument.loinc.items.get(item_id) if instrument.loinc else None
    return [Coding(system=LOINC, code=code)] if code else None


def _item_extensions(instrument: Instrument, item_id: str, risks: list[dict[str, Any]],
                     t: Translator) -> list[Extension] | None:
    """The item's LOINC code, then a risk-signal flag for each risk answer given to it."""
    codes = _item_codes(instrument, item_id)
    out = [Extension(url=ITEM_CODE, valueCoding=codes[0])] if codes else []
    out += [Extension(url=RISK_SIGNAL, extension=[
        Extension(url="answer", valueCoding=_answer_coding(instrument, risk["score"], t, item_id)),
        Extension(url="time", valueDateTime=_utc(risk["at"])),
    ]) for risk in risks if risk["instrument"] == instrument.id and risk["item"] == item_id]
    return out or None


def questionnaire(instrument_id: str, lang: str = "en") -> Questionnaire:
    """The instrument as a FHIR R4 ``Questionnaire``, texts in ``lang``. Raises KeyError for an unknown id."""
    instrument = load(instrument_id)
    t = Translator(lang)
    items = [
        QuestionnaireItem(linkId=item.id, text=t(item.text), type="choice", required=True,
                          answerOption=[QuestionnaireItemAnswerOption(valueCoding=_answer_coding(
                              instrument, o.score, t, item.id)) for o in instrument.options_of(item)],
                          code=_item_codes(instrument, item.id))
        for item in instrument.items
    ]
    loinc = instrument.loinc
    items.append(QuestionnaireItem(
        linkId=TOTAL_LINK_ID,
        type="decimal" if instrument.scoring == "mean" else "integer",  # MANSA's score is a mean
        readOnly=True,
        code=[Coding(system=LOINC, code=loinc.total)] if loinc else None,
    ))
    return Questionnaire(
        id=instrument.id,
        url=canonical_url(instrument.id),
        version=QUESTIONNAIRE_VERSION,
        name=_resource_name(instrument),
        title=t(instrument.name),
        description=t(instrument.intro),
        status="active",
        language=t.lang,
        subjectType=["Patient"],
        code=[Coding(system=LOINC, code=loinc.panel)] if loinc else None,
        item=items,
    )


def _response(referral_id: int, created_at: str, lang: str, instrument_id: str,
              result: dict[str, Any] | None, status: str = "completed",
              risks: list[dict[str, Any]] | None = None) -> QuestionnaireResponse:
    """One instrument's response; with `result` None, only the items its `risks` flag, without answers."""
    instrument = load(instrument_id)
    t = Translator(lang)
    risks = risks or []
    answers: dict[str, int] = result["answers"] if result is not None else {}
    flagged = {r["item"] for r in risks if r["instrument"] == instrument_id}
    items = [
        QuestionnaireResponseItem(
            linkId=item.id,
            text=t(item.text),
            extension=_item_extensions(instrument, item.id, risks, t),
            answer=[QuestionnaireResponseItemAnswer(valueCoding=_answer_coding(instrument, answers[item.id], t,
                                                                                 item.id))]
            if item.id in answers else None,
        )
        for item in instrument.items
        if item.id in answers or (result is None and item.id in flagged)
    ]
    if result is not None:  # the instrument's score: the sum, or for a mean-scored instrument (MANSA) the mean
        score = (QuestionnaireResponseItemAnswer(valueDecimal=result["mean"]) if result.get("mean") is not None
                 else QuestionnaireResponseItemAnswer(valueInteger=result["total"]))
        items.append(QuestionnaireResponseItem(linkId=TOTAL_LINK_ID, answer=[score]))
    return QuestionnaireResponse(
        id=f"{referral_id}-{instrument_id}",
        language=t.lang,
        identifier=Identifier(system=REFERRAL_SYSTEM, value=f"{referral_id}-{instrument_id}"),
        questionnaire=canonical_url(instrument_id),
        status=status,
        authored=_utc(created_at),
        item=items,
    )


def questionnaire_responses(referral_id: int, created_at: str, payload: dict[str, Any]) -> list[QuestionnaireResponse]:
    """One ``QuestionnaireResponse`` per instrument of a referral payload, texts in its language.

    ``completed``; ``in-progress`` for a partial referral (an intake left after a risk answer), whose
    intake was never finished even where an instrument was answered in full."""
    lang = payload.get("language") or "en"
    status = "in-progress" if payload.get("partial") else "completed"
    scored = payload.get("instruments", {})
    risks = risk_signals(payload)
    responses = [_response(referral_id, created_at, lang, iid, result, status, risks) for iid, result in scored.items()]
    # risk answers to an instrument without a response here: its flagged items, so no flag is left out
    unscored = dict.fromkeys(r["instrument"] for r in risks if r["instrument"] not in scored)
    responses += [_response(referral_id, created_at, lang, iid, None, "in-progress", risks)
                  for iid in unscored if iid in available()]
    return responses


def fhir_lines(referrals: Iterable[tuple[int, str, str, dict[str, Any]]], lang: str = "en",
               instruments: Iterable[str] | None = None) -> Iterator[str]:
    """NDJSON lines (no line ends): the Questionnaires, then each referral's responses.

    ``referrals`` are ``(id, created_at_iso, status, payload)`` and are read one at a time. The
    Questionnaires come first so a reader has them before any response; since the referrals are not
    known in advance they are every catalogued instrument, or ``instruments`` when given (e.g. the
    instruments of the exported programme).
    """
    for iid in instruments if instruments is not None else available():
        yield _json(questionnaire(iid, lang))
    for referral_id, created_at, _status, payload in referrals:
        for response in questionnaire_responses(referral_id, created_at, payload):
            yield _json(response)


def _utc(iso: str) -> datetime:
    """A stored time as an aware datetime (times are kept in UTC; SQLite may hand them back naive)."""
    moment = datetime.fromisoformat(iso)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _json(resource: Questionnaire | QuestionnaireResponse) -> str:
    return resource.model_dump_json(exclude_none=True)

