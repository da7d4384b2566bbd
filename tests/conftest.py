"""Shared test set-up. Home Assistant tests live in tests/ha; the core and the radios are
tested without Home Assistant in tests/core and tests/radios."""
