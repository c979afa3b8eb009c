"""The version of the consent text.

Bump CONSENT_VERSION whenever ``consent.text`` changes in any language: consent is recorded
with this version, and a test compares the catalogue texts with CONSENT_TEXT_SHA256 so that a
changed text cannot ship under an old version.
"""

CONSENT_VERSION = "2026-11-27"  # risk answers are kept, and an abandoned intake reaches staff

# sha256 of the consent.text translations, per language, for the version above
CONSENT_TEXT_SHA256: dict[str, str] = {
    "da": "92bfa2911df150172bf84c9e5b3a9c9be7ce8ba4879d53f320ced158ac5124ec",
    "sv": "a9315a727d468709c14d717cf7e70251a6d4d44d74526711b7fb2a6269d9601a",
    "en": "c96eb856efec2cb6c901b5e689a5b6e73b4c20e68ac7e2df3525959c8b3eea8d",
}
