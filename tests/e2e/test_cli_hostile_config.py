"""Connector JSON and sergeant.toml past Python's parsing limits (nesting, a number
of over 4,300 digits) end in the CLI's one-line error, never a traceback; a
``--delay`` too far out names the flag; a config file too large (``/dev/zero``)
is refused before it is read into memory; one saved with a BOM is read."""

from __future__ import annotations

from pathlib import Path

import pytest
from sergeant.cli import _connector_option, main

DEEP = "[" * 100_000 + "]" * 100_000
LONG_NUMBER = "1" * 5000


@pytest.fixture(autouse=True)
def _no_ambient_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SERGEANT_CONNECTOR", raising=False)
    monkeypatch.delenv("SERGEANT_CONFIG", raising=False)


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("sergeant: error: "), err[:300]
    assert err.count("\n") == 1, err[:300]
    return err


@pytest.mark.parametrize(
    ("value", "why"),
    [(DEEP, "nested too deeply"), (LONG_NUMBER, "number too long to read")],
)
def test_connector_json_past_pythons_limits(
    value: str, why: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = '{"type": "local", "params": {"x": %s}}' % value  # noqa: UP031
    assert main(["stats", "--connector", spec]) == 2
    err = _one_line_error(capsys)
    assert "invalid --connector" in err
    assert why in err
    monkeypatch.setenv("SERGEANT_CONNECTOR", spec)
    assert main(["stats"]) == 2
    assert "invalid $SERGEANT_CONNECTOR" in _one_line_error(capsys)


@pytest.mark.parametrize(
    ("value", "why"),
    [(DEEP, "nested too deeply"), (LONG_NUMBER, "number too long to read")],
)
def test_config_file_past_pythons_limits(
    value: str, why: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = f'[connector]\ntype = "local"\nparams = {{x = {value}}}\n'
    (tmp_path / "sergeant.toml").write_text(toml)
    assert main(["stats"]) == 2
    err = _one_line_error(capsys)
    assert "sergeant.toml" in err
    assert why in err


@pytest.mark.parametrize("delay", ["1e300", "1e18"])
def test_a_delay_past_year_10000_names_the_flag(
    delay: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It used to name ``consumable_from``, a field the user never typed."""
    spec = f"local:{tmp_path / 'queue.sqlite3'}"
    assert main(["push", "q", "--delay", delay, "--connector", spec]) == 2
    err = _one_line_error(capsys)
    assert "invalid --delay" in err
    assert "before year 10000" in err


def test_a_config_file_past_its_size_bound_is_refused_unread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--config /dev/zero`` used to read until memory ran out; a 100 MB file took 12 s."""
    config = tmp_path / "big.toml"
    config.write_text('[connector]\ntype = "local"\n' + "# padding\n" * 1000)
    bound = getattr(_connector_option, "MAX_CONFIG_BYTES", None)
    monkeypatch.setattr(_connector_option, "MAX_CONFIG_BYTES", 1000, raising=False)
    assert main(["stats", "--config", str(config)]) == 2
    assert "is over 1,000 bytes, too large for a config file" in _one_line_error(capsys)
    monkeypatch.setattr(_connector_option, "MAX_CONFIG_BYTES", 10_010, raising=False)
    assert main(["stats", "--config", str(config), "--connector", f"local:{tmp_path / 'q'}"]) == 0
    if Path("/dev/zero").exists():
        monkeypatch.setattr(_connector_option, "MAX_CONFIG_BYTES", bound)
        assert main(["stats", "--config", "/dev/zero"]) == 2
        assert "too large for a config file" in _one_line_error(capsys)


def test_a_trace_id_of_another_encoding_names_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--trace-id $'\\xff'`` reaches Python as a lone surrogate; the error used to
    say 'invalid value to encode: 'list'', naming nothing the user typed."""
    spec = f"local:{tmp_path / 'queue.sqlite3'}"
    assert main(["push", "q", "--trace-id", "t\udcff", "--connector", spec]) == 2
    assert "invalid --trace-id: 't\\udcff'; expected UTF-8 text" in _one_line_error(capsys)


def test_params_the_parser_reads_but_too_deep_to_copy(capsys: pytest.CaptureFixture[str]) -> None:
    """600 levels parse, but copying them into the immutable config recursed too deep."""
    spec = '{"type": "local", "params": {"x": %s}}' % ("[" * 600 + "]" * 600)
    assert main(["stats", "--connector", spec]) == 2
    assert "invalid --connector.params: <redacted>; is nested too deeply" in _one_line_error(capsys)


def test_a_config_file_saved_with_a_bom_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Windows Notepad starts UTF-8 files with a BOM: it used to be 'Invalid statement
    (at line 1, column 1)', pointing at nothing visible."""
    path = tmp_path / "queue.sqlite3"
    toml = f'[connector]\ntype = "local"\nparams = {{file_path = "{path}"}}\n'
    (tmp_path / "sergeant.toml").write_bytes(b"\xef\xbb\xbf" + toml.encode())
    assert main(["stats", "--json"]) == 0
    assert capsys.readouterr().out.strip() == "{}"
    assert path.exists()
