"""`python -m site_config.ops.flower [extra flower options]`: start Flower safely (Procfile `flower`).

Binds to 127.0.0.1:5555 unless FLOWER_ADDRESS / FLOWER_PORT say otherwise, and requires
FLOWER_BASIC_AUTH ("user:password", comma-separated for more users) unless DJANGO_DEBUG is on:
Flower can revoke tasks and shut workers down, so it never runs open in production. Flower reads
FLOWER_BASIC_AUTH from the environment itself, which keeps the password out of `ps`.
"""

from __future__ import annotations

import os
import shutil
import sys


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")
    from django.conf import settings

    auth = settings.FLOWER_BASIC_AUTH.strip()
    if not auth:
        if not settings.DEBUG:
            print(
                "Refusing to start Flower without authentication: set FLOWER_BASIC_AUTH=user:password "
                "(DJANGO_DEBUG is off).",
                file=sys.stderr,
            )
            return 2
        print("Flower is running WITHOUT authentication (DEBUG is on; set FLOWER_BASIC_AUTH).", file=sys.stderr)
    elif any(":" not in pair or pair.startswith(":") or pair.endswith(":") for pair in auth.split(",")):
        print("FLOWER_BASIC_AUTH must be user:password[,user2:password2].", file=sys.stderr)
        return 2
    env = dict(os.environ, FLOWER_BASIC_AUTH=auth) if auth else {k: v for k, v in os.environ.items() if k != "FLOWER_BASIC_AUTH"}
    celery = shutil.which("celery", path=os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")]))
    if celery is None:
        print("The celery command is not installed in this environment.", file=sys.stderr)
        return 2
    args = [
        celery, "--app", "site_config", "flower",
        f"--address={env.get('FLOWER_ADDRESS', '127.0.0.1')}",
        f"--port={env.get('FLOWER_PORT', '5555')}",
        *argv,
    ]
    sys.stdout.flush()
    os.execve(celery, args, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
