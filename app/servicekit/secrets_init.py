"""Create the stack's secrets once, so `docker compose up` needs no password from anyone and
none is a default.

    python -m servicekit.secrets_init DIR NAME [NAME ...]

For each NAME, if DIR/NAME does not exist yet, write the value of the environment variable NAME
in upper case when it is set and non-empty, else a fresh random one. Existing files are never
changed: PostgreSQL and Grafana keep the password they were first started with in their
volumes, so the secret must stay the same for the life of the volumes
(`docker compose down -v` resets both). The files are readable by the services that mount the
secrets volume (read-only) and by nobody on the host.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


def ensure_secret(directory: Path, name: str) -> bool:
    """Write the secret ``name`` unless it exists; True when it was created now."""
    if not name or set(name) - _NAME_CHARS:
        raise ValueError(f"secret names are lower-case letters, digits and _: {name!r}")
    path = directory / name
    if path.exists():
        return False
    # URL-safe without escaping: the database password is part of a connection URL.
    value = os.environ.get(name.upper()) or secrets.token_hex(24)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(value)
    temporary.chmod(0o444)
    temporary.replace(path)
    return True


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    directory = Path(argv[0])
    directory.mkdir(parents=True, exist_ok=True)
    for name in argv[1:]:
        created = ensure_secret(directory, name)
        print(f"secret {name}: {'created' if created else 'kept'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
