"""The connector API: queues (push, pop, bulk, priorities, delays, length, delete) and keys.

Connectors are built as Sergeant's worker builds them,
``sergeant.connector.<type>.Connector(**params)``, and driven through the
methods Sergeant's connectors document.
"""

import time

from _harness import behaviour, main, wait_until


def _drain(connector, queue):
    items = []
    while (item := connector.queue_pop(queue)) is not None:
        items.append(item.decode())
    return items


# Pushing ------------------------------------------------------------------


@behaviour()
def queue_push_returns(ctx):
    connector = ctx.connector()
    return connector.queue_push(ctx.name(), b"a")


@behaviour()
def queue_push_bulk_returns(ctx):
    connector = ctx.connector()
    return connector.queue_push_bulk(ctx.name(), [b"a", b"b"])


@behaviour()
def queue_push_delayed_returns(ctx):
    connector = ctx.connector()
    return connector.queue_push(ctx.name(), b"a", consumable_from=time.time() + 60)


# Popping ------------------------------------------------------------------


@behaviour()
def pop_returns_the_exact_bytes(ctx):
    connector = ctx.connector()
    payloads = [b"\x00\xff\x00binary", "h\u00e9llo \u2713".encode(), bytes(range(256)) * 64]
    for payload in payloads:
        connector.queue_push(ctx.name(), payload)
    popped = [connector.queue_pop(ctx.name()) for _ in payloads]
    return [item == payload for item, payload in zip(popped, payloads, strict=True)]


@behaviour()
def pop_on_an_empty_queue(ctx):
    connector = ctx.connector()
    return {
        "pop": connector.queue_pop(ctx.name()),
        "pop_bulk": connector.queue_pop_bulk(ctx.name(), 10),
    }


@behaviour()
def normal_priority_is_fifo(ctx):
    connector = ctx.connector()
    for item in ("a", "b", "c", "d"):
        connector.queue_push(ctx.name(), item.encode())
    return _drain(connector, ctx.name())


@behaviour()
def high_priority_pops_first(ctx):
    connector = ctx.connector()
    for item in ("a", "b"):
        connector.queue_push(ctx.name(), item.encode())
    connector.queue_push(ctx.name(), b"h", priority="HIGH")
    return _drain(connector, ctx.name())


@behaviour()
def high_priority_order_among_high(ctx):
    connector = ctx.connector()
    connector.queue_push(ctx.name(), b"a")
    for item in ("h1", "h2", "h3"):
        connector.queue_push(ctx.name(), item.encode(), priority="HIGH")
    return _drain(connector, ctx.name())


@behaviour()
def high_priority_in_bulk_pops(ctx):
    connector = ctx.connector()
    connector.queue_push_bulk(ctx.name(), [b"a", b"b"])
    connector.queue_push_bulk(ctx.name(), [b"h1", b"h2"], priority="HIGH")
    return [item.decode() for item in connector.queue_pop_bulk(ctx.name(), 10)]


@behaviour()
def pop_bulk_returns_at_most_the_number_asked(ctx):
    connector = ctx.connector()
    connector.queue_push_bulk(ctx.name(), [str(i).encode() for i in range(5)])
    first = connector.queue_pop_bulk(ctx.name(), 3)
    rest = connector.queue_pop_bulk(ctx.name(), 10)
    return [[item.decode() for item in first], [item.decode() for item in rest]]


@behaviour()
def pop_removes_for_good(ctx):
    connector = ctx.connector()
    connector.queue_push_bulk(ctx.name(), [b"a", b"b"])
    connector.queue_pop(ctx.name())
    connector.queue_pop_bulk(ctx.name(), 1)
    return {
        "length": connector.queue_length(ctx.name(), include_delayed=True),
        "pop": connector.queue_pop(ctx.name()),
    }


# Delays -------------------------------------------------------------------


@behaviour()
def delayed_item_waits_until_due(ctx):
    connector = ctx.connector()
    connector.queue_push(ctx.name(), b"later", consumable_from=time.time() + 2.0)
    before = connector.queue_pop(ctx.name())
    popped = wait_until(lambda: connector.queue_pop(ctx.name()), timeout=30)
    return {"before": before, "once_due": popped.decode() if popped else None}


@behaviour()
def past_consumable_from_is_ready_now(ctx):
    connector = ctx.connector()
    connector.queue_push(ctx.name(), b"due", consumable_from=time.time() - 60)
    popped = connector.queue_pop(ctx.name())
    return popped.decode() if popped else None


@behaviour()
def delayed_bulk_push(ctx):
    connector = ctx.connector()
    connector.queue_push_bulk(ctx.name(), [b"a", b"b", b"c"], consumable_from=time.time() + 60)
    return {
        "ready": connector.queue_length(ctx.name(), include_delayed=False),
        "with_delayed": connector.queue_length(ctx.name(), include_delayed=True),
        "pop_bulk": connector.queue_pop_bulk(ctx.name(), 10),
    }


@behaviour()
def due_delayed_item_among_ready_items(ctx):
    connector = ctx.connector()
    connector.queue_push(ctx.name(), b"a")
    connector.queue_push(ctx.name(), b"due", consumable_from=time.time() - 60)
    connector.queue_push(ctx.name(), b"b")
    return _drain(connector, ctx.name())


@behaviour()
def due_delayed_items_among_themselves(ctx):
    connector = ctx.connector()
    now = time.time()
    connector.queue_push(ctx.name(), b"due-second", consumable_from=now - 5)
    connector.queue_push(ctx.name(), b"due-first", consumable_from=now - 50)
    return [item.decode() for item in connector.queue_pop_bulk(ctx.name(), 10)]


