"""The work loop: fetch tasks, run them (serially or on threads), settle them.

At-least-once (default): reserve up to ``tasks_per_transaction`` under a lease,
run each, and ack it once its handlers have run. Where the connector declares
``'ack_and_reserve'``, the acks of a batch travel with the reserve of the
next one (one round trip per batch); otherwise acks are grouped (one call per
batch, or per 100 tasks when batches are smaller). Either way no finished task
waits more than 0.2 s for its ack, and its lease is renewed meanwhile. A crash
can thus re-run the few tasks finished since, which at-least-once allows. Tasks not started
when the worker stops are released unchanged. At-most-once: Sergeant's
destructive pop; tasks popped but not started are pushed back with HIGH priority.

Prefetch (at-least-once, one thread, a connector that declares
``'prefetch'`` or ``'ack_and_reserve'``): while batches run in under
``prefetch_under`` seconds, the next reserve is started before a batch is
decoded and run, and finished after it, so the storage's round trip and work
overlap with the worker's (with ``'prefetch'``; otherwise the call is made at
once, only for batches of 8 tasks or fewer, for the sharing below). That one
call asks for up to ``_depth`` batches, run one by one (one more while the
worker still waits on the storage: up to 2; up to 8 while they hold 16 tasks or
fewer; never more than run in 50 ms at the last batch's pace), so small quick
batches share a round trip and the storage's fixed cost per call; it carries
the acks of the tasks run since the call before it went out: a whole earlier
call's, the cheapest acks. The worker thus holds at most two calls' worth: one
read and one on its way. Prefetched batches go back unchanged when the worker
stops, and when they waited past half their lease.

Tasks handed out before (``deliveries`` > 1: a worker may have died running
them) run one at a time, each settled before the next, the new tasks of their
batch first and those that were running when a worker died last (see
:mod:`sergeant.executor._isolate`), so a task that kills its process is
dead-lettered alone.
"""

from __future__ import annotations

import collections
import concurrent.futures
import gc
import operator
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from sergeant._status import STATUS_ENV, StatusFile
from sergeant.broker import Reserved
from sergeant.connector import ACK_AND_RESERVE, PREFETCH, Batch, Receipts
from sergeant.errors import SergeantError, StorageGoneError
from sergeant.executor._isolate import RunningMarks
from sergeant.killer._watchdog import Watchdog
from sergeant.worker._exceptions import (
    WorkerInterrupt,
    WorkerMaxRetries,
    WorkerRequeue,
    WorkerRetry,
    WorkerStop,
    WorkerTimedout,
)
from sergeant.worker._lease import LeaseKeeper

if TYPE_CHECKING:
    from sergeant.task import Task
    from sergeant.worker._worker import Worker

__all__ = ["Runner"]

#: Finished tasks are acked at least this often (seconds).
_ACK_EVERY = 0.2
#: Without a combined ack-and-reserve call, acks of small batches are grouped up
#: to this many per call (never more than _ACK_EVERY late).
_ACK_GROUP = 100
_PUBLISH_EVERY = 0.1
_IDLE_SLEEP_MIN = 0.05
_IDLE_SLEEP_MAX = 1.0
_NO_BATCH_YET = float("inf")
_MAX_AHEAD = 8
_SMALL_AHEAD = 16
#: A call made ahead asks for more than one batch only while they would run in
#: under this many seconds together, at the last batch's pace.
_AHEAD_WORK = 0.05
_receipt_of = operator.itemgetter(1)
_deliveries_of = operator.itemgetter(2)
#: What ``work`` may raise and the worker handles (anything else propagates).
_HANDLED = (
    Exception,
    WorkerTimedout,
    WorkerRetry,
    WorkerMaxRetries,
    WorkerRequeue,
    WorkerInterrupt,
)
#: A fetched batch before decoding: (payload, receipt or None, deliveries) per task.
Fetched = Sequence[tuple[bytes, str | None, int]]


