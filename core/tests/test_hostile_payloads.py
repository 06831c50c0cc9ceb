"""Hostile payloads: decoding any bytes raises TaskDecodeError (a reason), never worse.

Anyone able to push to a queue hands its workers bytes to decode, so decoding is
bounded. This proves, without any backend:

- tuple extensions nest at most ``MAX_TUPLE_DEPTH`` (32) deep, exactly: 32 round-trips,
  33 is refused when encoding and when decoding, with the reason; 200, 1000 and
  10,000 levels (which overflowed the C stack before the bound) leave the decoding
  process alive, alone or inside a batch;
- payloads over ``max_payload_bytes``, or decompressing to more, are refused with
  the reason and without being expanded (traced memory stays near the limit,
  far below the bomb's size), for every compressor, the 785-byte bzip2 bomb
  (1 GiB) included, and the same for Sergeant's ``Compressor`` classes;
- msgpack headers declaring huge lengths, truncated payloads, random bytes and
  mutated tasks only ever give TaskDecodeError (seeded, so a failure repeats);
- a bad ``max_payload_bytes`` is a ConfigError naming the field.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import random
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import msgpack
import pytest
from sergeant.config import Connector, WorkerConfig
from sergeant.encoder import (
    COMPRESSORS,
    DEFAULT_MAX_PAYLOAD_BYTES,
    MAX_TUPLE_DEPTH,
    TaskEncoder,
)
from sergeant.encoder import compressor as legacy_compressor
from sergeant.encoder._bounded import DECOMPRESSORS, OverLimitError
from sergeant.encoder.encoder import Encoder as LegacyEncoder
from sergeant.errors import ConfigError, EncodeError, TaskDecodeError
from sergeant.task import Task
from sergeant_test_support.hostile import BZIP2_BOMB, GIB, nested_tuples, zeros_bomb

MiB = 1024**2
ENCODINGS = [
    (serializer, compressor)
    for serializer in ("msgpack", "json")
    for compressor in (None, *COMPRESSORS)
]
#: The bound the feature promises (literal: a test must not follow a changed constant).
DEEPEST = 32
TOO_DEEP = "tuples nested more than 32 deep"
OVER_LIMIT = "decompresses to more than max_payload_bytes"


def outcome(encoder: TaskEncoder, payload: bytes) -> Task | str:
    """The task in ``payload``, or the reason it is none; any other exception fails the test."""
    try:
        return encoder.decode_task(payload)
    except TaskDecodeError as exc:
        return f"refused: {exc}"


def refused_with_a_reason(result: Task | str) -> bool:
    return isinstance(result, str) and len(result) > len("refused: ")


def batch_outcomes(encoder: TaskEncoder, payloads: list[bytes]) -> list[Task | str]:
    """What the broker makes of a batch: decode_tasks, then decode_task where it said None."""
    return [
        task if task is not None else outcome(encoder, payload)
        for payload, task in zip(payloads, encoder.decode_tasks(payloads), strict=True)
    ]


def nest(depth: int) -> Any:
    """A Python tuple nested ``depth`` deep around an empty tuple's contents."""
    value: Any = ()
    for _ in range(depth - 1):
        value = (value,)
    return value


def raw_task_holding(depth: int) -> bytes:
    """A task array, written by hand, whose kwargs hold the tuple extension ``depth`` deep
    (as :func:`nested_tuples` builds it: each level decodes, one decode deeper, to ``()``)."""
    return msgpack.packb([{"t": msgpack.ExtType(1, nested_tuples(depth - 1))}, None, 1.0, 0])


@contextmanager
def traced_peak() -> Iterator[list[int]]:
    """Yields a list that holds, after the block, the peak traced allocation in bytes."""
    peak: list[int] = []
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


# Tuple depth ----------------------------------------------------------------


def test_the_depth_bound_is_32() -> None:
    assert MAX_TUPLE_DEPTH == DEEPEST


def test_tuples_nested_exactly_to_the_bound_round_trip() -> None:
    encoder = TaskEncoder()
    value = {"t": nest(DEEPEST)}
    assert encoder.decode(encoder.encode(value)) == value
    payload = encoder.encode_task(Task(kwargs=value))
    tasks = batch_outcomes(encoder, [payload, payload])
    assert [t.kwargs if isinstance(t, Task) else t for t in tasks] == [value, value]


def test_one_level_more_is_refused_when_encoding_with_the_reason() -> None:
    with pytest.raises(EncodeError, match=TOO_DEEP):
        TaskEncoder().encode({"t": nest(DEEPEST + 1)})


