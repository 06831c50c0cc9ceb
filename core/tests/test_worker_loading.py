"""How a supervised worker process reports a module or class it cannot load.

The supervisor stops every process on these codes, so each must mean what it
says: a ``sys.exit(2)`` run by the module at import is a module that cannot be
imported, not "no such module" (the exit code 2 it would otherwise leave).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sergeant.supervisor import _FATAL
from sergeant.worker._child import ExitCode, WorkerLoadError, load_worker_class, run


def _module(tmp_path: Path, name: str, source: str) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return str(path)


@pytest.mark.parametrize(
    ("source", "class_name", "code", "said"),
    [
        ("import sys\nsys.exit(2)\n", "W", ExitCode.MODULE_NOT_IMPORTABLE, "raised SystemExit(2)"),
        ("raise ValueError('broken')\n", "W", ExitCode.MODULE_NOT_IMPORTABLE, "ValueError"),
        ("class W:\n    pass\n", "Missing", ExitCode.CLASS_NOT_FOUND, "has no class 'Missing'"),
    ],
    ids=["sys.exit at import", "raises at import", "no such class"],
)
def test_a_module_that_cannot_give_its_class_is_reported_with_its_own_code(
    tmp_path: Path, source: str, class_name: str, code: ExitCode, said: str
) -> None:
    path = _module(tmp_path, f"loading_{code.name.lower()}_{len(source)}", source)
    with pytest.raises(WorkerLoadError) as raised:
        load_worker_class(path, class_name)
    assert raised.value.code == code
    assert said in str(raised.value)


def test_a_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(WorkerLoadError) as raised:
        load_worker_class(str(tmp_path / "absent.py"), "W")
    assert raised.value.code == ExitCode.MODULE_NOT_FOUND


def test_an_invalid_config_is_its_own_code_and_stops_the_supervisor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ConfigError from generate_config is the same in every process: it used
    to read as a crash, and the supervisor started another process forever."""
    source = (
        "import sergeant\n"
        "from sergeant.config import WorkerConfig\n"
        "class W(sergeant.Worker):\n"
        "    def generate_config(self):\n"
        "        return WorkerConfig(name='q', max_retries=-1)\n"
    )
    path = _module(tmp_path, "loading_bad_config", source)
    assert run(path, "W") == ExitCode.CONFIG_INVALID
    assert "invalid WorkerConfig.max_retries: -1" in capsys.readouterr().err
    assert ExitCode.CONFIG_INVALID in _FATAL
