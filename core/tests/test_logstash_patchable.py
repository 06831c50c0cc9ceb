"""Code written for Sergeant patches ``sergeant.logging.logstash.orjson`` and
``.socket`` to see the message a handler sends: both seams are real here."""

from __future__ import annotations

import json
import logging
import unittest.mock

import sergeant.logging.logstash as logstash


def test_patching_the_codec_and_socket_shows_the_message_object() -> None:
    with (
        unittest.mock.patch.object(logstash, "orjson") as codec,
        unittest.mock.patch.object(logstash, "socket") as sockets,
    ):
        logger = logging.Logger(name="patched")
        logger.addHandler(logstash.LogstashHandler(host="localhost", port=9999))
        logger.info("hello %s", "there")
    message = codec.dumps.call_args.args[0]
    assert message["message"] == "hello there"
    assert message["emitter"]["pathname"] == __file__
    sent = sockets.create_connection.return_value.__enter__.return_value.sendall
    assert sent.call_args.args[0] is codec.dumps.return_value


def test_the_codec_sends_what_json_cannot_hold_as_its_repr() -> None:
    encoded = logstash.orjson.dumps({"message": "m", "extra": {"odd": {1: float("nan")}}})
    assert json.loads(encoded) == {"message": "m", "extra": {"odd": "{1: nan}"}}