@pytest.mark.parametrize("depth", [DEEPEST, DEEPEST + 1])
def test_the_decoding_bound_is_exact_alone_and_in_a_batch(depth: int) -> None:
    encoder = TaskEncoder()
    payload = raw_task_holding(depth)
    good = encoder.encode_task(Task(kwargs={"n": 1}))
    alone = outcome(encoder, payload)
    in_batch = batch_outcomes(encoder, [good, payload, good])
    if depth <= DEEPEST:
        assert isinstance(alone, Task)
        assert alone.kwargs == {"t": ()}
    else:
        assert alone == f"refused: cannot decode {len(payload)} bytes with serializer" + (
            f" 'msgpack' and compressor None: ValueError: {TOO_DEEP}"
        )
    assert in_batch[1] == alone
    assert [t.kwargs for t in (in_batch[0], in_batch[2]) if isinstance(t, Task)] == [{"n": 1}] * 2


def test_the_bare_extension_is_bounded_too() -> None:
    encoder = TaskEncoder()
    assert encoder.decode(nested_tuples(DEEPEST)) == ()
    with pytest.raises(TaskDecodeError, match=TOO_DEEP):
        encoder.decode(nested_tuples(DEEPEST + 1))


#: Run in a child process: before the bound, these overflowed the C stack (SIGSEGV).
DEEP_CHILD = textwrap.dedent(
    """
    import json, sys, threading
    from sergeant.encoder import TaskEncoder
    from sergeant.errors import TaskDecodeError
    from sergeant.task import Task
    from sergeant_test_support.hostile import nested_tuples

    encoder = TaskEncoder()
    good = encoder.encode_task(Task(kwargs={"n": 1}))
    reasons = {}

    def decode_all():
        for depth in (200, 1000, 10_000):
            poison = nested_tuples(depth)
            try:
                encoder.decode_task(poison)
                reasons[depth] = "decoded"
            except TaskDecodeError as exc:
                reasons[depth] = str(exc)
            batch = encoder.decode_tasks([good, poison, good, poison])
            reasons[f"{depth} batch"] = [t is not None for t in batch]

    decode_all()
    thread = threading.Thread(target=decode_all)  # a thread's stack, not only the main one
    thread.start()
    thread.join()
    print(json.dumps(reasons))
    """
)


def test_deep_nesting_never_crashes_the_decoding_process() -> None:
    child = subprocess.run(
        [sys.executable, "-c", DEEP_CHILD], capture_output=True, text=True, timeout=120
    )
    assert child.returncode == 0, f"decoder process ended with {child.returncode}: {child.stderr}"
    reasons = json.loads(child.stdout)
    for depth in (200, 1000, 10_000):
        assert TOO_DEEP in reasons[str(depth)], reasons
        assert reasons[f"{depth} batch"] == [True, False, False, False], reasons


# Size and decompression bounds ---------------------------------------------


def test_the_default_limit_is_64_mib_everywhere() -> None:
    assert 64 * MiB == DEFAULT_MAX_PAYLOAD_BYTES
    assert TaskEncoder().max_payload_bytes == DEFAULT_MAX_PAYLOAD_BYTES
    config = WorkerConfig(name="q", connector=Connector(type="local", params={}))
    assert config.max_payload_bytes == DEFAULT_MAX_PAYLOAD_BYTES


@pytest.mark.parametrize(("serializer", "compressor"), ENCODINGS)
def test_a_payload_exactly_at_the_limit_decodes_one_byte_more_is_refused(
    serializer: str, compressor: str | None
) -> None:
    value = {"blob": "x" * 5000}
    size = len(TaskEncoder(serializer).encode(value))  # the serialized size
    payload = TaskEncoder(serializer, compressor).encode(value)
    bound = size if compressor else len(payload)
    assert TaskEncoder(serializer, compressor, max_payload_bytes=bound).decode(payload) == value
    with pytest.raises(TaskDecodeError) as refused:
        TaskEncoder(serializer, compressor, max_payload_bytes=bound - 1).decode(payload)
    reason = str(refused.value)
    if compressor:
        assert f"{OVER_LIMIT}={bound - 1} (a decompression bomb?" in reason
    else:
        assert f"payload of {bound} bytes is over max_payload_bytes={bound - 1}" in reason


