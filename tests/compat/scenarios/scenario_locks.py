"""The lock API of Sergeant's worker documentation: ``worker.lock(name)`` and its
``acquire``, ``release``, ``is_locked``, ``set_ttl`` and ``get_ttl``.

Two lock objects of one name stand for two workers. Waits for a lock's ttl to
run out poll ``is_locked`` (ttl is whole seconds, so they take about one).
"""

import gc
import inspect
import threading

import sergeant
from _harness import behaviour, main, wait_until

FAST = {"check_interval": 0.05}


def _worker(ctx):
    class Locker(sergeant.worker.Worker):
        def generate_config(self):
            return ctx.worker_config()

    worker = Locker()
    worker.init_broker()
    return worker


def _expire(lock):
    """Wait until ``lock`` (taken with ttl=1) has expired."""
    return wait_until(lambda: not lock.is_locked(), timeout=30)


@behaviour()
def acquire_free_lock(ctx):
    lock = _worker(ctx).lock(ctx.name())
    acquired = lock.acquire(timeout=5, ttl=60, **FAST)
    locked = lock.is_locked()
    released = lock.release()
    return {"acquired": acquired, "locked": locked, "released": released, "after": lock.is_locked()}


@behaviour()
def acquire_times_out_while_held(ctx):
    worker = _worker(ctx)
    holder, other = worker.lock(ctx.name()), worker.lock(ctx.name())
    holder.acquire(ttl=60)
    result = {"other": other.acquire(timeout=0.3, **FAST), "seen_locked": other.is_locked()}
    holder.release()
    return result


@behaviour()
def acquire_waits_for_release(ctx):
    worker = _worker(ctx)
    holder, waiter = worker.lock(ctx.name()), worker.lock(ctx.name())
    holder.acquire(ttl=60)
    releaser = threading.Timer(0.3, holder.release)
    releaser.start()
    acquired = waiter.acquire(timeout=30, **FAST)
    releaser.join()
    return {"acquired": acquired, "released_by_waiter": waiter.release()}


@behaviour()
def release_without_acquire(ctx):
    return _worker(ctx).lock(ctx.name()).release()


@behaviour()
def release_twice(ctx):
    lock = _worker(ctx).lock(ctx.name())
    lock.acquire(ttl=60)
    return [lock.release(), lock.release()]


@behaviour()
def release_by_another_lock_object(ctx):
    worker = _worker(ctx)
    holder, other = worker.lock(ctx.name()), worker.lock(ctx.name())
    holder.acquire(ttl=60)
    result = {"other_release": other.release(), "still_locked": holder.is_locked()}
    holder.release()
    return result


@behaviour()
def get_ttl_of_held_lock(ctx):
    lock = _worker(ctx).lock(ctx.name())
    lock.acquire(ttl=60)
    ttl = lock.get_ttl()
    lock.release()
    return {"type": type(ttl).__name__, "about_60": 50 <= ttl <= 60}


@behaviour()
def get_ttl_of_free_lock(ctx):
    return _worker(ctx).lock(ctx.name()).get_ttl()


@behaviour()
def set_ttl_by_holder(ctx):
    lock = _worker(ctx).lock(ctx.name())
    lock.acquire(ttl=60)
    result = {"set": lock.set_ttl(120), "about_120": 110 <= lock.get_ttl() <= 120}
    lock.release()
    return result


@behaviour()
def set_ttl_of_free_lock(ctx):
    lock = _worker(ctx).lock(ctx.name())
    return {"set": lock.set_ttl(60), "locked": lock.is_locked()}


@behaviour()
def set_ttl_by_another_lock_object(ctx):
    worker = _worker(ctx)
    holder, other = worker.lock(ctx.name()), worker.lock(ctx.name())
    holder.acquire(ttl=60)
    result = {"other_set": other.set_ttl(120), "holder_ttl_about_120": holder.get_ttl() > 100}
    holder.release()
    return result


@behaviour()
def set_ttl_zero_frees_the_lock(ctx):
    lock = _worker(ctx).lock(ctx.name())
    lock.acquire(ttl=60)
    return {"set": lock.set_ttl(0), "locked": lock.is_locked(), "ttl": lock.get_ttl()}


@behaviour()
def lock_expires_after_ttl(ctx):
    lock = _worker(ctx).lock(ctx.name())
    lock.acquire(ttl=1)
    return {"expired": _expire(lock), "ttl_after": lock.get_ttl()}


@behaviour()
def acquire_after_the_holder_expired(ctx):
    worker = _worker(ctx)
    first, second = worker.lock(ctx.name()), worker.lock(ctx.name())
    first.acquire(ttl=1)
    _expire(first)
    acquired = second.acquire(timeout=0.5, ttl=60, **FAST)
    second.release()
    return acquired


@behaviour()
def expired_holder_releases_after_someone_else_acquired(ctx):
    worker = _worker(ctx)
    first, second = worker.lock(ctx.name()), worker.lock(ctx.name())
    first.acquire(ttl=1)
    _expire(first)
    second_acquired = second.acquire(timeout=0.5, ttl=60, **FAST)
    first_released = first.release()
    result = {
        "second_acquired": second_acquired,
        "first_released": first_released,
        "still_locked": second.is_locked(),
    }
    second.release()
    return result


@behaviour()
def collected_lock_is_released(ctx):
    worker = _worker(ctx)
    lock = worker.lock(ctx.name())
    lock.acquire(ttl=60)
    del lock
    gc.collect()
    other = worker.lock(ctx.name())
    return {"locked": other.is_locked(), "acquired": other.acquire(timeout=5, **FAST)}


@behaviour()
def lock_is_a_connector_lock(ctx):
    return isinstance(_worker(ctx).lock(ctx.name()), sergeant.connector.Lock)


@behaviour()
def lock_method_signatures(ctx):
    lock = _worker(ctx).lock(ctx.name())
    signatures = {}
    for method in ("acquire", "release", "is_locked", "set_ttl", "get_ttl"):
        parameters = inspect.signature(getattr(lock, method)).parameters.values()
        signatures[method] = [
            [p.name, None if p.default is inspect.Parameter.empty else p.default]
            for p in parameters
        ]
    return signatures


@behaviour()
def connector_lock_is_the_same_lock(ctx):
    worker = _worker(ctx)
    through_worker = worker.lock(ctx.name())
    through_connector = ctx.connector().lock(ctx.name())
    through_worker.acquire(ttl=60)
    result = {
        "connector_sees_it": through_connector.is_locked(),
        "connector_cannot_take_it": through_connector.acquire(timeout=0.2, **FAST),
    }
    through_worker.release()
    return result


if __name__ == "__main__":
    main()
