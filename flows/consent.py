"""The version of the consent text.

Bump CONSENT_VERSION whenever ``consent.text`` changes in any language: consent is recorded
with this version, and a test compares the catalogue texts with CONSENT_TEXT_SHA256 so that a
changed text cannot ship under an old version.
"""

CONSENT_VERSION = "2026-11-23"

# sha256 of the consent.text translations, per language, for the version above
CONSENT_TEXT_SHA256: dict[str, str] = {}