def test_a_batch_over_the_limit_is_decoded_payload_by_payload() -> None:
    encoder = TaskEncoder()
    payloads = [encoder.encode_task(Task(kwargs={"n": n, "pad": "x" * 100})) for n in range(3)]
    small = TaskEncoder(max_payload_bytes=max(map(len, payloads)))
    assert sum(map(len, payloads)) > small.max_payload_bytes
    assert small.decode_tasks(payloads) == [None, None, None]
    decoded = batch_outcomes(small, [*payloads, b"\x00" * (small.max_payload_bytes + 1)])
    assert [t.kwargs["n"] for t in decoded[:3] if isinstance(t, Task)] == [0, 1, 2]
    assert "is over max_payload_bytes" in str(decoded[3])


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    """64 MiB of zeros per compressor: far more than the 1 MiB limit the tests set."""
    return {name: zeros_bomb(name, 64 * MiB) for name in COMPRESSORS}


@pytest.mark.parametrize("compressor", list(COMPRESSORS))
def test_each_compressors_bomb_is_refused_without_expanding_it(
    compressor: str, bombs: dict[str, bytes]
) -> None:
    bomb = bombs[compressor]
    encoder = TaskEncoder(compressor=compressor, max_payload_bytes=MiB)
    with traced_peak() as peak, pytest.raises(TaskDecodeError) as refused:
        encoder.decode_task(bomb)
    assert f"payload of {len(bomb)} bytes with compressor {compressor!r}" in str(refused.value)
    assert f"{OVER_LIMIT}={MiB}" in str(refused.value)
    # At most the limit's output (twice while it is joined) and the codec's state
    # (lzma's dictionary: 8 MiB): nowhere near the 64 MiB the bomb expands to.
    assert peak[0] < 16 * MiB, f"{peak[0] / MiB:.0f} MiB traced while refusing a bomb"


@pytest.mark.parametrize("compressor", sorted(DECOMPRESSORS))
def test_a_limit_as_large_as_python_allows_means_no_limit(compressor: str) -> None:
    """``sys.maxsize`` ("no limit") overflowed the C size gzip, bzip2 and lzma
    take, and every compressed task went to the dead-letter queue."""
    encoder = TaskEncoder(compressor=compressor, max_payload_bytes=sys.maxsize)
    task = Task(kwargs={"n": 1})
    assert encoder.decode_task(encoder.encode_task(task)).kwargs == {"n": 1}


@pytest.mark.parametrize("compressor", ["gzip", "bzip2", "lzma"])
def test_concatenated_streams_count_towards_one_limit(compressor: str) -> None:
    member = zeros_bomb(compressor, MiB)
    assert DECOMPRESSORS[compressor](member * 4, 4 * MiB) == bytes(4 * MiB)
    with pytest.raises(OverLimitError):
        DECOMPRESSORS[compressor](member * 5, 4 * MiB)
    encoder = TaskEncoder(compressor=compressor, max_payload_bytes=4 * MiB)
    with pytest.raises(TaskDecodeError, match=f"{OVER_LIMIT}={4 * MiB}"):
        encoder.decode(member * 5)


def test_the_bzip2_bomb_is_refused_at_the_default_limit() -> None:
    assert len(BZIP2_BOMB) == 785
    assert bz2.BZ2Decompressor().decompress(BZIP2_BOMB, 1) == b"\x00"
    encoder = TaskEncoder(compressor="bzip2")
    with traced_peak() as peak, pytest.raises(TaskDecodeError, match=f"{OVER_LIMIT}=67108864"):
        encoder.decode_task(BZIP2_BOMB)
    assert peak[0] < 3 * DEFAULT_MAX_PAYLOAD_BYTES < GIB // 4, f"{peak[0] / MiB:.0f} MiB"


def test_an_lzma_header_asking_for_a_4_gib_dictionary_is_refused() -> None:
    payload = TaskEncoder().encode_task(Task(kwargs={"n": 1}))
    alone = lzma.compress(payload, format=lzma.FORMAT_ALONE)
    encoder = TaskEncoder(compressor="lzma")
    assert encoder.decode_task(alone).kwargs == {"n": 1}
    hungry = alone[:1] + struct.pack("<I", 0xFFFFFFFF) + alone[5:]  # the dictionary size
    with pytest.raises(TaskDecodeError, match="Memory usage limit"):
        encoder.decode_task(hungry)


