"""An example third-party sergeant connector that keeps everything in process memory."""

from sergeant_memory.connector import MemoryConnector

__all__ = ["MemoryConnector"]