class Runner:
    """Runs one worker's loop until its task budget, a stop signal or an action ends it."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        config = worker.config
        self.queue = config.name
        self.reliable = config.delivery == "at_least_once"
        self.counters = worker.counters
        self.interrupt: WorkerInterrupt | None = None
        #: What a task thread raised past every handler (``sys.exit()``, ``KeyboardInterrupt``):
        #: re-raised on the main thread, so it ends the process as it would on one thread.
        self.escaped: BaseException | None = None
        self._acks: list[str] = []
        # The receipts of the last batches fetched, to ack a whole one by its handle.
        self._recent: collections.deque[Receipts] = collections.deque(maxlen=3)
        self._acks_guard = threading.Lock()
        self._last_flush = time.monotonic()
        self._kill_after = 0.0
        self._last_publish = 0.0
        self._threaded = config.number_of_threads > 1
        # Acks ride with the next reserve when the backend does both in one round
        # trip; otherwise they are grouped, which saves the same round trips.
        capabilities = worker.broker.connector.capabilities
        self._combined = ACK_AND_RESERVE in capabilities
        self._ack_batch = max(config.tasks_per_transaction, _ACK_GROUP)
        # Hooks left as the base class has them do nothing: the hot path skips them.
        self._pre_work = worker.pre_work if worker._overrides_hook("pre_work") else None
        self._post_work = worker.post_work if worker._overrides_hook("post_work") else None
        self._count_success_only = not (
            self._threaded
            or config.logging.events.on_success
            or worker._overrides_hook("on_success")
            or worker._overrides_hook("handle_success")
        )
        self._plain = not (
            self._threaded
            or self._pre_work
            or self._post_work
            or not self._count_success_only
            or config.timeouts.timeout > 0
        )
        status_path = os.environ.get(STATUS_ENV)
        self.status = StatusFile(status_path) if status_path else None
        self.lease: LeaseKeeper | None = None
        self.watchdog: Watchdog | None = None
        self.pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._slots = threading.Semaphore(config.number_of_threads)
        # Batches a call made ahead may ask for: up to 2; up to 8 while they
        # hold 16 tasks or fewer. A backend that cannot send a call ahead gains
        # only from small batches sharing a call, so it needs room for two.
        shared = min(_MAX_AHEAD, _SMALL_AHEAD // config.tasks_per_transaction)
        self._max_depth = max(2, shared) if PREFETCH in capabilities else shared
        # Prefetching: serial at-least-once, on a connector that can overlap a
        # reserve with work or ack and reserve in one call, and only after a
        # quick batch.
        prefetching = (
            self.reliable
            and not self._threaded
            and (
                PREFETCH in capabilities
                or (ACK_AND_RESERVE in capabilities and self._max_depth >= 2)
            )
        )
        self._prefetch_under = config.prefetch_under if prefetching else 0.0
        self._batch_seconds = _NO_BATCH_YET
        # The call on its way, if any: finish, the receipts it acks, when it was begun.
        self._ahead: tuple[Callable[[], Fetched], list[str], float] | None = None
        # Batches read from a call made ahead and not run yet, with when it was begun.
        self._ready: collections.deque[tuple[Fetched, float]] = collections.deque()
        # Batches the next call made ahead asks for (up to _max_depth).
        self._depth = 1
        # Time spent starting the call made ahead (all of it when the backend
        # cannot send a call ahead): waiting on the storage too.
        self._begin_seconds = 0.0

    # Lifecycle ------------------------------------------------------------

    def run(self) -> None:
        """Work until done; raises WorkerStop or WorkerRespawn when an action asked for it."""
        config = self.worker.config
        broker = self.worker.broker
        if self.reliable:
            self.lease = LeaseKeeper(broker, self.queue, config.lease_seconds, self.worker.logger)
            self.lease.start()
        if config.timeouts.timeout > 0:
            self.watchdog = Watchdog(
                config.timeouts.timeout,
                config.timeouts.grace_period,
                self.worker.logger,
                self._set_kill_after,
                supervised=self.status is not None,
            )
            self.watchdog.start()
        if config.number_of_threads > 1:
            self.pool = concurrent.futures.ThreadPoolExecutor(
                config.number_of_threads, thread_name_prefix="sergeant-task"
            )
        frozen = _freeze_heap()
        try:
            self._loop()
        finally:
            if frozen:
                gc.unfreeze()
            if self.pool is not None:
                self.pool.shutdown(wait=True)
            self.flush_acks()
            if self.watchdog is not None:
                self.watchdog.close()
            if self.lease is not None:
                self.lease.close()
            self._publish()
            if self.status is not None:
                self.status.close()
        if self.escaped is not None:
            raise self.escaped
        if self.interrupt is not None:
            raise self.interrupt

    def _stopping(self) -> bool:
        return (
            self.interrupt is not None
            or self.escaped is not None
            or self.worker.received_stop_signal
        )

    def _loop(self) -> None:
        try:
            self._loop_batches()
        finally:
            self._drop_prefetched()

    def _loop_batches(self) -> None:
        config = self.worker.config
        tasks_left = config.max_tasks_per_run or None
        idle_sleep = _IDLE_SLEEP_MIN
        idle_since: float | None = None
        next_starvation = float(config.starvation.time_with_no_tasks) if config.starvation else 0.0
        monotonic = time.monotonic
        while not self._stopping():
            wanted = config.tasks_per_transaction
            if tasks_left is not None:
                if tasks_left <= 0:
                    return
                wanted = min(wanted, tasks_left)
            if not self._combined and (
                len(self._acks) >= self._ack_batch or monotonic() - self._last_flush > _ACK_EVERY
            ):
                self.flush_acks()
            asked_at = monotonic()
            try:
                fetched = self._next_batch(wanted)
            except StorageGoneError:
                raise  # retrying cannot help: the process ends, and its replacement connects anew
            except SergeantError as exc:
                self.worker.logger.error("could not fetch tasks: %s", exc)
                time.sleep(_IDLE_SLEEP_MAX)
                continue
            waited = monotonic() - asked_at + self._begin_seconds
            self._begin_seconds = 0.0
            if not fetched:
                self._batch_seconds, self._depth = _NO_BATCH_YET, 1
                self.flush_acks()
                now = monotonic()
                if idle_since is None:
                    idle_since = now
                idle = now - idle_since
                if config.starvation and idle >= next_starvation:
                    next_starvation = idle + 1.0
                    self.worker.handle_starvation(time_with_no_tasks=int(idle))
                    if self._stopping():
                        return
                time.sleep(idle_sleep)
                idle_sleep = min(idle_sleep * 2, _IDLE_SLEEP_MAX)
                continue
            idle_since = None
            idle_sleep = _IDLE_SLEEP_MIN
            if config.starvation:
                next_starvation = float(config.starvation.time_with_no_tasks)
            if tasks_left is not None:
                tasks_left -= len(fetched)
            started = monotonic()
            # Not ahead of tasks handed out before: a worker dying on one of them
            # would hand back the batches it holds too (see _run_redelivered).
            if (
                self._batch_seconds < self._prefetch_under
                and max(map(_deliveries_of, fetched)) == 1
            ):
                # The next call goes out first, so the storage works on it while
                # this batch is decoded and run; it asks for one more batch while
                # the worker still waits on the storage for a noticeable part of a
                # batch's run.
                if waited > self._batch_seconds / 8 and self._depth < self._max_depth:
                    self._depth += 1
                self._prefetch(tasks_left)
            else:
                self._depth = 1
            self._run_batch(self.worker.broker.decode_batch(fetched))
            self._batch_seconds = monotonic() - started

    def _take_acks(self) -> list[str]:
        """The receipts to send with the next reserve (none without a combined call)."""
        if not self._combined:
            return []
        with self._acks_guard:
            receipts, self._acks = self._acks, []
        self._last_flush = time.monotonic()
        return self._whole_batch(receipts)

    def _whole_batch(self, receipts: list[str]) -> list[str]:
        """``receipts`` as the :class:`~sergeant.connector.Receipts` of a recent
        batch when they are exactly its receipts (the usual case: every task of
        the batch went well), so the backend acks it by its handle."""
        for recent in self._recent:
            if receipts == recent:
                return recent
        return receipts

    def _restore_acks(self, receipts: list[str]) -> None:
        """Receipts whose ack failed are not known to be acked: try again later."""
        if receipts:
            with self._acks_guard:
                self._acks[:0] = receipts

    def _next_batch(self, wanted: int) -> Fetched:
        """The oldest batch fetched ahead (read, or still on its way), else
        ``wanted`` fetched now."""
        tpt = self.worker.config.tasks_per_transaction
        while self._ready or self._ahead:
            if self._ready:
                fetched, begun = self._ready.popleft()
            elif self._ahead is not None:
                finish, receipts, begun = self._ahead
                self._ahead = None
                try:
                    got = finish()
                except SergeantError:
                    self._restore_acks(receipts)
                    raise
                fetched = got[:tpt] if len(got) > tpt else got
                for start in range(tpt, len(got), tpt):
                    self._ready.append((got[start : start + tpt], begun))
            waited = time.monotonic() - begun
            if waited < self.worker.config.lease_seconds / 2:
                return fetched
            # The batch before ran long: this one's leases may have run out and its
            # tasks gone to other workers. Hand it back rather than run it twice.
            self.worker.logger.info(
                "handing back %d prefetched tasks: they waited %.1f s, over half their lease",
                len(fetched),
                waited,
            )
            self._release_fetched(fetched)
        receipts = self._take_acks()
        try:
            return self._begin_fetch(wanted, receipts)()
        except SergeantError:
            self._restore_acks(receipts)
            raise

    def _prefetch(self, tasks_left: int | None) -> None:
        """Unless a call is on its way, start one reserving ``_depth`` batches
        (fewer when they would take over ``_AHEAD_WORK`` to run), with the acks
        so far, within the task budget."""
        if self._ahead:
            return
        batches = min(self._depth, max(1, int(_AHEAD_WORK / max(self._batch_seconds, 1e-6))))
        wanted = batches * self.worker.config.tasks_per_transaction
        if tasks_left is not None:
            wanted = min(wanted, tasks_left - sum(len(batch) for batch, _ in self._ready))
        if wanted <= 0:
            return
        receipts = self._take_acks()
        begun = time.monotonic()
        try:
            finish = self._begin_fetch(wanted, receipts)
        except SergeantError as exc:  # the next batch is fetched the usual way
            self._restore_acks(receipts)
            self.worker.logger.error("could not fetch tasks: %s", exc)
            return
        now = time.monotonic()
        self._begin_seconds = now - begun  # all of a call that is made at once
        self._ahead = (finish, receipts, now)

    def _drop_prefetched(self) -> None:
        """Release the prefetched batches the loop will not run (never started)."""
        while self._ready:
            self._release_fetched(self._ready.popleft()[0])
        if self._ahead:
            finish, receipts, _ = self._ahead
            self._ahead = None
            try:
                fetched = finish()
            except SergeantError as exc:
                self._restore_acks(receipts)
                self.worker.logger.error("could not fetch tasks: %s", exc)
                return
            self._release_fetched(fetched)

    def _begin_fetch(self, wanted: int, receipts: list[str]) -> Callable[[], Fetched]:
        """Start popping, or acking ``receipts`` and reserving; the returned function
        finishes it (holding the new leases). The connector may send the request
        now and read the reply only when the function is called."""
        broker = self.worker.broker
        if not self.reliable:
            popped = broker.pop_payloads(self.queue, wanted)
            return lambda: popped
        reply = broker.ack_and_reserve_begin(
            self.queue, receipts, wanted, self.worker.config.lease_seconds
        )
        lease = self.lease
        recent = self._recent

        def finish() -> Fetched:
            fetched = reply()
            held = fetched.receipts() if type(fetched) is Batch else None
            if held is not None:
                recent.append(held)
            if lease is not None:
                if receipts:
                    lease.drop(receipts)
                if fetched:  # a reserve hands out every item with a receipt
                    lease.hold(map(_receipt_of, fetched) if held is None else held)
            return fetched

        return finish

    # Batches --------------------------------------------------------------

    def _run_batch(self, batch: list[Reserved]) -> None:
        if self._plain:
            self._run_plain(batch)
            return
        monotonic = time.monotonic
        for index, item in enumerate(batch):
            if self._stopping():
                self._put_back(batch[index:])
                return
            if self._undeliverable(item):
                continue
            if item.deliveries > 1:
                self._run_redelivered(batch[index:])
                return
            if self.pool is None:
                try:
                    self._execute(item)
                except BaseException:  # it ends the loop: the rest have not started
                    self._put_back(batch[index + 1 :])
                    raise
            else:
                self._slots.acquire()
                if self._stopping():
                    self._slots.release()
                    self._put_back(batch[index:])
                    return
                self.pool.submit(self._execute_on_thread, item)
            if monotonic() - self._last_flush > _ACK_EVERY:
                self.flush_acks()

    def _run_plain(self, batch: list[Reserved]) -> None:
        """:meth:`_run_batch` with :meth:`_execute` and :meth:`_settle` inlined, for
        the usual worker (one thread, no timeout, no pre/post_work, successes
        only counted): the hot path, a few hundred nanoseconds a task."""
        worker = self.worker
        work = worker.work
        current = worker.current
        counters = self.counters
        monotonic = time.monotonic
        clock = time.monotonic  # task times are for rates: durations
        if not counters.first_task_at:
            counters.first_task_at = clock()
        for index, item in enumerate(batch):
            if self.interrupt is not None or worker.received_stop_signal:
                self._put_back(batch[index:])
                return
            task = item.task
            if task is None:
                self._undeliverable(item)
                continue
            if item.deliveries > 1:  # only reserves hand out a task again
                self._run_redelivered(batch[index:])
                return
            current.item = item
            try:
                work(task)
            except _HANDLED as exc:
                try:
                    self._failed(task, exc)  # a retry that is not stored keeps the item
                except BaseException as escaped:
                    _cut_short(item, escaped)
                    self._put_back(batch[index + 1 :])
                    raise
                finally:
                    current.item = None
                    self._settle(item)
            except BaseException as exc:
                current.item = None
                _cut_short(item, exc)
                self._settle(item)
                self._put_back(batch[index + 1 :])
                raise
            else:
                current.item = None
                counters.done += 1
                if item.receipt is not None:  # _settle, for a task that went well
                    self._acks.append(item.receipt)
                counters.processed += 1
                counters.last_task_at = clock()
                if self.status is not None and monotonic() - self._last_publish > _PUBLISH_EVERY:
                    self._publish()
            if monotonic() - self._last_flush > _ACK_EVERY:
                self.flush_acks()

    def _run_redelivered(self, items: list[Reserved]) -> None:
        """Run ``items``, some handed out before: the new ones as usual, then each
        of the others alone, settled before the next, those marked as running
        when a worker died last (see :mod:`sergeant.executor._isolate`).
        Batches prefetched before go back first: were this worker to die, they
        would come back with their ``deliveries`` one higher."""
        self._drop_prefetched()
        fresh = [item for item in items if item.deliveries == 1]
        again = [item for item in items if item.deliveries > 1]
        if fresh:
            try:
                self._run_batch(fresh)
            except BaseException:  # it ends the loop: the rest have not started
                self._put_back(again)
                raise
        self._wait_for_threads()
        self.flush_acks()
        marks = RunningMarks(self.worker.broker.connector, self.queue, self.worker.logger)
        culprits: list[Reserved] = []
        for index, item in enumerate(again):
            if self._stopping():
                self._put_back(again[index:] + culprits)
                return
            if self._undeliverable(item):
                marks.clear(item.payload)
            elif marks.mark(item.payload):
                self._run_alone(item, marks, again[index + 1 :] + culprits)
            else:
                culprits.append(item)
        for index, item in enumerate(culprits):
            if self._stopping():
                self._put_back(culprits[index:])
                return
            self._run_alone(item, marks, culprits[index + 1 :])

    def _run_alone(self, item: Reserved, marks: RunningMarks, rest: list[Reserved]) -> None:
        """Run a marked task on this thread while no other runs, ack it, clear its
        mark; hand back ``rest`` (not started) if what it raises ends the loop."""
        try:
            self._execute(item)
        except BaseException:
            self._put_back(rest)
            raise
        self.flush_acks()
        marks.clear(item.payload)

    def _wait_for_threads(self) -> None:
        """Wait until no task runs on the pool's threads."""
        if self.pool is None:
            return
        threads = self.worker.config.number_of_threads
        for _ in range(threads):
            self._slots.acquire()
        for _ in range(threads):
            self._slots.release()

    def _undeliverable(self, item: Reserved) -> bool:
        """Dead-letter a task that cannot run (undecodable, or delivered too often)."""
        if item.task is None:
            self._dead(item, f"cannot decode the payload: {item.error}")
            return True
        max_deliveries = self.worker.config.max_deliveries
        if self.reliable and item.deliveries > max_deliveries:
            self._dead(
                item,
                f"handed out {item.deliveries} times (max_deliveries={max_deliveries}):"
                " its workers kept dying before finishing it",
            )
            return True
        return False

    def _put_back(self, items: list[Reserved]) -> None:
        """Return tasks unchanged: not started, or their retry could not be stored."""
        if self.reliable:
            self._release([r.receipt for r in items if r.receipt is not None])
            return
        try:
            if items:
                self.worker.broker.connector.queue_push_bulk(
                    self.queue, [r.payload for r in items], priority="HIGH"
                )
        except SergeantError as exc:
            self.worker.logger.error(
                "could not push %d popped tasks back (at-most-once: they are lost): %s",
                len(items),
                exc,
            )

    def _release_fetched(self, fetched: Fetched) -> None:
        """Hand back a fetched batch that will not run (none of it started)."""
        self._release([receipt for _, receipt, _ in fetched if receipt is not None])

    def _release(self, receipts: list[str]) -> None:
        """Hand reserved tasks back unchanged (at-least-once)."""
        if not receipts:
            return
        try:
            self.worker.broker.release(self.queue, receipts)
        except SergeantError as exc:
            self.worker.logger.error(
                "could not put %d unstarted tasks back (they return after their lease): %s",
                len(receipts),
                exc,
            )
        if self.lease is not None:  # released, or left to their lease to run out
            self.lease.drop(receipts)

    def _dead(self, item: Reserved, reason: str) -> None:
        self.worker.logger.error("dead-lettering a task of %r: %s", self.queue, reason)
        try:
            self.worker.broker.dead_letter(self.queue, item.payload, reason, item.deliveries)
        except SergeantError as exc:
            self.worker.logger.error("could not dead-letter a task: %s", exc)
            return
        self.worker.count("dead")
        self._settle(item)
        self.flush_acks()  # rare: settle it now rather than risk a second dead letter

    def _settle(self, item: Reserved) -> None:
        """Queue the ack of a finished task and count it."""
        if item.put_back:
            self._put_back([item])
        elif item.receipt is not None:
            if self._threaded:
                with self._acks_guard:
                    self._acks.append(item.receipt)
            else:
                self._acks.append(item.receipt)
        counters = self.counters
        now = time.monotonic()
        if self._threaded:
            with self.worker.counters_guard:
                counters.processed += 1
                counters.last_task_at = now
        else:
            counters.processed += 1
            counters.last_task_at = now
        if not counters.first_task_at:
            counters.first_task_at = now
        if self.status is not None and time.monotonic() - self._last_publish > _PUBLISH_EVERY:
            self._publish()

    def flush_acks(self) -> None:
        """Ack every task settled since the last flush, in one call."""
        self._last_flush = time.monotonic()
        with self._acks_guard:
            receipts, self._acks = self._acks, []
        if not receipts:
            return
        receipts = self._whole_batch(receipts)
        try:
            self.worker.broker.ack(self.queue, receipts)
        except SergeantError as exc:
            self.worker.logger.error(
                "could not ack %d tasks (they will run again after their lease): %s",
                len(receipts),
                exc,
            )
        if self.lease is not None:
            self.lease.drop(receipts)

    # One task -------------------------------------------------------------

    def _execute_on_thread(self, item: Reserved) -> None:
        try:
            self._execute(item)
        except BaseException as exc:  # else the pool's future would keep it, unseen
            if self.escaped is None:
                self.escaped = exc
        finally:
            self._slots.release()

    def _execute(self, item: Reserved) -> None:
        """Run one task with its hooks and handlers, then settle it."""
        worker = self.worker
        task = item.task
        assert task is not None
        worker.current.item = item
        watchdog = self.watchdog
        try:
            if self._pre_work is not None:
                try:
                    self._pre_work(task)
                except WorkerInterrupt:  # stop() or respawn(): the task has not run, so
                    item.put_back = True  # it goes back rather than being acked unrun
                    raise
                except (WorkerRetry, WorkerRequeue, WorkerMaxRetries) as action:
                    self._failed(task, action)  # handled as if work had called it
                    return
                except Exception as exc:
                    worker.hook_failed("pre_work", exc, task)
            try:
                if watchdog is not None:
                    watchdog.begin()
                try:
                    returned_value = worker.work(task)
                finally:
                    if watchdog is not None:
                        watchdog.end()
            except _HANDLED as exc:
                self._failed(task, exc)
            else:
                if self._post_work is not None:
                    try:
                        self._post_work(task, True, None)
                    except Exception as exc:
                        worker.hook_failed("post_work", exc, task)
                if self._count_success_only:
                    worker.counters.done += 1
                else:
                    worker.handle_success(task, returned_value)
        except WorkerInterrupt as exc:  # raised by a handler: the task itself has run
            self.interrupt = exc
        except BaseException as exc:
            _cut_short(item, exc)
            raise
        finally:
            worker.current.item = None
            self._settle(item)

    def _failed(self, task: Task, exc: BaseException) -> None:
        """``work`` raised ``exc``: post_work, then the handler it calls for."""
        worker = self.worker
        worker.run_post_work(task, False, exc)
        try:
            if isinstance(exc, WorkerTimedout):
                worker.handle_timeout(task)
            elif isinstance(exc, WorkerRetry):
                worker.handle_retry(task)
            elif isinstance(exc, WorkerMaxRetries):
                worker.handle_max_retries(task)
            elif isinstance(exc, WorkerRequeue):
                worker.handle_requeue(task)
            elif isinstance(exc, WorkerInterrupt):
                if isinstance(exc, WorkerStop):
                    worker.handle_stop(task)
                self.interrupt = exc
            else:
                assert isinstance(exc, Exception)
                worker.handle_failure(task, exc)
        except WorkerInterrupt as interrupt:  # raised by a handler: the task itself has run
            self.interrupt = interrupt

    # Status ---------------------------------------------------------------

    def _set_kill_after(self, when: float) -> None:
        self._kill_after = when
        self._publish()

    def _publish(self) -> None:
        self._last_publish = time.monotonic()
        if self.status is not None:
            self.status.write(self.counters, self._kill_after)


