"""The worker of scenario 12: :class:`scenario_workers.ScenarioRecorder` with a timeout.

Its task timeout and grace period come from ``SERGEANT_SCENARIO_TIMEOUTS``
(JSON ``{"timeout": ..., "grace_period": ...}``); the rest as for the recorder.
"""

from __future__ import annotations

import json
import os

from scenario_workers import ScenarioRecorder
from sergeant.config import Timeouts, WorkerConfig

TIMEOUTS_ENV = "SERGEANT_SCENARIO_TIMEOUTS"


class TimedRecorder(ScenarioRecorder):
    """Records each run of its task; a task running past ``timeout`` is interrupted."""

    def generate_config(self) -> WorkerConfig:
        timeouts = Timeouts(**json.loads(os.environ[TIMEOUTS_ENV]))
        return super().generate_config().replace(timeouts=timeouts)
