"""TLS files that are missing, unreadable or not PEM: a ConfigError naming the
field (and the path, unless the field looks secret), not a bare
FileNotFoundError or ssl.SSLError from inside pymongo. No server is needed:
pymongo loads the files when the client is made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sergeant
from sergeant.errors import ConfigError


def connect(node: dict[str, Any]) -> None:
    config = sergeant.config.Connector(type="mongo", params={"nodes": [node], "connect_timeout": 1})
    sergeant.connect(config).close()


def test_a_missing_ca_file_is_named_with_its_path(tmp_path: Path) -> None:
    missing = str(tmp_path / "ca.pem")
    with pytest.raises(ConfigError, match=r"invalid nodes\[0\]\.tls_ca_file: '.*ca\.pem'"):
        connect({"host": "127.0.0.1", "tls": True, "tls_ca_file": missing})


def test_a_missing_key_file_is_named_without_its_path(tmp_path: Path) -> None:
    missing = str(tmp_path / "client.pem")
    with pytest.raises(ConfigError, match=r"nodes\[0\]\.tls_certificate_key_file") as caught:
        connect({"host": "127.0.0.1", "tls": True, "tls_certificate_key_file": missing})
    assert missing not in str(caught.value)


def test_a_file_that_is_not_pem_says_so(tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="not PEM files"):
        connect({"host": "127.0.0.1", "tls": True, "tls_ca_file": str(junk)})


def test_a_uri_naming_a_missing_file_is_a_config_error_without_the_uri(tmp_path: Path) -> None:
    uri = f"mongodb://app:SECRET9@127.0.0.1:27017/?tls=true&tlsCAFile={tmp_path}/ca.pem"
    with pytest.raises(ConfigError, match="TLS file") as caught:
        connect({"uri": uri})
    assert "SECRET9" not in str(caught.value)
