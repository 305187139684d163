"""Shared pytest configuration. Area fixtures live in tests/helpers_<area>.py (import them from tests)."""