@behaviour()
def delayed_high_item_once_due(ctx):
    connector = ctx.connector()
    connector.queue_push(ctx.name(), b"a")
    connector.queue_push(
        ctx.name(), b"delayed-high", priority="HIGH", consumable_from=time.time() + 1
    )
    wait_until(lambda: connector.queue_length(ctx.name(), include_delayed=False) == 2, timeout=30)
    connector.queue_push(ctx.name(), b"b")
    return _drain(connector, ctx.name())


# Length and delete --------------------------------------------------------


@behaviour()
def queue_length_with_and_without_delayed(ctx):
    connector = ctx.connector()
    connector.queue_push_bulk(ctx.name(), [b"a", b"b"])
    connector.queue_push(ctx.name(), b"later", consumable_from=time.time() + 60)
    connector.queue_push(ctx.name(), b"due", consumable_from=time.time() - 60)
    return {
        "ready": connector.queue_length(ctx.name(), include_delayed=False),
        "with_delayed": connector.queue_length(ctx.name(), include_delayed=True),
        "empty_queue": connector.queue_length(ctx.name("empty"), include_delayed=True),
    }


@behaviour()
def queue_delete(ctx):
    connector = ctx.connector()
    connector.queue_push_bulk(ctx.name(), [b"a", b"b"])
    connector.queue_push(ctx.name(), b"later", consumable_from=time.time() + 60)
    deleted = connector.queue_delete(ctx.name())
    return {
        "deleted": deleted,
        "length_after": connector.queue_length(ctx.name(), include_delayed=True),
        "deleted_again": connector.queue_delete(ctx.name()),
    }


@behaviour()
def queues_are_independent(ctx):
    connector = ctx.connector()
    connector.queue_push(ctx.name("one"), b"mine")
    return {
        "other_pop": connector.queue_pop(ctx.name("two")),
        "other_length": connector.queue_length(ctx.name("two"), include_delayed=True),
        "own_pop": connector.queue_pop(ctx.name("one")).decode(),
    }


# Keys ---------------------------------------------------------------------


@behaviour()
def key_set_new_and_overwrite(ctx):
    connector = ctx.connector()
    first = connector.key_set(ctx.name(), b"v1")
    second = connector.key_set(ctx.name(), b"v2")
    return {"new": first, "overwrite": second, "value": connector.key_get(ctx.name()).decode()}


@behaviour()
def key_get_missing(ctx):
    return ctx.connector().key_get(ctx.name())


@behaviour()
def key_delete(ctx):
    connector = ctx.connector()
    connector.key_set(ctx.name(), b"v")
    return {
        "existing": connector.key_delete(ctx.name()),
        "missing": connector.key_delete(ctx.name()),
        "get_after": connector.key_get(ctx.name()),
    }


@behaviour()
def key_value_exact_bytes(ctx):
    connector = ctx.connector()
    value = bytes(range(256))
    connector.key_set(ctx.name(), value)
    return connector.key_get(ctx.name()) == value


# Several Redis nodes ------------------------------------------------------


def _node_connectors(ctx):
    return [ctx.connector_of_node(index) for index in range(len(ctx.params["nodes"]))]


@behaviour("redis2")
def several_nodes_pushes_reach_every_node(ctx):
    connector = ctx.connector()
    for index in range(10):
        connector.queue_push(ctx.name(), str(index).encode())
    lengths = [
        node.queue_length(ctx.name(), include_delayed=True) for node in _node_connectors(ctx)
    ]
    return sorted(lengths)


@behaviour("redis2")
def several_nodes_pops_visit_every_node(ctx):
    connector = ctx.connector()
    items = [str(index).encode() for index in range(10)]
    for item in items:
        connector.queue_push(ctx.name(), item)
    popped = _drain(connector, ctx.name())
    return {"all_popped": sorted(popped) == sorted(i.decode() for i in items)}


@behaviour("redis2")
def several_nodes_bulk_pop_visits_every_node(ctx):
    connector = ctx.connector()
    connector.queue_push_bulk(ctx.name(), [b"a", b"b", b"c"])
    connector.queue_push_bulk(ctx.name(), [b"d", b"e", b"f"])
    first = connector.queue_pop_bulk(ctx.name(), 6)
    return sorted(item.decode() for item in first)


@behaviour("redis2")
def several_nodes_length_sums_nodes(ctx):
    connector = ctx.connector()
    for index in range(7):
        connector.queue_push(ctx.name(), str(index).encode())
    connector.queue_push(ctx.name(), b"later", consumable_from=time.time() + 60)
    return [
        connector.queue_length(ctx.name(), include_delayed=False),
        connector.queue_length(ctx.name(), include_delayed=True),
    ]


@behaviour("redis2")
def several_nodes_keep_each_nodes_order(ctx):
    connector = ctx.connector()
    pushed = [f"{index:02d}" for index in range(12)]
    for item in pushed:
        connector.queue_push(ctx.name(), item.encode())
    popped = _drain(connector, ctx.name())
    per_node = [
        [item for item in popped if item in node_items]
        for node_items in (set(pushed[0::2]), set(pushed[1::2]))
    ]
    return {
        "all_popped": sorted(popped) == pushed,
        "each_node_fifo": all(items == sorted(items) for items in per_node),
    }


@behaviour("redis2")
def several_nodes_keys(ctx):
    connector = ctx.connector()
    for index in range(20):
        connector.key_set(ctx.name(str(index)), str(index).encode())
    values = [connector.key_get(ctx.name(str(index))) for index in range(20)]
    per_node = [
        sum(node.key_get(ctx.name(str(index))) is not None for index in range(20))
        for node in _node_connectors(ctx)
    ]
    return {
        "values": [value.decode() for value in values],
        "every_key_on_one_node": sum(per_node) == 20,
    }


if __name__ == "__main__":
    main()
