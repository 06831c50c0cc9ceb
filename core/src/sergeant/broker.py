"""The broker: tasks in and out of one connector, encoded with one encoder.

Besides Sergeant's push, pop, retry, requeue, keys and locks, the broker offers
the reliable path the worker uses by default (reserve, ack, release, extend) and
each queue's dead-letter queue, ``<queue>:dead``, where tasks that cannot be
decoded or kept killing their workers end up with the reason.
"""

from __future__ import annotations

import datetime
import itertools
import operator
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs
import msgpack

from sergeant.connector import PEEK, Connector, Delivery, Lock, NodeStats, Priority
from sergeant.encoder import TaskEncoder
from sergeant.encoder.encoder import Encoder as SergeantEncoder
from sergeant.errors import TaskDecodeError
from sergeant.task import Task

_item_of = operator.itemgetter(0)

__all__ = ["Broker", "DeadLetter", "Reserved", "dead_queue_name"]


def dead_queue_name(queue_name: str) -> str:
    """The dead-letter queue of ``queue_name``."""
    return f"{queue_name}:dead"


@attrs.define(slots=True)
class Reserved:
    """A task handed out under a lease.

    :ivar task: the decoded task, or None when the payload could not be decoded.
    :ivar payload: the stored bytes, kept to dead-letter or put back unchanged.
    :ivar receipt: for ack, release and extend; None for a destructive pop.
    :ivar deliveries: how many times the payload has been handed out.
    :ivar error: why decoding failed, when it did.
    :ivar put_back: settle by releasing instead of acking (a retry or requeue could
        not be stored, so the task must not be lost).
    """

    task: Task | None
    payload: bytes
    receipt: str | None
    deliveries: int
    error: str | None = None
    put_back: bool = False


@attrs.frozen
class DeadLetter:
    """An entry of a dead-letter queue: the original payload and why it is there."""

    queue: str
    reason: str
    payload: bytes
    deliveries: int
    date: float

    def encode(self) -> bytes:
        """Always msgpack, whatever the task encoder, so any tool can read it."""
        return msgpack.packb(  # type: ignore[no-any-return]
            {
                "queue": self.queue,
                "reason": self.reason,
                "payload": self.payload,
                "deliveries": self.deliveries,
                "date": self.date,
            },
            use_bin_type=True,
        )

    @classmethod
    def decode(cls, data: bytes, queue: str) -> DeadLetter:
        """Read an entry; bytes that are not one are shown as such rather than lost."""
        try:
            value = msgpack.unpackb(data, raw=False)
            date = float(value["date"])
            datetime.datetime.fromtimestamp(date, datetime.UTC)  # NaN, 1e300: not a date
            payload, deliveries = value["payload"], value["deliveries"]
            # bytes(10**8) would be 100 MB of zeros
            if not isinstance(payload, bytes) or type(deliveries) is not int:
                raise TypeError("not an entry's payload and delivery count")
            return cls(
                queue=str(value["queue"]),
                reason=str(value["reason"]),
                payload=payload,
                deliveries=deliveries,
                date=date,
            )
        except Exception:
            return cls(queue, "not a dead-letter entry", data, 0, 0.0)


