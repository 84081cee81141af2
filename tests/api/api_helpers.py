"""Helpers for API tests."""


def auth(key: str) -> dict[str, str]:
    """Bearer authorization header."""
    return {"Authorization": f"Bearer {key}"}
