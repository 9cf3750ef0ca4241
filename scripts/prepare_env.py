"""Write `.env` for development with random keys, once; an existing `.env` is left alone."""

import base64
import os
import secrets
import sys
from pathlib import Path


def main() -> int:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else ".env")
    if path.exists():
        return 0
    fernet_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    path.write_text(
        "# Development settings written by `make run` / `make test`; see .env.example and README.md.\n"
        "DEBUG=1\n"
        f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
        f"FIELD_ENCRYPTION_KEYS={fernet_key}\n"
        f"FIELD_HASH_KEY={secrets.token_urlsafe(32)}\n"
        "# The password of the demo admin and demo clerk that `make run` creates (ensure_demo_access).\n"
        f"DEMO_ADMIN_PASSWORD={secrets.token_urlsafe(12)}\n"
    )
    print(f"Wrote {path} with random development keys.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
