"""Scenario 6, security, against real redis-servers.

- requirepass: the right password works; a wrong or missing one fails with
  ``AuthenticationError`` whose message, repr and traceback never show a password.
- ACL user: a user limited to ``~sergeant:*`` and :data:`MINIMAL_COMMANDS` runs
  every contract operation; the same user is refused other keys and commands.
- DEBUG logs: every logger at DEBUG while connectors and a worker run, fail and
  are misconfigured; no captured record, repr or error holds a password.
- CLI errors: what ``sergeant`` prints when the connector spec is wrong.
- raw pickle: a crafted pickle pushed raw is dead-lettered by a worker with the
  default serializer, never unpickled; the worker goes on with the next task.
- TLS: a TLS-only redis-server with a CA made here; trusted clients round-trip,
  a client without the CA and a plain-text client are refused.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import pathlib
import pickle
import secrets
import subprocess
import sys
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest
import redis
import sergeant
from reliability_report import Outcome, record
from security_capture import DebugCapture, hits
from security_kit import MINIMAL_COMMANDS, acl_user_line, kit_walk
from security_tls import make_certificates, redis_server_version
from sergeant.broker import dead_queue_name
from sergeant.config import Connector, Logging, LoggingEvents, WorkerConfig
from sergeant.encoder import TaskEncoder
from sergeant.errors import (
    AuthenticationError,
    ConnectorUnavailableError,
    SergeantError,
    StorageError,
    TaskDecodeError,
)
from sergeant_redis import RedisConnector
from sergeant_redis.permissions import OPTIONAL as OPTIONAL_SCRIPT_COMMANDS
from sergeant_test_support.redis_fixtures import RedisServer, RedisServerError

Factory = Callable[..., RedisServer]

#: Fresh per run, so a hit can only be a leak.
PASSWORD = f"Pw-{secrets.token_hex(8)}"
WRONG = f"Wrong-{secrets.token_hex(8)}"
ACL_PASSWORD = f"Acl-{secrets.token_hex(8)}"
SECRETS = (PASSWORD, WRONG, ACL_PASSWORD)
HERE = Path(__file__).parent
OPTIONAL_CLIENT_COMMANDS = ("client|setinfo", "client|maint_notifications")


def _connect(*nodes: Any) -> sergeant.Connector:
    return sergeant.connect(Connector(type="redis", params={"nodes": list(nodes)}))


def _texts(exc: BaseException) -> list[str]:
    """What a user can see of an error: message, repr, full traceback with causes."""
    return [str(exc), repr(exc), "".join(traceback.format_exception(exc))]


def _verdict(problems: list[str]) -> Literal["pass", "fail"]:
    return "fail" if problems else "pass"


# requirepass ---------------------------------------------------------------------


def test_requirepass(redis_server_factory: Factory) -> None:
    server = redis_server_factory(password=PASSWORD)
    problems: list[str] = []
    with _connect(server.node()) as right:
        calls = kit_walk(right)
        problems += [f"repr(connector) shows it: {t}" for t in hits(SECRETS, [repr(right)])]

    wrong_nodes: dict[str, Any] = {
        "wrong password": server.node(password=WRONG),
        "no password": server.node(password=None),
        "wrong password in a url": f"redis://:{WRONG}@{server.address}/0",
        "username 'default', wrong password": server.node(username="default", password=WRONG),
    }
    operations: dict[str, Callable[[sergeant.Connector], object]] = {
        "queue_push": lambda c: c.queue_push("q", b"x"),
        "queue_reserve": lambda c: c.queue_reserve("q", 1, 30),
        "key_get": lambda c: c.key_get("k"),
        "lock.acquire": lambda c: c.lock("l").acquire(timeout=0.1),
    }
    refused = 0
    for label, node in wrong_nodes.items():
        config = Connector(type="redis", params={"nodes": [node]})
        with sergeant.connect(config) as connector:
            problems += [f"{label}: repr shows it" for _ in hits(SECRETS, [repr(config)])]
            problems += [f"{label}: repr shows it" for _ in hits(SECRETS, [repr(connector)])]
            for name, operation in operations.items():
                try:
                    operation(connector)
                except AuthenticationError as exc:
                    refused += 1
                    message = str(exc)
                    if server.address not in message or "nodes[0].password" not in message:
                        problems.append(f"{label}, {name}: unclear message {message!r}")
                    if not isinstance(exc, SergeantError):
                        problems.append(f"{label}, {name}: not a SergeantError")
                    problems += [f"{label}, {name}: {t}" for t in hits(SECRETS, _texts(exc))]
                except Exception as exc:
                    problems.append(f"{label}, {name}: {type(exc).__name__} instead: {exc}")
                else:
                    problems.append(f"{label}, {name}: worked without the right password")

    record(
        Outcome(
            scenario="6. security: requirepass",
            backend="redis (requirepass)",
            load=f"{calls} contract calls with the right password",
            faults=f"{len(wrong_nodes) * len(operations)} calls with wrong or missing passwords "
            "(mapping, url, username forms)",
            lost=None,
            duplicates=None,
            verdict=_verdict(problems),
            details=f"{refused} calls refused with AuthenticationError naming the node and "
            "nodes[0].password; no password in any message, repr or traceback. "
            f"Problems: {problems or 'none'}.",
            figures={"calls": calls, "refused": refused},
        )
    )
    assert not problems, problems


# ACL user ------------------------------------------------------------------------


def test_acl_user(redis_server_factory: Factory) -> None:
    minimal = " ".join(f"+{command}" for command in MINIMAL_COMMANDS)
    server = redis_server_factory(
        password=PASSWORD,
        extra_config=[
            acl_user_line("sergeant-app", ACL_PASSWORD, "sergeant:*", f"-@all {minimal}"),
            acl_user_line("sergeant-broad", ACL_PASSWORD, "sergeant:*", "+@all -@dangerous"),
            acl_user_line("tenant-app", ACL_PASSWORD, "tenant:*", f"-@all {minimal}"),
        ],
    )
    problems: list[str] = []
    admin = redis.Redis(host=server.host, port=server.port, password=PASSWORD)
    admin.acl_log_reset()
    calls = 0
    for user in ("sergeant-app", "sergeant-broad"):
        with _connect(server.node(username=user, password=ACL_PASSWORD)) as connector:
            try:
                calls += kit_walk(connector)
            except SergeantError as exc:
                problems.append(f"{user} cannot run the contract: {exc}")
    # redis-py ignores a refused CLIENT SETINFO / MAINT_NOTIFICATIONS (optional, Redis >= 7.2);
    # the ACL probe tries the OPTIONAL commands (SORT, LTRIM, COPY) only large reserves use
    denials_while_working = [
        d
        for d in admin.acl_log()
        if d.get("object") not in OPTIONAL_CLIENT_COMMANDS
        and not (
            d.get("context") == "lua" and str(d.get("object")).upper() in OPTIONAL_SCRIPT_COMMANDS
        )
    ]

    app = redis.Redis(
        host=server.host, port=server.port, username="sergeant-app", password=ACL_PASSWORD
    )
    sha = app.script_load("return redis.call('GET', KEYS[1])")
    forbidden: dict[str, Callable[[], object]] = {
        "SET tenant:x": lambda: app.set("tenant:x", b"1"),
        "GET other": lambda: app.get("other"),
        "EVALSHA on tenant:x": lambda: app.evalsha(sha, 1, "tenant:x"),
        "KEYS *": lambda: app.keys("*"),
        "FLUSHALL": lambda: app.flushall(),
        "CONFIG GET requirepass": lambda: app.config_get("requirepass"),
        "ACL LIST": lambda: app.acl_list(),
    }
    refused = 0
    for label, attempt in forbidden.items():
        try:
            attempt()
        except redis.exceptions.ResponseError as exc:
            refused += 1
            if "permission" not in str(exc).lower() and "can't" not in str(exc):
                problems.append(f"{label}: refused for another reason: {exc}")
        else:
            problems.append(f"{label}: allowed")
    app.set("sergeant:key:probe", b"1")  # its own prefix: the refusals above are the ACL's
    app.close()

    # The same commands on another prefix: sergeant's own keys are refused, clearly.
    tenant_error = ""
    with _connect(server.node(username="tenant-app", password=ACL_PASSWORD)) as tenant:
        try:
            tenant.queue_push("q", b"x")
            problems.append("tenant-app pushed under sergeant:*")
        except StorageError as exc:
            tenant_error = str(exc)
            if "~sergeant:*" not in tenant_error or server.address not in tenant_error:
                problems.append(f"tenant-app: unclear error {tenant_error!r}")
            problems += [f"tenant-app error shows it: {t}" for t in hits(SECRETS, _texts(exc))]
    denials = admin.acl_log()
    admin.close()
    if denials_while_working:
        problems.append(f"the kit walk met ACL denials: {denials_while_working}")

    record(
        Outcome(
            scenario="6. security: ACL user",
            backend="redis (ACL users)",
            load=f"{calls} contract calls as 'sergeant-app' (~sergeant:*, "
            f"{len(MINIMAL_COMMANDS)} commands) and 'sergeant-broad' (+@all -@dangerous)",
            faults=f"{len(forbidden)} forbidden calls by 'sergeant-app'; a push by a user "
            "limited to ~tenant:*",
            lost=None,
            duplicates=None,
            verdict=_verdict(problems),
            details=(
                f"Minimal ACL that runs every contract call: ~sergeant:* resetchannels -@all "
                f"{minimal}. {refused} of {len(forbidden)} forbidden calls refused "
                f"(server ACL LOG: {len(denials)} denials); the ~tenant:* user's push failed "
                f"with StorageError: {tenant_error!r}. Problems: {problems or 'none'}."
            ),
            figures={"calls": calls, "refused": refused, "acl_log_denials": len(denials)},
        )
    )
    assert not problems, problems


# DEBUG logs ----------------------------------------------------------------------


class DebugWorker(sergeant.Worker):
    """Succeeds, fails or retries as its task says; configured by the test."""

    config_for_test: WorkerConfig

    def generate_config(self) -> WorkerConfig:
        return self.config_for_test

    def work(self, task: sergeant.Task) -> None:
        if task.kwargs["action"] == "fail":
            raise RuntimeError(f"task {task.kwargs} failed on purpose")
        if task.kwargs["action"] == "retry":
            self.retry(task)


class _StopOnFetchError(logging.Handler):
    """Stops a worker as soon as it logs that it could not fetch tasks."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.worker: sergeant.Worker | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.worker is not None and "could not fetch tasks" in record.getMessage():
            self.worker.received_stop_signal = True


