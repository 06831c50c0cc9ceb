"""``sergeant plugins``: table, --json, --requirements and plugin notes, run as the installed
console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CONNECTOR_SOURCE, MakeDist


def run_cli(
    *args: str, site: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ, **(env or {}))
    if site is not None:
        environ["PYTHONPATH"] = os.pathsep.join([str(site), str(Path(__file__).parent)])
    script = shutil.which("sergeant", path=str(Path(sys.executable).parent))
    assert script, "the sergeant console script is installed with the core distribution"
    return subprocess.run([script, *args], capture_output=True, text=True, env=environ, check=False)


def test_table_lists_type_distribution_version_module_status(
    make_dist: MakeDist, site: Path
) -> None:
    module = make_dist("acme-queue", "1.2.0", type_name="acme")
    result = run_cli("plugins", site=site)
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.split() == ["TYPE", "DISTRIBUTION", "VERSION", "MODULE", "STATUS"]
    acme = next(line for line in lines if line.startswith("acme "))
    assert acme.split()[:5] == ["acme", "acme-queue", "1.2.0", module, "ok"]


def test_json_for_scripts(make_dist: MakeDist, site: Path) -> None:
    make_dist("broken-queue", "0.1", type_name="broken", source="import nowhere_to_be_found\n")
    result = run_cli("plugins", "--json", site=site)
    assert result.returncode == 0, result.stderr
    rows = {row["type"]: row for row in json.loads(result.stdout)}
    assert set(rows["broken"]) == {"type", "distribution", "version", "module", "status", "notes"}
    assert rows["broken"]["notes"] == []
    assert rows["broken"]["status"].startswith("error: connector plugin 'broken' failed to import")
    assert rows["redis"]["status"] == "not installed (pip install sergeant-redis)"


def test_requirements_prints_pins_a_deployment_can_commit(
    make_dist: MakeDist, site: Path, tmp_path: Path
) -> None:
    make_dist("acme-queue", "1.2.0", type_name="acme")
    result = run_cli("plugins", "--requirements", site=site)
    assert result.returncode == 0, result.stderr
    pins = [line for line in result.stdout.splitlines() if not line.startswith("#")]
    assert "acme-queue==1.2.0" in pins
    assert any(line.startswith("sergeant==") for line in pins)
    pin_file = tmp_path / "pins.txt"
    pin_file.write_text(result.stdout)
    again = run_cli("plugins", site=site, env={"SERGEANT_PLUGIN_REQUIREMENTS": str(pin_file)})
    assert again.returncode == 0, again.stderr
    assert "acme-queue" in again.stdout


def test_pin_mismatch_is_one_line_and_exit_2(
    make_dist: MakeDist, site: Path, tmp_path: Path
) -> None:
    make_dist("acme-queue", "1.2.0", type_name="acme")
    pin_file = tmp_path / "pins.txt"
    pin_file.write_text("acme-queue==2.0\n")
    result = run_cli("plugins", site=site, env={"SERGEANT_PLUGIN_REQUIREMENTS": str(pin_file)})
    assert "acme-queue==2.0 is required but acme-queue 1.2.0 is installed" in result.stdout
    bad = run_cli("plugins", env={"SERGEANT_PLUGIN_REQUIREMENTS": str(tmp_path / "nope.txt")})
    assert bad.returncode == 2
    assert bad.stderr.startswith("sergeant: error: invalid SERGEANT_PLUGIN_REQUIREMENTS")
    assert "Traceback" not in bad.stderr


NOTED_SOURCE = (
    CONNECTOR_SOURCE
    + """
@sergeant.hookimpl
def sergeant_plugin_notes(type_name):
    import sys
    if type_name != "acme":
        return []
    return [f"notes for {{type_name}}", f"speedups: {{'json' in sys.modules}}"]
"""
)


def test_a_plugin_module_s_notes_are_printed_under_its_row(make_dist: MakeDist, site: Path) -> None:
    make_dist("acme-queue", "1.2.0", type_name="acme", source=NOTED_SOURCE)
    make_dist("plain-queue", "1.0", type_name="plain")
    result = run_cli("plugins", site=site)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    acme = next(i for i, line in enumerate(lines) if line.startswith("acme "))
    assert [line.strip() for line in lines[acme + 1 : acme + 3]] == [
        "notes for acme",
        "speedups: True",
    ]
    assert lines[acme + 1].startswith("    ")
    plain = next(i for i, line in enumerate(lines) if line.startswith("plain "))
    assert plain + 1 == len(lines) or not lines[plain + 1].startswith(" "), "no notes: no lines"


def test_json_lists_notes_per_row(make_dist: MakeDist, site: Path) -> None:
    make_dist("acme-queue", "1.2.0", type_name="acme", source=NOTED_SOURCE)
    make_dist("plain-queue", "1.0", type_name="plain")
    result = run_cli("plugins", "--json", site=site)
    assert result.returncode == 0, result.stderr
    rows = {row["type"]: row for row in json.loads(result.stdout)}
    assert rows["acme"]["notes"] == ["notes for acme", "speedups: True"]
    assert rows["plain"]["notes"] == []
    assert rows["redis"]["notes"] == [], "a type that is not installed has no notes"


def test_a_failing_plugin_notes_is_reported_and_the_command_succeeds(
    make_dist: MakeDist, site: Path
) -> None:
    source = (
        CONNECTOR_SOURCE
        + "\n@sergeant.hookimpl\ndef sergeant_plugin_notes(type_name):\n"
        + "    raise OSError('no probe')\n"
    )
    make_dist("acme-queue", "1.2.0", type_name="acme", source=source)
    result = run_cli("plugins", "--json", site=site)
    assert result.returncode == 0, result.stderr
    rows = {row["type"]: row for row in json.loads(result.stdout)}
    assert rows["acme"]["status"] == "ok"
    assert rows["acme"]["notes"] == ["sergeant_plugin_notes failed: OSError: no probe"]


def test_a_plugin_that_failed_to_load_is_not_asked_for_notes(
    make_dist: MakeDist, site: Path
) -> None:
    source = (
        "import nowhere_to_be_found\nimport sergeant\n\n@sergeant.hookimpl\n"
        "def sergeant_plugin_notes(type_name):\n    return ['x']\n"
    )
    make_dist("broken-queue", "0.1", type_name="broken", source=source)
    rows = {row["type"]: row for row in json.loads(run_cli("plugins", "--json", site=site).stdout)}
    assert rows["broken"]["status"].startswith("error:")
    assert rows["broken"]["notes"] == []


@pytest.mark.parametrize("flag", ["--json", "--requirements"])
def test_help_mentions_flags(flag: str) -> None:
    assert flag in run_cli("plugins", "--help").stdout
