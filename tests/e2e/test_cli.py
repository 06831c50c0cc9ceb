"""The sergeant CLI: push, stats, dead, worker, and one-line errors for bad config."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest
import sergeant
from conftest import Processes, connector_json
from sergeant.broker import Broker, DeadLetter, dead_queue_name
from sergeant.cli import main, push
from sergeant.config import Connector


@pytest.fixture
def spec(connector_config: Connector) -> str:
    return connector_json(connector_config)


def test_push_then_stats_json(
    spec: str, connector: sergeant.Connector, queue_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["push", queue_name, "--kwargs", '{"n": 1}', "--count", "3", "--connector", spec]) == 0
    )
    assert main(["push", queue_name, "--delay", "3600", "--connector", spec]) == 0
    assert "pushed 3 tasks" in capsys.readouterr().out
    connector.queue_reserve(queue_name, 1, 60)
    assert main(["stats", queue_name, "--json", "--connector", spec]) == 0
    report = json.loads(capsys.readouterr().out)[queue_name]
    assert (report["ready"], report["delayed"], report["in_flight"], report["dead"]) == (2, 1, 1, 0)
    assert sum(node["ready"] for node in report["nodes"]) == 2
    assert main(["stats", queue_name, "--connector", spec]) == 0
    assert "(total)" in capsys.readouterr().out
    (task,) = Broker(connector).pop_tasks(queue_name, 1)
    assert task.kwargs == {"n": 1}


def test_push_makes_copies_a_chunk_at_a_time_and_reports_json(
    spec: str,
    connector: sergeant.Connector,
    queue_name: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 7 a chunk rather than 10,000: mongoeco, the mongo test server, takes a
    # minute to insert 5,000 documents in one call (a real mongod ~50 ms).
    monkeypatch.setattr(push, "CHUNK", 7)
    count = push.CHUNK + 1  # two kwargs: three chunks, the second one mixed
    argv = ["push", queue_name, "--kwargs", '{"n": 0}', "--kwargs", '{"n": 1}']
    assert main([*argv, "--count", str(count), "--json", "--connector", spec]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == {
        "queue": queue_name,
        "pushed": 2 * count,
        "priority": "NORMAL",
        "consumable_from": None,
    }
    assert connector.queue_length(queue_name) == 2 * count
    broker = Broker(connector)
    assert [task.kwargs["n"] for task in broker.pop_tasks(queue_name, count)] == [0] * count
    assert broker.pop_tasks(queue_name, 1)[0].kwargs == {"n": 1}


def test_stored_text_cannot_drive_the_terminal(
    spec: str, connector: sergeant.Connector, queue_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A queue name and a dead letter's reason (a task's exception message, made of
    the payload it choked on) holding escape sequences print as escapes."""
    hostile = f"{queue_name}\x1b[2J"
    connector.queue_push(hostile, b"x")
    broker = Broker(connector)
    payload = broker.encoder.encode_task(sergeant.Task({"n": 1}))
    broker.dead_letter(queue_name, payload, "bad url \x1b]52;c;aGk=\x07 \x1b[31m", 1)
    assert main(["stats", "--connector", spec]) == 0
    assert main(["dead", "list", queue_name, "--connector", spec]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "\x07" not in out
    assert f"{queue_name}\\x1b[2J" in out
    assert "bad url \\x1b]52;c;aGk=\\x07 \\x1b[31m" in out


def test_dead_list_requeue_purge(
    spec: str, connector: sergeant.Connector, queue_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    broker = Broker(connector)
    broker.dead_letter(queue_name, b"\x01garbage", "cannot decode the payload: test", 1)
    broker.dead_letter(queue_name, broker.encoder.encode_task(sergeant.Task({"n": 2})), "why", 4)
    assert main(["dead", "list", queue_name, "--json", "--connector", spec]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert sorted(e["reason"] for e in entries) == ["cannot decode the payload: test", "why"]
    assert {e["kwargs"] for e in entries} == {None, "{'n': 2}"}
    assert main(["dead", "list", queue_name, "--connector", spec]) == 0
    assert "deliveries=4" in capsys.readouterr().out
    assert main(["dead", "requeue", queue_name, "--connector", spec]) == 0
    assert "requeued 2" in capsys.readouterr().out
    assert connector.queue_length(queue_name) == 2
    assert connector.queue_length(dead_queue_name(queue_name)) == 0
    broker.dead_letter(queue_name, b"x", "again", 1)
    assert main(["dead", "purge", queue_name, "--connector", spec]) == 0
    assert connector.queue_length(dead_queue_name(queue_name), include_delayed=True) == 0


def test_the_connector_can_come_from_the_environment(
    connector_config: Connector,
    connector: sergeant.Connector,
    queue_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SERGEANT_CONNECTOR", connector_json(connector_config))
    assert main(["push", queue_name]) == 0
    assert connector.queue_length(queue_name) == 1


def test_the_connector_can_come_from_a_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SERGEANT_CONNECTOR", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sergeant.toml").write_text(
        '[connector]\ntype = "local"\nparams = { file_path = "from-toml.sqlite3" }\n'
    )
    assert main(["push", "q", "--count", "2"]) == 0
    with sergeant.connect(Connector(type="local", params={"file_path": "from-toml.sqlite3"})) as c:
        assert c.queue_length("q") == 2
    assert main(["stats", "q", "--config", "missing.toml"]) == 2


@pytest.fixture
def only_the_folders_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI runs in ``tmp_path`` with no connector or config file named by
    the environment: it reads ``tmp_path/sergeant.toml``."""
    monkeypatch.delenv("SERGEANT_CONNECTOR", raising=False)
    monkeypatch.delenv("SERGEANT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda path: path.write_bytes(b"\xff\xfe[connector]"), "not valid TOML"),
        (lambda path: path.mkdir(), "cannot read it: Is a directory"),
    ],
    ids=["not UTF-8", "a folder"],
)
def test_a_sergeant_toml_that_cannot_be_read_is_a_one_line_error(
    make: Callable[[Path], object],
    said: str,
    tmp_path: Path,
    only_the_folders_config: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Not a traceback, and not silently the default local file instead."""
    make(tmp_path / "sergeant.toml")
    assert main(["stats"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sergeant: error: invalid --config: 'sergeant.toml'")
    assert said in err


@pytest.mark.parametrize(
    ("table", "said"),
    [
        ('serialiser = "json"', "invalid sergeant.toml [encoder] serialiser: 'json'; did you mean"),
        ('serializer = ["json"]', "[encoder] serializer: ['json']; expected a name in quotes"),
    ],
)
def test_a_bad_encoder_table_is_a_one_line_error(
    table: str,
    said: str,
    tmp_path: Path,
    only_the_folders_config: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A misspelt key was ignored (msgpack pushed to JSON workers); a list crashed."""
    (tmp_path / "sergeant.toml").write_text(
        f'[connector]\ntype = "local"\nparams = {{file_path = "{tmp_path}/q.db"}}\n'
        f"[encoder]\n{table}\n"
    )
    assert main(["push", "q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sergeant: error: ")
    assert said in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["stats", "q", "--connector", "{bad json"], "invalid --connector"),
        (["stats", "q", "--connector", '{"type": "local", "params": {"nope": 1}}'], "'nope'"),
        (["stats", "q", "--connector", "no-such-type"], "unknown connector type"),
        (["push", "q", "--kwargs", "[1]"], "invalid --kwargs"),
        (["push", "q", "--delay", "nan"], "invalid --delay: nan"),
        (["push", "q", "--delay=-1"], "invalid --delay: -1.0"),
        (["push", "q", "--file", "/nonexistent/tasks.jsonl"], "invalid --file"),
        (["worker", "no_colon_here"], "MODULE:CLASS"),
        (["push", "q", "--kwargs", '{"n": ' + "9" * 5000 + "}"], "pass it as a string"),
        (["push", "q", "--kwargs", '{"n": ' + "[" * 100_000], "nested too deeply"),
        (["worker", "m:C", "--stop-timeout", "nan"], "invalid stop_timeout: nan"),
        (["worker", "m:C", "--max-worker-memory-usage=-1"], "invalid max_worker_memory_usage: -1"),
    ],
)
def test_bad_config_is_a_one_line_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("sergeant: error:")
    assert message in err


def test_worker_command_prints_progress_and_a_summary(
    connector: sergeant.Connector, processes: Processes, queue_name: str
) -> None:
    Broker(connector).push_tasks(queue_name, [sergeant.Task({"id": i}) for i in range(50)])
    result = processes.run("worker", "e2e_workers:Recorder", "-c", "2", starve_after=1)
    assert result.returncode == 0, result.stderr
    assert "summary: 50 tasks" in result.stdout
    assert "done 50  failed 0  retried 0  dead 0" in result.stdout
    assert "started worker process" in result.stderr


def test_push_cut_short_by_a_full_server_says_how_many_landed(
    redis_server_factory: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """A Redis server at ``maxmemory`` (``noeviction``) refuses the push part-way:
    the one-line error says how many tasks are in the queue, and that many are."""
    server = redis_server_factory(extra_config=("maxmemory 3mb", "maxmemory-policy noeviction"))
    config = Connector(type="redis", params={"nodes": [server.node()]})
    kwargs = json.dumps({"pad": "x" * 200})
    argv = ["push", "q", "--kwargs", kwargs, "--count", "100000", "--connector"]
    assert main([*argv, connector_json(config)]) == 2
    error = capsys.readouterr().err
    assert "is full" in error
    assert "tasks were pushed before it, the rest were not" in error
    landed = int(
        error.split(" of 100,000 tasks were pushed")[0].rsplit("; ", 1)[1].replace(",", "")
    )
    with sergeant.connect(config) as connector:
        assert 0 < landed == connector.queue_length("q")


def test_output_cut_short_by_its_reader_ends_quietly(tmp_path: Path) -> None:
    """``sergeant stats | head -1``: the reader goes away mid-output. No
    BrokenPipeError traceback, whatever the command."""
    path = tmp_path / "q.sqlite3"
    with sergeant.connect(Connector(type="local", params={"file_path": str(path)})) as connector:
        for n in range(3000):
            connector.queue_push(f"queue-{n}", b"x")
    spec = f"local:{path}"
    for args in (["stats"], ["stats", "--json"]):
        reader = subprocess.Popen(
            ["head", "-c", "1"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
        )
        result = subprocess.run(
            [sys.executable, "-m", "sergeant", *args, "--connector", spec],
            stdout=reader.stdin,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
        assert reader.stdin is not None
        reader.stdin.close()
        reader.wait(60)
        assert "Traceback" not in result.stderr, (args, result.stderr)
        assert result.stderr == "", (args, result.stderr)


def test_a_dead_letter_with_a_date_no_clock_has_lists_as_malformed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Anyone who can push to ``q:dead`` can write a date of NaN or 1e300: it
    used to end the whole listing with a traceback."""
    path = tmp_path / "q.sqlite3"
    config = Connector(type="local", params={"file_path": str(path)})
    good = DeadLetter("q", "boom", b"\x90", 2, 1.0).encode()
    with sergeant.connect(config) as connector:
        for date in (math.nan, 1e300, -1e300):
            bad = msgpack.packb(
                {"queue": "q", "reason": "r", "payload": b"", "deliveries": 1, "date": date}
            )
            connector.queue_push(dead_queue_name("q"), bad)
        connector.queue_push(dead_queue_name("q"), good)
    assert main(["dead", "list", "q", "--json", "--connector", f"local:{path}"]) == 0
    listed = json.loads(capsys.readouterr().out)
    entries = listed if isinstance(listed, list) else listed["entries"]
    reasons = [entry["reason"] for entry in entries]
    assert reasons.count("not a dead-letter entry") == 3
    assert "boom" in reasons