def _worker_config(name: str, connector: Connector, capture: DebugCapture) -> WorkerConfig:
    return WorkerConfig(
        name=name,
        connector=connector,
        max_tasks_per_run=3,
        max_retries=1,
        logging=Logging(
            level=logging.DEBUG,
            log_to_stdout=True,
            events=LoggingEvents(on_success=True),
            handlers=[capture.handler],
        ),
    )


def test_debug_logs_and_reprs(
    redis_server_factory: Factory, capfd: pytest.CaptureFixture[str]
) -> None:
    server = redis_server_factory(password=PASSWORD)
    gone = redis_server_factory(password=PASSWORD)
    gone.stop()  # a node with a password that does not answer
    seen: list[str] = []  # reprs and errors, besides the log records
    log = logging.getLogger("sergeant.reliability.security")

    def failing(what: str, call: Callable[[], object]) -> None:
        try:
            call()
        except SergeantError as exc:
            log.exception("%s failed as expected: %r", what, exc)
            seen.extend(_texts(exc))
        else:
            raise AssertionError(f"{what} did not fail")

    with DebugCapture() as capture:
        redis_loggers = [n for n in logging.root.manager.loggerDict if n.split(".")[0] == "redis"]
        redis_at_debug = bool(redis_loggers) and all(
            logging.getLogger(n).isEnabledFor(logging.DEBUG) for n in redis_loggers
        )
        config = Connector(type="redis", params={"nodes": [server.node()]})
        with sergeant.connect(config) as connector:
            assert isinstance(connector, RedisConnector)
            kit_walk(connector)
            seen += [repr(config), str(config), repr(connector), repr(connector.nodes)]
            seen += [repr(node.params) for node in connector.nodes]
        with _connect(server.url()) as by_url:
            assert isinstance(by_url, RedisConnector)
            by_url.queue_push("by-url", b"x")
            seen += [repr(by_url), repr(by_url.nodes)]
        with _connect(server.node(password=WRONG)) as wrong:
            failing("a push with a wrong password", lambda: wrong.queue_push("q", b"x"))
        with _connect(gone.node()) as unreachable:
            failing("a push to a dead node", lambda: unreachable.queue_push("q", b"x"))
        with _connect(server.node(), gone.node()) as half:
            half.queue_push("half", b"x")
            half.queue_stats("half")  # logs a warning for the dead node
        bad_nodes: list[list[Any]] = [
            [server.node(port="6379")],
            [server.node(bogus=1)],
            [f"http://:{PASSWORD}@{server.address}/0"],
            [{"url": f"redis://:{PASSWORD}@{server.address}/x"}],
            [server.node(), server.node()],
        ]
        for nodes in bad_nodes:
            failing("bad params", functools.partial(_connect, *nodes))

        queue = f"debug-{uuid.uuid4().hex[:8]}"
        DebugWorker.config_for_test = _worker_config(queue, config, capture)
        worker = DebugWorker()
        worker.init_broker()
        worker.push_tasks([{"action": a} for a in ("ok", "fail", "retry")])
        summary = worker.work_loop()
        seen += [repr(worker.config), repr(summary), repr(worker.broker.connector)]
        worker.close()

        stopper = _StopOnFetchError()
        wrong_config = Connector(type="redis", params={"nodes": [server.node(password=WRONG)]})
        DebugWorker.config_for_test = _worker_config(queue, wrong_config, capture).replace(
            logging=Logging(level=logging.DEBUG, handlers=[capture.handler, stopper])
        )
        refused_worker = DebugWorker()
        stopper.worker = refused_worker
        refused_summary = refused_worker.work_loop()
        seen += [repr(refused_worker.config), repr(refused_summary)]
        refused_worker.close()
    output = capfd.readouterr()
    seen += [output.out, output.err]

    leaks = hits(SECRETS, capture.texts + seen)
    covered = {
        "redis-py's loggers at DEBUG": redis_at_debug,
        "sergeant.redis": "sergeant.redis" in capture.loggers,
        "the worker": queue in capture.loggers,
        "errors with tracebacks": log.name in capture.loggers,
        "the refused worker": stopper.worker.received_stop_signal,
        "tasks ran": summary["counters"].processed == 3,
    }
    missing = [what for what, ok in covered.items() if not ok]
    record(
        Outcome(
            scenario="6. security: DEBUG logs",
            backend="redis (requirepass)",
            load=f"{capture.records} log records at DEBUG from {len(capture.loggers)} loggers "
            f"({', '.join(sorted(capture.loggers))}), {len(seen)} reprs, errors and outputs",
            faults="wrong password, dead node, 5 bad params, failing and retried tasks, "
            "a worker refused by the server",
            lost=None,
            duplicates=None,
            verdict=_verdict(leaks + missing),
            details=f"Passwords found: {len(leaks)}{f' ({leaks[:3]})' if leaks else ''}. "
            f"Sources not exercised: {missing or 'none'}.",
            figures={"records": capture.records, "reprs": len(seen), "leaks": len(leaks)},
        )
    )
    assert not missing, f"the capture did not cover {missing}"
    assert not leaks, leaks


