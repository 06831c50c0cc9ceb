"""TLS for the security scenario: a throwaway CA and server certificate made with openssl.

:func:`make_certificates` writes a self-signed CA and a server certificate for
127.0.0.1 and ``localhost`` (so clients can keep host name checking on), and
returns them as the :class:`RedisTLS` the redis fixtures take.
:func:`redis_server_version` says which redis-server runs them.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from sergeant_test_support.redis_fixtures import RedisTLS, redis_server_executable

__all__ = ["make_certificates", "redis_server_version"]

_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
_SERVER_EXTENSIONS = """\
subjectAltName = IP:127.0.0.1, DNS:localhost
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
"""


def _openssl(*args: str) -> None:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {done.stderr.strip()}")


def make_certificates(folder: Path) -> RedisTLS:
    """A CA and a server certificate it signed, valid two days, under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = folder / "ca.key", folder / "ca.crt"
    key, request, cert = folder / "server.key", folder / "server.csr", folder / "server.crt"
    extensions = folder / "server.ext"
    extensions.write_text(_SERVER_EXTENSIONS)
    _openssl(
        "req", "-x509", *_EC, "-keyout", str(ca_key), "-out", str(ca_cert), "-days", "2",
        "-subj", "/CN=sergeant reliability test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    _openssl(
        "req", *_EC, "-keyout", str(key), "-out", str(request), "-subj", "/CN=127.0.0.1"
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(ca_cert), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(extensions),
    )  # fmt: skip
    for path in (ca_key, key):
        path.chmod(0o600)
    return RedisTLS(cert_file=cert, key_file=key, ca_file=ca_cert)


def redis_server_version() -> str:
    """``redis-server 7.0.15`` (or the raw ``--version`` line if it reads otherwise)."""
    line = subprocess.run(
        [redis_server_executable(), "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    found = re.search(r"v=(\S+)", line)
    return f"redis-server {found.group(1)}" if found else line