@pytest.mark.parametrize(
    "module",
    [
        legacy_compressor.zlib,
        legacy_compressor.gzip,
        legacy_compressor.bzip2,
        legacy_compressor.lzma,
    ],
)
def test_sergeants_compressor_classes_are_bounded_too(
    module: Any, bombs: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    compressor = module.Compressor()
    assert compressor.decompress(compressor.compress(b"abc" * 1000)) == b"abc" * 1000
    # the limit as read by the module that defines Sergeant's Compressor.decompress
    defining = sys.modules[legacy_compressor.Compressor.__module__]
    monkeypatch.setattr(defining, "DEFAULT_MAX_PAYLOAD_BYTES", MiB)
    with traced_peak() as peak, pytest.raises(TaskDecodeError) as refused:
        compressor.decompress(bombs[compressor.name])
    assert f"OverLimitError: decompresses to more than {MiB} bytes" in str(refused.value)
    assert peak[0] < 16 * MiB, f"{peak[0] / MiB:.0f} MiB traced while refusing a bomb"


def test_sergeants_bzip2_compressor_and_encoder_refuse_the_real_bomb() -> None:
    over = f"decompresses to more than {DEFAULT_MAX_PAYLOAD_BYTES} bytes"
    with traced_peak() as peak, pytest.raises(TaskDecodeError, match=over):
        legacy_compressor.bzip2.Compressor().decompress(BZIP2_BOMB)
    assert peak[0] < 3 * DEFAULT_MAX_PAYLOAD_BYTES, f"{peak[0] / MiB:.0f} MiB"
    with pytest.raises(TaskDecodeError, match=over):
        LegacyEncoder("bzip2").decode(BZIP2_BOMB)


# Any bytes --------------------------------------------------------------------

#: msgpack headers that declare far more than follows (4 GiB, 4 billion items...).
HUGE_DECLARED = {
    "bin32": b"\xc6\xff\xff\xff\xff" + b"x" * 10,
    "str32": b"\xdb\xff\xff\xff\xff" + b"x" * 10,
    "array32": b"\xdd\xff\xff\xff\xff" + b"\xc0" * 10,
    "map32": b"\xdf\xff\xff\xff\xff" + b"\xc0" * 10,
    "ext32 tuple": b"\xc9\xff\xff\xff\xff\x01" + b"\x90" * 10,
    "ext32 datetime": b"\xc9\xff\xff\xff\xff\x02" + b"\x00" * 10,
    "kwargs holding a bin32": b"\x94\x81\xa1k\xc6\xff\xff\xff\xff\xc0\xcb" + bytes(8) + b"\x00",
    "array16 of huge strings": b"\xdc\xff\xff" + b"\xdb\xff\xff\xff\xff" * 4,
}

#: Values that decode but are no task, some once reaching past TaskDecodeError.
ODD_TASKS = {
    "run_count infinity": msgpack.packb([{}, None, 1.0, float("inf")]),
    "run_count nan": msgpack.packb({"kwargs": {}, "run_count": float("nan")}),
    "date a string": msgpack.packb([{}, None, "x", 0]),
    "kwargs a list": msgpack.packb([[], None, 1.0, 0]),
    "sergeant map without kwargs": msgpack.packb({"__task__": {"date": 1.0}}),
    "sergeant map with run_count infinity": msgpack.packb(
        {"__task__": {"kwargs": {}, "run_count": float("inf")}}
    ),
    "deep plain arrays": b"\x91" * 100_000,
    "sergeant map with deep arrays": msgpack.packb({"__task__": {"kwargs": {}}})[:-1]
    + b"\x81\xa1x"
    + b"\x91" * 1000
    + b"\xc0",
}

JSON_ODD_TASKS = {
    "date an integer too big for a float": b'{"kwargs":{},"date":1' + b"0" * 400 + b"}",
    "run_count 1e999": b'{"kwargs":{},"run_count":1e999}',
    "run_count NaN": b'{"kwargs":{},"run_count":NaN}',
    "deep arrays": b"[" * 100_000 + b"]" * 100_000,
    "integer of 5000 digits": b'{"kwargs":{"n":' + b"9" * 5000 + b"}}",
}


@pytest.mark.parametrize("name", list(HUGE_DECLARED))
def test_huge_declared_lengths_are_refused_without_allocating_them(name: str) -> None:
    encoder = TaskEncoder()
    payload = HUGE_DECLARED[name]
    with traced_peak() as peak:
        result = outcome(encoder, payload)
        in_batch = batch_outcomes(encoder, [payload, payload])
    assert refused_with_a_reason(result), result
    assert in_batch == [result, result]
    assert peak[0] < MiB, f"{peak[0] / MiB:.1f} MiB traced for a {len(payload)}-byte payload"


@pytest.mark.parametrize("name", list(ODD_TASKS))
def test_odd_msgpack_values_are_refused_with_a_reason(name: str) -> None:
    encoder = TaskEncoder()
    good = encoder.encode_task(Task(kwargs={"n": 1}))
    payload = ODD_TASKS[name]
    result = outcome(encoder, payload)
    assert refused_with_a_reason(result), result
    assert batch_outcomes(encoder, [good, payload, good])[1] == result


@pytest.mark.parametrize("name", list(JSON_ODD_TASKS))
def test_odd_json_values_are_refused_with_a_reason(name: str) -> None:
    result = outcome(TaskEncoder("json"), JSON_ODD_TASKS[name])
    assert refused_with_a_reason(result), result


@pytest.mark.parametrize(("serializer", "compressor"), ENCODINGS)
def test_every_truncation_of_a_task_is_refused(serializer: str, compressor: str | None) -> None:
    encoder = TaskEncoder(serializer, compressor)
    kwargs = {"n": 7, "text": "hostile", "items": list(range(20))}
    if serializer == "msgpack":
        kwargs["pair"] = (1, (2, "x"))
    payload = encoder.encode_task(Task(kwargs=kwargs, trace_id="trace"))
    assert outcome(encoder, payload) == encoder.decode_task(payload)
    for end in range(len(payload)):
        result = outcome(encoder, payload[:end])
        assert refused_with_a_reason(result), (end, result)


def random_payloads(rng: random.Random, valid: list[bytes], count: int) -> Iterator[bytes]:
    """Random bytes, then valid payloads with bytes flipped, cut or spliced."""
    for _ in range(count):
        yield rng.randbytes(rng.randint(0, 80))
    for _ in range(count):
        mutated = bytearray(rng.choice(valid))
        for _ in range(rng.randint(1, 4)):
            where = rng.randrange(len(mutated))
            choice = rng.random()
            if choice < 0.6:
                mutated[where] = rng.getrandbits(8)
            elif choice < 0.8:
                del mutated[where:]
                mutated += rng.randbytes(rng.randint(0, 8))
            else:
                mutated[where:where] = rng.choice(list(HUGE_DECLARED.values()))[:6]
            if not mutated:
                break
        yield bytes(mutated)


@pytest.mark.parametrize(("serializer", "compressor"), ENCODINGS)
def test_random_and_mutated_bytes_only_ever_give_a_task_or_a_reason(
    serializer: str, compressor: str | None
) -> None:
    rng = random.Random(f"hostile-{serializer}-{compressor}")
    encoder = TaskEncoder(serializer, compressor)
    valid = [
        encoder.encode_task(Task(kwargs={"n": n, "s": "é" * n, "f": n / 3}, trace_id=str(n)))
        for n in range(8)
    ]
    payloads = list(random_payloads(rng, valid, 400))
    refused = 0
    for start in range(0, len(payloads), 10):
        batch = payloads[start : start + 10]
        decoded = batch_outcomes(encoder, batch)
        # repr: a task may carry a NaN date, which equals nothing, itself included
        assert list(map(repr, decoded)) == [repr(outcome(encoder, p)) for p in batch]
        refused += sum(isinstance(result, str) for result in decoded)
    assert refused > len(payloads) // 2  # the mutations did reach the decoder


# The limit's validation -----------------------------------------------------

BAD_LIMITS = [0, -1, True, False, 1.5, "64", None, 2.0**30]


@pytest.mark.parametrize("bad", BAD_LIMITS, ids=repr)
def test_a_bad_limit_for_the_encoder_is_a_config_error_naming_the_field(bad: Any) -> None:
    with pytest.raises(ConfigError) as refused:
        TaskEncoder(max_payload_bytes=bad)
    assert refused.value.field == "max_payload_bytes"
    assert f"invalid max_payload_bytes: {bad!r}" in str(refused.value)


@pytest.mark.parametrize("bad", BAD_LIMITS, ids=repr)
def test_a_bad_limit_for_the_worker_is_a_config_error_naming_the_field(bad: Any) -> None:
    connector = Connector(type="local", params={})
    with pytest.raises(ConfigError) as refused:
        WorkerConfig(name="q", connector=connector, max_payload_bytes=bad)
    assert refused.value.field == "WorkerConfig.max_payload_bytes"
    assert WorkerConfig(name="q", connector=connector, max_payload_bytes=1).max_payload_bytes == 1


CODECS: dict[str, Callable[[bytes], bytes]] = {
    "zlib": zlib.compress,
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "lzma": lzma.compress,
}


@pytest.mark.parametrize("compressor", list(CODECS))
def test_bounded_decompression_reads_what_the_standard_library_writes(compressor: str) -> None:
    encoder = TaskEncoder(compressor=compressor)
    payload = TaskEncoder().encode_task(Task(kwargs={"n": 3, "text": "z" * 10_000}))
    assert encoder.decode_task(CODECS[compressor](payload)).kwargs == {"n": 3, "text": "z" * 10_000}
