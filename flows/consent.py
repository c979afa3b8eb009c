"""The version of the consent text.

Bump CONSENT_VERSION whenever ``consent.text`` changes in any language: consent is recorded
with this version, and a test compares the catalogue texts with CONSENT_TEXT_SHA256 so that a
changed text cannot ship under an old version.
"""

CONSENT_VERSION = "2026-11-23"

# sha256 of the consent.text translations, per language, for the version above
CONSENT_TEXT_SHA256: dict[str, str] = {
    "da": "ba1f7a9425d095f744de3caad7f5c2d9e752b1fad0f6135ebe68e6266612732d",
    "sv": "3ec4f773c5cd6002893db633a5a664f543d222b9ea6c1c04288783db1eb23e4c",
    "en": "507e961350e9748a3875bc35d0165d3311595ef36ef987326de04ef269ee1827",
}
