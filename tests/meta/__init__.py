"""Checks of the repository itself: layers, quality, documents, catalogues, things written once."""