def _cut_short(item: Reserved, exc: BaseException) -> None:
    """``exc`` escaped a task or its handlers, so they did not all run: a second
    stop signal (``KeyboardInterrupt``), a ``BaseException`` no handler takes
    (``asyncio.CancelledError``, ``GeneratorExit``, the user's own), or an error
    of the worker's own handling (a log handler that raises). The task is
    released to run again, never acked. Only ``sys.exit()`` is the task's own
    wish to end its process: it is done (as is a task whose ``retry`` or
    ``requeue``, raised where no handler takes it, already stored its next run)."""
    if not isinstance(exc, SystemExit | WorkerRetry | WorkerRequeue):
        item.put_back = True


def _freeze_heap() -> bool:
    """Put the objects alive when the loop starts (modules, config, the user's
    start-up state) out of the cyclic collector's way until it ends.

    Each batch allocates a few containers per task that live as long as the
    batch, so the collector runs full passes every few batches; those passes
    walk the whole heap (about 0.3 us per task on the benchmark's heap).
    Frozen objects are still freed by reference counting, and :func:`gc.unfreeze`
    gives them back when the loop ends. No collection first: a full pass costs
    about 10 ms on a small heap, paid by every ``work_loop`` (a respawning worker
    pays it per run), and the few cycles it would free are freed after the loop.
    Left alone when the collector is off or something else froze objects already.
    """
    if not gc.isenabled() or gc.get_freeze_count():
        return False
    gc.freeze()
    return True
