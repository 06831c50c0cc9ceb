"""The conformance kit: the connector contract as a pytest suite.

A connector author subclasses :class:`ConnectorConformance` and provides a
``connector_factory`` fixture returning a callable that builds a new connector
object on the same storage::

    import pytest
    from sergeant.testing import ConnectorConformance

    class TestMyConnector(ConnectorConformance):
        @pytest.fixture
        def connector_factory(self, tmp_path):
            return lambda: MyConnector(path=str(tmp_path / 'db'))

Every clause of :mod:`sergeant.connector` is a test. Tests skip only when the
connector does not declare the capability they need (``capabilities``).
"""

from sergeant.testing._conformance import ConnectorConformance
from sergeant.testing._wait import wait_until

__all__ = ["ConnectorConformance", "wait_until"]
