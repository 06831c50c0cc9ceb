"""Run one mongoeco wire-protocol server until SIGTERM: the stand-in for mongod in tests.

mongoeco ships no command-line launcher, so this script is one. It runs under the
mongoeco venv's Python (3.13+), never under the tests' interpreter, and imports
nothing from sergeant. Usage::

    python mongo_launcher.py [--port 0] [--user NAME:PASSWORD ...]

It binds 127.0.0.1 (port 0 lets the OS pick a free one), keeps data in memory,
requires authentication only when given users, and prints ``READY <port>`` on
stdout once clients can connect.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

__all__ = ["main"]


async def _serve(port: int, users: list[str]) -> None:
    from mongoeco.wire import (  # type: ignore[import-not-found,unused-ignore]
        AsyncMongoEcoProxyServer,
        WireAuthUser,
    )

    root = ({"role": "root", "db": "admin"},)
    auth_users = tuple(
        WireAuthUser(username=name, password=password, roles=root)
        for name, _, password in (user.partition(":") for user in users)
    )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with AsyncMongoEcoProxyServer(
        host="127.0.0.1", port=port, auth_users=auth_users
    ) as server:
        print(f"READY {server.address.port}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """Parse ``--port`` and serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="NAME:PASSWORD",
        help="require authentication; this user (in 'admin') may do anything",
    )
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args.port, args.user))
    except KeyboardInterrupt:  # pragma: no cover - SIGINT before the handler is set
        sys.exit(130)


if __name__ == "__main__":
    main()
