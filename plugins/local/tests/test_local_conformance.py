"""sergeant-local passes the whole conformance kit, through the registry, on a temp file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sergeant
from sergeant.connector import Connector
from sergeant.testing import ConnectorConformance


class TestLocalConformance(ConnectorConformance):
    lease_seconds = 0.5

    @pytest.fixture
    def connector_factory(self, tmp_path: Path) -> Callable[[], Connector]:
        config = sergeant.config.Connector(
            type="local", params={"file_path": str(tmp_path / "kit.sqlite3")}
        )
        return lambda: sergeant.connect(config)
