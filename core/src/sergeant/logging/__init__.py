"""``sergeant.logging``: log handlers for a worker's ``config.logging.handlers``.

:mod:`sergeant.logging.logstash` sends records to Logstash's TCP input as JSON
(``LogstashHandler``, one connection per record; ``BufferedLogstashHandler``,
batches of newline-separated records), as Sergeant 0.27.0 does.
"""

from __future__ import annotations

from sergeant.logging import logstash

__all__ = ["logstash"]
