"""Trainer-mode settings, mixed into each service's ``Settings`` (one settings object each).

``ADMIN_ENABLED``     ``true`` adds the ``/admin`` routes; anything else: they do not exist.
``ADMIN_TOKEN_FILE``  a file holding the admin token (the compose stack generates one into the
                      ``secrets`` volume, like the database password); wins over
``ADMIN_TOKEN``       the token itself, for a laptop.

The token must be at least 32 characters, not a placeholder (``changeme``, ``secret``...) and not
one repeated character; a service with trainer mode on and a weak token refuses to start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from pydantic import SecretStr
from pydantic_settings import BaseSettings

MIN_TOKEN_LENGTH: Final = 32
PLACEHOLDER_WORDS: Final = (
    "changeme",
    "change-me",
    "change_me",
    "changethis",
    "placeholder",
    "password",
    "secret",
    "example",
    "admin",
    "token",
    "test",
    "xxxx",
)


class WeakAdminTokenError(ValueError):
    pass


def token_problem(token: str) -> str | None:
    """Why ``token`` is not good enough for the admin endpoint, or None."""
    if len(token) < MIN_TOKEN_LENGTH:
        return f"shorter than {MIN_TOKEN_LENGTH} characters"
    lowered = token.lower()
    word = next((w for w in PLACEHOLDER_WORDS if w in lowered), None)
    if word is not None:
        return f"looks like a placeholder (contains {word!r})"
    if len(set(token)) < 8:
        return "too few distinct characters"
    return None


def read_admin_token(token_file: Path | None, token: SecretStr | None) -> str | None:
    """The admin token from ``token_file`` (it wins) or ``token``; None when neither is given.

    The one reading of an admin token, for the services and the load generator alike: raises
    :class:`WeakAdminTokenError` when the file cannot be read or the token fails
    :func:`token_problem`; the message never holds the token."""
    if token_file is not None:
        try:
            value = token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            # The exception's name only: a UnicodeDecodeError's text quotes the file's bytes.
            raise WeakAdminTokenError(
                f"the admin token file {token_file} cannot be read: {type(exc).__name__}"
            ) from None
    elif token is not None:
        value = token.get_secret_value().strip()
    else:
        return None
    problem = token_problem(value)
    if problem is not None:
        raise WeakAdminTokenError(f"the admin token is refused: {problem}")
    return value


def token_variable(token_file: Path | None, token: SecretStr | None, *, neither: str) -> str:
    """The variable a token problem is about: the file when given, else the token, else
    ``neither``."""
    if token_file is not None:
        return "ADMIN_TOKEN_FILE"
    if token is not None:
        return "ADMIN_TOKEN"
    return neither


class AdminSettings(BaseSettings):
    admin_enabled: bool = False
    admin_token_file: Path | None = None
    admin_token: SecretStr | None = None

    def problems(self) -> list[tuple[str, str]]:
        """``(variable, what is wrong)`` for what pydantic cannot check by itself (the admin
        token, which may live in a file); the command line refuses to start on any."""
        try:
            self.admin_token_value()
        except WeakAdminTokenError as exc:
            variable = token_variable(
                self.admin_token_file, self.admin_token, neither="ADMIN_ENABLED"
            )
            return [(variable, str(exc))]
        return []

    def admin_token_value(self) -> str | None:
        """The admin token when trainer mode is on (None when off).

        Raises :class:`WeakAdminTokenError` when it is missing or weak; the message never holds
        the token."""
        if not self.admin_enabled:
            return None
        token = read_admin_token(self.admin_token_file, self.admin_token)
        if token is None:
            raise WeakAdminTokenError("ADMIN_ENABLED=true needs ADMIN_TOKEN_FILE or ADMIN_TOKEN")
        return token
