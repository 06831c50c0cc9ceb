"""The Lua files and their loader: every file is used, every include resolved.

The scripts live in ``sergeant_redis/lua/*.lua`` (package data, read once at
import); shared fragments come in through ``-- include: <file>`` lines. These
tests prove the sources sent to Redis have no include line left, that no file
in the folder is dead, and that an include cycle is refused rather than looped.
"""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import pytest
from sergeant_redis import legacy, scripts

INCLUDE = re.compile(r"^\s*-- include: (\S+)", re.MULTILINE)


def all_scripts() -> list[scripts.Script]:
    """The scripts of the queues (:mod:`scripts`) and of the migration (:mod:`legacy`)."""
    values = [*vars(scripts).values(), *vars(legacy).values()]
    return [value for value in values if isinstance(value, scripts.Script)]


def lua_files() -> set[str]:
    folder = files("sergeant_redis").joinpath("lua")
    return {entry.name for entry in folder.iterdir() if entry.name.endswith(".lua")}


def test_every_script_is_its_file_with_the_includes_resolved() -> None:
    loaded = all_scripts()
    assert len(loaded) == 17
    for script in loaded:
        assert script.source == scripts.lua_source(f"{script.name}.lua")
        assert INCLUDE.search(script.source) is None, script.name
        assert "redis.call" in script.source, script.name


def test_every_lua_file_is_a_script_or_included_by_one() -> None:
    used = {f"{script.name}.lua" for script in all_scripts()}
    folder = files("sergeant_redis").joinpath("lua")
    for name in lua_files():
        used |= set(INCLUDE.findall(folder.joinpath(name).read_text(encoding="utf-8")))
    assert lua_files() - used == set()
    assert used - lua_files() == set(), "every include names a file"


def test_a_shared_fragment_is_written_once() -> None:
    """``now()`` is in _now.lua only; the scripts that need it include it."""
    folder = files("sergeant_redis").joinpath("lua")
    defining = [
        name
        for name in sorted(lua_files())
        if "local function now()" in folder.joinpath(name).read_text(encoding="utf-8")
    ]
    assert defining == ["_now.lua"]
    assert scripts.PUSH_DELAYED.source.count("local function now()") == 1
    assert scripts.RESERVE.source.count("local function now()") == 1


def test_an_include_cycle_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.lua").write_text("-- include: b.lua\nreturn 1\n")
    (tmp_path / "b.lua").write_text("-- include: a.lua\n")
    (tmp_path / "c.lua").write_text("local x = 1\n  -- include: d.lua\nreturn x\n")
    (tmp_path / "d.lua").write_text("x = x + 1\n")
    monkeypatch.setattr(scripts, "_LUA", tmp_path)
    assert scripts.lua_source("c.lua") == "local x = 1\nx = x + 1\nreturn x\n"
    with pytest.raises(ValueError, match=r"a\.lua -> b\.lua -> a\.lua"):
        scripts.lua_source("a.lua")


DRAINING = {"reserve", "ack", "ack_reserve", "release", "extend", "pop", "pop_one", "maintain"}
GROWING = {"push_delayed", "legacy_move_queue", "legacy_move_key"}


def test_scripts_that_drain_a_queue_run_on_a_full_server_and_those_that_grow_it_do_not() -> None:
    """``allow-oom`` (a first-line flag) lets workers drain a server at
    ``maxmemory``; scripts that add items stay refused (tests/test_full_server.py)."""
    flagged = {s.name for s in all_scripts() if s.source.startswith("#!lua flags=allow-oom\n")}
    assert flagged >= DRAINING
    assert not GROWING & flagged
    for script in all_scripts():
        assert "#!" not in script.source[1:], f"{script.name}: a flag line only comes first"
