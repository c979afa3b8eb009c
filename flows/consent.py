"""The version of the consent text.

Bump CONSENT_VERSION whenever ``consent.text`` changes in any language: consent is recorded
with this version, and a test compares the catalogue texts with CONSENT_TEXT_SHA256 so that a
changed text cannot ship under an old version.
"""

CONSENT_VERSION = "2026-11-27b"  # follow-ups after the referral are named, and /stop ends them

# sha256 of the consent.text translations, per language, for the version above
CONSENT_TEXT_SHA256: dict[str, str] = {
    "da": "36037e02a1051f3290f3d2d18ec8933be64dcee914af863c60dda5a0153ec6e4",
    "sv": "28f797be77d8544bf0051f6c4e58a994b0502e572f2e32d5295ef3e83e7fd99f",
    "en": "8aaee2fabd243f7288145288e33d92eb377245de1901b74b26a804a212189f68",
}

# The first consent version whose text names the follow-ups: only people who agreed to this or a later
# version are followed up (versions are dates with an optional letter, so they sort as text).
FOLLOWUPS_SINCE = "2026-11-27b"
