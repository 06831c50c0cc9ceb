"""The encoder: ``sergeant.config.Encoder`` and ``sergeant.encoder.encoder.Encoder``
with its serializers (msgpack, pickle) and compressors (bzip2, gzip, lzma, zlib).

Encoding touches no storage, so these behaviours run on the ``local`` backend
only. Encoded bytes are compared as base64 (gzip's with its header's timestamp
zeroed: it is a clock reading).
"""

import base64
import datetime
import inspect

import sergeant
from _harness import behaviour, main, raised

SERIALIZERS = ("msgpack", "pickle")
COMPRESSORS = (None, "bzip2", "gzip", "lzma", "zlib")
#: Values both serializers carry, tuples and datetimes aside (see their own behaviours).
PLAIN = {
    "text": "h\u00e9llo",
    "int": -(2**40),
    "float": 1.5,
    "none": None,
    "flags": [True, False],
    "bytes": b"\x00\xff",
    "nested": {"list": [1, [2, {"three": 3}]], "empty": {}},
}


def _encoder(serializer, compressor=None):
    return sergeant.encoder.encoder.Encoder(compressor_name=compressor, serializer_name=serializer)


def _wire(data, compressor):
    if compressor == "gzip":  # bytes 4..8 of a gzip member are its mtime
        data = data[:4] + b"\x00\x00\x00\x00" + data[8:]
    return base64.b64encode(data).decode()


def _described(value):
    """A decoded value as JSON-able text that keeps types (bytes, tuples, ...)."""
    return repr(value)


@behaviour("local")
def config_encoder_as_documented(ctx):
    encoders = [
        sergeant.config.Encoder(compressor=None, serializer="pickle"),
        sergeant.config.Encoder(compressor="zlib", serializer="pickle"),
        sergeant.config.Encoder(compressor="lzma", serializer="msgpack"),
    ]
    return [[encoder.compressor, encoder.serializer] for encoder in encoders]


@behaviour("local")
def encoder_signature(ctx):
    parameters = inspect.signature(sergeant.encoder.encoder.Encoder).parameters
    return list(parameters)


@behaviour("local")
def encoder_positional_arguments(ctx):
    encoder = sergeant.encoder.encoder.Encoder("zlib", "pickle")
    return _described(encoder.decode(encoder.encode({"a": 1})))


@behaviour("local")
def round_trip_msgpack(ctx):
    return {
        str(compressor): _described(
            _encoder("msgpack", compressor).decode(_encoder("msgpack", compressor).encode(PLAIN))
        )
        for compressor in COMPRESSORS
    }


@behaviour("local")
def round_trip_pickle(ctx):
    return {
        str(compressor): _described(
            _encoder("pickle", compressor).decode(_encoder("pickle", compressor).encode(PLAIN))
        )
        for compressor in COMPRESSORS
    }


@behaviour("local")
def encoded_bytes_msgpack(ctx):
    return {str(c): _wire(_encoder("msgpack", c).encode(PLAIN), c) for c in COMPRESSORS}


@behaviour("local")
def encoded_bytes_pickle(ctx):
    return {str(c): _wire(_encoder("pickle", c).encode(PLAIN), c) for c in COMPRESSORS}


@behaviour("local")
def tuples_round_trip(ctx):
    value = {"pair": (1, "two"), "nested": [(3, (4,))]}
    return {s: _described(_encoder(s).decode(_encoder(s).encode(value))) for s in SERIALIZERS}


@behaviour("local")
def tuples_encoded_bytes_msgpack(ctx):
    return _wire(_encoder("msgpack").encode({"pair": (1, "two")}), None)


@behaviour("local")
def naive_datetime_round_trip(ctx):
    value = datetime.datetime(2024, 5, 17, 12, 30, 15, 250000)
    return {s: _described(_encoder(s).decode(_encoder(s).encode(value))) for s in SERIALIZERS}


@behaviour("local")
def aware_datetime_round_trip_msgpack(ctx):
    value = datetime.datetime(2024, 5, 17, 12, 30, tzinfo=datetime.UTC)
    decoded = _encoder("msgpack").decode(_encoder("msgpack").encode(value))
    return {"equal": decoded == value if decoded.tzinfo else None, "tzinfo": repr(decoded.tzinfo)}


@behaviour("local")
def task_round_trip(ctx):
    task = sergeant.objects.Task(kwargs={"url": "u"}, trace_id="t", date=1.5, run_count=2)
    decoded = {}
    for serializer in SERIALIZERS:
        value = _encoder(serializer).decode(_encoder(serializer).encode(task))
        decoded[serializer] = {
            "class": f"{type(value).__module__}.{type(value).__qualname__}",
            "equal": value == task,
        }
    return decoded


@behaviour("local")
def task_encoded_bytes(ctx):
    task = sergeant.objects.Task(kwargs={"url": "u"}, trace_id="t", date=1.5, run_count=2)
    return {s: _wire(_encoder(s).encode(task), None) for s in SERIALIZERS}


@behaviour("local")
def msgpack_rejects_an_object(ctx):
    outcome = raised(_encoder("msgpack").encode, {"value": object()})
    return "TypeError" in outcome.get("raised", [])


@behaviour("local")
def pickle_rejects_an_unpicklable_value(ctx):
    import threading

    outcome = raised(_encoder("pickle").encode, {"lock": threading.Lock()})
    return "TypeError" in outcome.get("raised", [])


@behaviour("local")
def unknown_serializer_name(ctx):
    return raised(sergeant.encoder.encoder.Encoder, compressor_name=None, serializer_name="yaml")


@behaviour("local")
def unknown_compressor_name(ctx):
    return raised(
        sergeant.encoder.encoder.Encoder, compressor_name="zstd", serializer_name="pickle"
    )


@behaviour("local")
def json_serializer(ctx):
    outcome = raised(_encoder, "json")
    if "returned" in outcome:
        encoder = outcome["returned"]
        return {"round_trip": _described(encoder.decode(encoder.encode({"a": [1, "b"]})))}
    return outcome


@behaviour("local")
def decode_garbage(ctx):
    return {
        serializer: raised(_encoder(serializer).decode, b"\xc1 not an encoded value")
        for serializer in SERIALIZERS
    }


@behaviour("local")
def decompress_garbage(ctx):
    return {
        compressor: raised(_encoder("pickle", compressor).decode, b"not compressed")
        for compressor in COMPRESSORS[1:]
    }


@behaviour("local")
def serializer_and_compressor_objects(ctx):
    encoder = _encoder("msgpack", "zlib")
    return {
        "serializer_name": encoder.serializer.name,
        "compressor_name": encoder.compressor.name,
        "no_compressor": _encoder("msgpack").compressor,
        "serializers": sorted(sergeant.encoder.encoder.Encoder.serializers),
        "compressors": sorted(sergeant.encoder.encoder.Encoder.compressors),
    }


if __name__ == "__main__":
    main()
