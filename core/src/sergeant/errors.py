"""Every error sergeant raises derives from :class:`SergeantError`.

Catch ``SergeantError`` to handle anything the library reports. Messages name
the field or thing at fault, the bad value (never a secret) and what to do.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "ConnectorNotInstalledError",
    "ConnectorUnavailableError",
    "DuplicateConnectorTypeError",
    "EncodeError",
    "ItemTooLargeError",
    "PartialPushError",
    "PluginLoadError",
    "PluginPinError",
    "SergeantError",
    "StorageError",
    "StorageGoneError",
    "TaskDecodeError",
    "UnknownConnectorTypeError",
]


class SergeantError(Exception):
    """Base class of every error raised by sergeant and its connectors."""


class ConfigError(SergeantError, ValueError):
    """A configuration value is wrong: the message names the field, the value and the fix."""

    def __init__(
        self,
        field: str,
        value: object,
        fix: str,
        *,
        show_value: bool = True,
        shown: str | None = None,
    ) -> None:
        """``value`` is shown as its repr; as ``<redacted>`` with ``show_value=False``
        (a secret's); as the text ``shown`` where given (a value already rendered)."""
        self.field = field
        self.fix = fix
        if shown is None:
            shown = repr(value) if show_value else "<redacted>"
        #: The value as the message shows it.
        self.shown = shown
        super().__init__(f"invalid {field}: {shown}; {fix}")


class EncodeError(ConfigError, TypeError):
    """A value the encoder's serializer cannot carry (a ``TypeError`` too, as in Sergeant)."""


class UnknownConnectorTypeError(SergeantError, LookupError):
    """No installed or known plugin provides the requested connector type."""


class ConnectorNotInstalledError(UnknownConnectorTypeError):
    """The type is one sergeant knows, but its distribution is not installed."""


class PluginLoadError(SergeantError, ImportError):
    """A plugin's module could not be imported or registered."""


class DuplicateConnectorTypeError(SergeantError):
    """Two installed distributions claim the same connector type."""


class PluginPinError(SergeantError):
    """Installed plugins do not match the deployment's requirements or allow-list."""


class StorageError(SergeantError):
    """The storage behind a connector failed or refused an operation."""


class ItemTooLargeError(ConfigError, StorageError):
    """An item (or key value) larger than the connector's storage holds
    (:attr:`sergeant.connector.Connector.max_item_bytes`); refused before anything
    is stored. A ConfigError (a bad argument), and a StorageError as the storage's
    own refusal was before."""


class StorageGoneError(StorageError):
    """The storage this connector opened is gone (e.g. its file was deleted or replaced).

    Unlike an unreachable server, it does not come back: every later call fails
    too. Make a new connector; a worker process ends, so its supervisor starts a
    new one.
    """


class PartialPushError(StorageError):
    """A bulk push failed after storing its first :attr:`stored` items, in order;
    the rest were refused or not confirmed. Push ``items[stored:]`` again, not
    all of them (which would store the first ones twice). The storage's own
    error is the ``__cause__``.
    """

    def __init__(self, reason: str, stored: int, total: int) -> None:
        self.stored = stored
        self.total = total
        super().__init__(
            f"{reason}; the first {stored:,} of the {total:,} items were stored, the rest "
            f"were not confirmed: push items[{stored}:] again, not all of them"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return _rebuilt, (type(self), self.args, self.stored, self.total)


def _rebuilt(cls: type[PartialPushError], args: tuple[str], stored: int, total: int) -> object:
    """A pickled :class:`PartialPushError` back (its message is already whole)."""
    error = cls.__new__(cls)
    StorageError.__init__(error, *args)
    error.stored, error.total = stored, total
    return error


class ConnectorUnavailableError(StorageError, ConnectionError):
    """A server or file the connector needs cannot be reached right now."""


class AuthenticationError(ConnectorUnavailableError):
    """The server refused the credentials (which are never included in the message)."""


class TaskDecodeError(SergeantError):
    """A payload could not be decoded into a task."""