class Broker:
    """Push, hand out and settle tasks of named queues on one connector.

    :param connector: a live connector (see :func:`sergeant.connect`).
    :param encoder: how tasks become bytes; default msgpack without compression.
        Sergeant's ``sergeant.encoder.encoder.Encoder(...)`` is taken too (its
        :attr:`~sergeant.encoder.encoder.Encoder.task_encoder` is used).
    """

    def __init__(
        self, connector: Connector, encoder: TaskEncoder | SergeantEncoder | None = None
    ) -> None:
        if isinstance(encoder, SergeantEncoder):
            encoder = encoder.task_encoder
        self.connector = connector
        self.encoder = encoder or TaskEncoder()

    # Producing ---------------------------------------------------------

    def push_task(
        self,
        task_name: str,
        task: Task,
        priority: Priority = "NORMAL",
        consumable_from: float | None = None,
    ) -> bool:
        """Push one task; ``consumable_from`` (epoch seconds) delays it."""
        return self.connector.queue_push(
            task_name, self.encoder.encode_task(task), priority, consumable_from
        )

    def push_tasks(
        self,
        task_name: str,
        tasks: Iterable[Task],
        priority: Priority = "NORMAL",
        consumable_from: float | None = None,
    ) -> bool:
        """Push many tasks in one call."""
        encode = self.encoder.encode_task
        items = [encode(task) for task in tasks]
        if not items:
            return True
        return self.connector.queue_push_bulk(task_name, items, priority, consumable_from)

    def retry(
        self,
        task_name: str,
        task: Task,
        priority: Priority = "NORMAL",
        consumable_from: float | None = None,
    ) -> bool:
        """Push ``task`` again with ``run_count`` one higher."""
        task.run_count += 1
        try:  # keywords, as Sergeant calls it: users' mocks read call_args
            return self.push_task(
                task_name=task_name, task=task, priority=priority, consumable_from=consumable_from
            )
        except BaseException:
            task.run_count -= 1
            raise

    def requeue(
        self,
        task_name: str,
        task: Task,
        priority: Priority = "NORMAL",
        consumable_from: float | None = None,
    ) -> bool:
        """Push ``task`` again unchanged."""
        return self.push_task(
            task_name=task_name, task=task, priority=priority, consumable_from=consumable_from
        )

    # Consuming ---------------------------------------------------------

    def _decode(self, payload: bytes, receipt: str | None, deliveries: int) -> Reserved:
        try:
            return Reserved(self.encoder.decode_task(payload), payload, receipt, deliveries)
        except TaskDecodeError as exc:
            return Reserved(None, payload, receipt, deliveries, str(exc))
        except Exception as exc:  # any bytes at all must end as a dead letter, never a crash
            reason = f"cannot decode the payload: {type(exc).__name__}: {exc}"
            return Reserved(None, payload, receipt, deliveries, reason)

    def pop(self, task_name: str, number_of_tasks: int) -> list[Reserved]:
        """Remove up to ``number_of_tasks`` for good (at-most-once), decoded where possible."""
        return self.decode_batch(self.pop_payloads(task_name, number_of_tasks))

    def pop_payloads(self, task_name: str, number_of_tasks: int) -> list[tuple[bytes, None, int]]:
        """:meth:`pop` before decoding: ``(payload, None, 1)`` per task removed."""
        if number_of_tasks == 1:
            item = self.connector.queue_pop(task_name)
            return [] if item is None else [(item, None, 1)]
        items = self.connector.queue_pop_bulk(task_name, number_of_tasks)
        return list(zip(items, itertools.repeat(None), itertools.repeat(1)))

    def pop_tasks(self, task_name: str, number_of_tasks: int) -> list[Task]:
        """Sergeant's destructive pop; payloads that cannot be decoded are dead-lettered."""
        tasks = []
        for reserved in self.pop(task_name, number_of_tasks):
            if reserved.task is None:
                self.dead_letter(task_name, reserved.payload, reserved.error or "", 1)
            else:
                tasks.append(reserved.task)
        return tasks

    def reserve(self, task_name: str, number_of_tasks: int, lease_seconds: float) -> list[Reserved]:
        """Hand out up to ``number_of_tasks`` under a lease (at-least-once)."""
        return self.decode_batch(
            self.connector.queue_reserve(task_name, number_of_tasks, lease_seconds)
        )

    def ack_and_reserve(
        self,
        task_name: str,
        receipts: Sequence[str],
        number_of_tasks: int,
        lease_seconds: float,
    ) -> list[Reserved]:
        """Settle ``receipts`` for good and hand out the next tasks, in one round
        trip where the connector can (the worker's hot path)."""
        _, deliveries = self.connector.queue_ack_and_reserve(
            task_name, receipts, number_of_tasks, lease_seconds
        )
        return self.decode_batch(deliveries)

    def ack_and_reserve_begin(
        self,
        task_name: str,
        receipts: Sequence[str],
        number_of_tasks: int,
        lease_seconds: float,
    ) -> Callable[[], list[Delivery]]:
        """Start :meth:`ack_and_reserve`; the returned function finishes it and
        returns the deliveries, to :meth:`decode_batch` (the worker's prefetch:
        the round trip overlaps with the current batch)."""
        finish = self.connector.queue_ack_and_reserve_begin(
            task_name, receipts, number_of_tasks, lease_seconds
        )
        return lambda: finish()[1]

    def decode_batch(self, deliveries: Sequence[tuple[bytes, str | None, int]]) -> list[Reserved]:
        """Decode a batch (payload, receipt or None, deliveries): tasks, or the reason not."""
        tasks = self.encoder.decode_tasks(list(map(_item_of, deliveries)))
        reserved: list[Reserved] = []
        append = reserved.append
        for (item, receipt, count), task in zip(deliveries, tasks, strict=True):
            if task is not None:
                append(Reserved(task, item, receipt, count))
            else:  # decode_task tells why, or takes the slow path
                append(self._decode(item, receipt, count))
        return reserved

    def ack(self, task_name: str, receipts: Sequence[str]) -> int:
        """Settle reserved tasks for good; returns how many receipts were still valid."""
        return self.connector.queue_ack(task_name, receipts) if receipts else 0

    def release(
        self, task_name: str, receipts: Sequence[str], consumable_from: float | None = None
    ) -> int:
        """Put reserved tasks back unchanged (they were not run)."""
        return self.connector.queue_release(task_name, receipts, consumable_from) if receipts else 0

    def extend(self, task_name: str, receipts: Sequence[str], lease_seconds: float) -> int:
        """Renew the leases of reserved tasks still being worked."""
        return self.connector.queue_extend(task_name, receipts, lease_seconds) if receipts else 0

    # Dead letters ------------------------------------------------------

    def dead_letter(self, task_name: str, payload: bytes, reason: str, deliveries: int) -> bool:
        """Store ``payload`` in the dead-letter queue of ``task_name`` with ``reason``."""
        entry = DeadLetter(task_name, reason, payload, deliveries, time.time())
        return self.connector.queue_push(dead_queue_name(task_name), entry.encode())

    def dead_letters(self, task_name: str, limit: int = 100) -> list[DeadLetter]:
        """Look at up to ``limit`` dead letters without removing them.

        On a connector that declares ``'peek'`` they are read in place, delivery
        counts untouched; on others they are reserved and released at once.
        """
        dead = dead_queue_name(task_name)
        if PEEK in self.connector.capabilities:
            items = self.connector.queue_peek(dead, limit)
        else:
            deliveries = self.connector.queue_reserve(dead, limit, 30.0)
            self.connector.queue_release(dead, [d.receipt for d in deliveries])
            items = [d.item for d in deliveries]
        return [DeadLetter.decode(item, task_name) for item in items]

    def requeue_dead(self, task_name: str, limit: int | None = None) -> int:
        """Move dead letters back onto their queue, original payload unchanged."""
        dead = dead_queue_name(task_name)
        if limit is None:  # what is there now: entries dead-lettered meanwhile wait
            limit = self.connector.queue_length(dead, include_delayed=True)
        moved = 0
        while moved < limit:
            batch = min(500, limit - moved)
            deliveries = self.connector.queue_reserve(dead, batch, 60.0)
            if not deliveries:
                break
            entries = [DeadLetter.decode(d.item, task_name) for d in deliveries]
            self.connector.queue_push_bulk(task_name, [e.payload for e in entries])
            self.connector.queue_ack(dead, [d.receipt for d in deliveries])
            moved += len(deliveries)
        return moved

    def purge_dead(self, task_name: str) -> bool:
        """Delete the dead-letter queue of ``task_name``."""
        return self.connector.queue_delete(dead_queue_name(task_name))

    # Inspection --------------------------------------------------------

    def purge_tasks(self, task_name: str) -> bool:
        """Delete every task of the queue, reserved ones included."""
        return self.connector.queue_delete(task_name)

    def number_of_enqueued_tasks(self, task_name: str, include_delayed: bool = False) -> int:
        """Tasks waiting in the queue (delayed ones too with ``include_delayed``)."""
        return self.connector.queue_length(task_name, include_delayed)

    def stats(self, task_name: str) -> list[NodeStats]:
        """Per-node ready, delayed and in-flight counts."""
        return self.connector.queue_stats(task_name)

    # Keys and locks ----------------------------------------------------

    def set_key(self, name: str, value: Any) -> bool:
        """Store an encoded value under ``name``, overwriting; True when the key was new."""
        return self.connector.key_set(name, self.encoder.encode(value))

    def get_key(self, name: str) -> Any:
        """The decoded value under ``name``, or None."""
        value = self.connector.key_get(name)
        return None if value is None else self.encoder.decode(value)

    def delete_key(self, name: str) -> bool:
        """Remove ``name``; True if it existed."""
        return self.connector.key_delete(name)

    def lock(self, name: str) -> Lock:
        """A lock shared by every worker on the same storage."""
        return self.connector.lock(name)
