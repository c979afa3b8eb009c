"""The version of the consent text.

Bump CONSENT_VERSION whenever ``consent.text`` changes in any language: consent is recorded
with this version, and a test compares the catalogue texts with CONSENT_TEXT_SHA256 so that a
changed text cannot ship under an old version.
"""

CONSENT_VERSION = "2026-12-06"  # the follow-up bullet ends its line (it ran into the /delete bullet)

# sha256 of the consent.text translations, per language, for the version above
CONSENT_TEXT_SHA256: dict[str, str] = {
    "da": "0bccb7c9aff8c39ab86fededd4d3a695a5ff7066947478470a681e681dc14c60",
    "sv": "3575d29f0b2fbd1d8b6e85d5bc54d11346d6a4d1acb8b8162fa8800032b1060f",
    "en": "9a32cf883ec1d9eaa8e43ed59b73438016bd5b221b0e12a841056adc4418ac9f",
}

# The first consent version whose text names the follow-ups: only people who agreed to this or a later
# version are followed up (versions are dates with an optional letter, so they sort as text).
FOLLOWUPS_SINCE = "2026-11-27b"