# CLI errors ----------------------------------------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERGEANT_C")}
    return subprocess.run(
        [sys.executable, "-m", "sergeant", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        cwd=cwd,
    )


def test_cli_errors(redis_server_factory: Factory, tmp_path: Path) -> None:
    server = redis_server_factory(password=PASSWORD)

    def spec(**node: Any) -> str:
        return json.dumps({"type": "redis", "params": {"nodes": [server.node(**node)]}})

    toml = tmp_path / "bad.toml"
    toml.write_text(
        f'[connector]\ntype = "redis"\n[connector.params]\nnodes = [{{ host = "{server.host}",'
        f' port = {server.port}, password = "{PASSWORD}", database = "zero" }}]\n'
    )
    cases = {
        "wrong password (--connector JSON)": ["--connector", spec(password=WRONG)],
        "bad param next to the password": ["--connector", spec(port=0)],
        "a url with a wrong password as the spec": [
            "--connector",
            server.url().replace(f":{PASSWORD}@", f":{WRONG}@"),
        ],
        "a url with a bad database as the spec": [
            "--connector",
            server.url().rsplit("/", 1)[0] + "/zero",
        ],
        "JSON with a syntax error": ["--connector", spec()[:-1]],
        "config file with a bad param": ["--config", str(toml)],
    }
    problems: list[str] = []
    for label, options in cases.items():
        done = _cli("stats", "cli-q", *options, cwd=tmp_path)
        shown = done.stdout + done.stderr
        if done.returncode == 0:
            problems.append(f"{label}: exit code 0")
        if "error" not in shown:
            problems.append(f"{label}: no error shown: {shown!r}")
        problems += [f"{label}: printed the password: {t}" for t in hits(SECRETS, [shown])]
    for label, good in {"JSON": spec(), "url": server.url()}.items():
        right = _cli("stats", "cli-q", "--connector", good, cwd=tmp_path)
        if right.returncode != 0:
            problems.append(f"the right password failed ({label}): {right.stderr}")
        problems += [
            f"the right password ({label}) printed it: {t}"
            for t in hits(SECRETS, [right.stdout + right.stderr])
        ]
    record(
        Outcome(
            scenario="6. security: CLI errors",
            backend="redis (requirepass)",
            load="`sergeant stats` with the connector from --connector and --config",
            faults=f"{len(cases)} wrong specs carrying a password",
            lost=None,
            duplicates=None,
            verdict=_verdict(problems),
            details=f"Problems: {problems or 'none'}.",
            figures={"cases": len(cases), "problems": len(problems)},
        )
    )
    assert not problems, problems


# Raw pickle ----------------------------------------------------------------------


class Exploit:
    """Unpickling this creates ``marker``: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.touch, (self.marker,))


class Recording(sergeant.Worker):
    """Records the kwargs of each task it runs."""

    config_for_test: WorkerConfig
    ran: list[dict[str, Any]] = []

    def generate_config(self) -> WorkerConfig:
        return self.config_for_test

    def work(self, task: sergeant.Task) -> None:
        self.ran.append(task.kwargs)


def test_raw_pickle_is_dead_lettered(redis_server: RedisServer, tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    payload = pickle.dumps(Exploit(marker), protocol=pickle.HIGHEST_PROTOCOL)
    queue = f"pickle-{uuid.uuid4().hex[:8]}"
    config = Connector(type="redis", params={"nodes": [redis_server.node()]})
    Recording.config_for_test = WorkerConfig(name=queue, connector=config, max_tasks_per_run=2)
    Recording.ran = []
    worker = Recording()
    worker.init_broker()
    worker.broker.connector.queue_push(queue, payload)  # raw, as an attacker would
    worker.push_task({"n": "good"})
    summary = worker.work_loop()
    dead = worker.broker.dead_letters(queue)
    left = worker.broker.number_of_enqueued_tasks(queue, include_delayed=True)
    worker.broker.purge_dead(queue)
    worker.close()
    unpickled = marker.exists()

    # Control: the same bytes do run code under pickle, so the check above can fail.
    with pytest.raises(TaskDecodeError):
        TaskEncoder("pickle").decode_task(payload)
    control = marker.exists()

    entry = dead[0] if len(dead) == 1 else None
    problems = [
        text
        for text, bad in (
            ("the payload was unpickled (the marker file exists)", unpickled),
            (f"{len(dead)} dead letters instead of 1", entry is None),
            ("the dead letter is not the raw payload", entry and entry.payload != payload),
            ("the dead letter has no decode reason", entry and "decode" not in entry.reason),
            (f"the good task did not run: {Recording.ran}", Recording.ran != [{"n": "good"}]),
            (f"the worker summary has an exception: {summary}", summary["executor_exception"]),
            (f"{left} items left in the queue", left),
            ("the control did not run the payload's code under pickle", not control),
        )
        if bad
    ]
    record(
        Outcome(
            scenario="6. security: raw pickle",
            backend="redis (1 node)",
            load="a worker with the default serializer (msgpack), 2 tasks",
            faults=f"a {len(payload)}-byte pickle whose __reduce__ creates a file, pushed raw "
            "before a good task",
            lost=None,
            duplicates=None,
            verdict=_verdict(problems),
            details=(
                f"Marker file created: {unpickled}; dead letters in {dead_queue_name(queue)!r}: "
                f"{len(dead)}, reason {entry.reason if entry else None!r}; the good task after "
                f"it ran: {Recording.ran == [{'n': 'good'}]}. Control: decoding the same bytes "
                f"with the opt-in pickle serializer created the file: {control}."
            ),
        )
    )
    assert not problems, problems


# TLS -----------------------------------------------------------------------------


def test_tls(tmp_path: Path) -> None:
    version = redis_server_version()
    certificates = make_certificates(tmp_path / "certs")
    server = RedisServer(tmp_path / "redis", tls=certificates)
    problems: list[str] = []
    try:
        try:
            server.start()
            supported, evidence = True, "it served a TLS-only port"
        except RedisServerError as exc:
            supported, evidence = False, str(exc)
            if "tls" not in evidence.lower():  # a failure for another reason is not detection
                raise
        calls, refusals = 0, {}
        if supported:
            with _connect(server.node()) as trusted:  # ssl=True, ssl_ca_certs=the test CA
                calls += kit_walk(trusted)
            with _connect({"url": server.url(), "ssl_ca_certs": str(certificates.ca_file)}) as u:
                calls += 2
                assert u.queue_push("tls-url", b"x")
                assert u.queue_pop("tls-url") == b"x"
            for label, node in (
                ("no CA given", server.node(ssl_ca_certs=None)),
                ("plain text", server.node(ssl=False, ssl_ca_certs=None, socket_timeout=2)),
            ):
                with _connect(node) as refused:
                    try:
                        refused.queue_push("tls-q", b"x")
                        problems.append(f"{label}: the push went through")
                    except ConnectorUnavailableError as exc:
                        refusals[label] = str(exc)
            untrusted = refusals.get("no CA given", "")
            if (
                "CERTIFICATE_VERIFY_FAILED" not in untrusted
                or server.address not in untrusted
                or "check nodes[0].ssl_ca_certs" not in untrusted
            ):
                problems.append(f"no CA given: unclear error {untrusted!r}")
    finally:
        server.stop()
    record(
        Outcome(
            scenario="6. security: TLS",
            backend=f"redis (TLS-only port, {version})",
            load=f"{calls} contract calls over TLS with host name checks" if supported else "-",
            faults="a client without the CA; a plain-text client" if supported else "-",
            lost=None,
            duplicates=None,
            verdict=_verdict(problems),
            details=(
                f"TLS supported by this {version}: {supported} ({evidence}); CA and server "
                "certificate made with openssl by the test. "
                + "; ".join(f"{label}: refused with {text!r}" for label, text in refusals.items())
                + f". Problems: {problems or 'none'}."
            ),
            figures={"tls_supported": str(supported), "calls": calls},
        )
    )
    assert not problems, problems
