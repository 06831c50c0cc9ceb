"""Bad params fail at construction naming the node index and field; secrets never show."""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import sergeant
from sergeant.errors import AuthenticationError, ConfigError, SergeantError, StorageError
from sergeant.validation import build_params
from sergeant_mongo import MongoConnector
from sergeant_mongo._params import MongoParams
from sergeant_test_support.mongo_fixtures import MongoServer, mongo_connector_params

SECRET = "hunter2-s3cret"


def _connect(params: dict[str, Any]) -> MongoConnector:
    connector = sergeant.connect(sergeant.config.Connector(type="mongo", params=params))
    assert isinstance(connector, MongoConnector)
    return connector


def test_no_params_mean_one_local_server() -> None:
    (node,) = MongoParams().nodes
    assert (node.host, node.port) == ("localhost", 27017)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"nodes": []}, r"nodes.*at least one node"),
        ({"nodes": "localhost"}, r"nodes.*list of nodes"),
        ({"nodes": [{"host": "a"}, "b"]}, r"nodes\[1\].*mapping"),
        ({"nodes": [{"host": "a"}, {"host": "b", "port": "27017"}]}, r"nodes\[1\]\.port.*'27017'"),
        ({"nodes": [{"host": "a", "port": 70000}]}, r"nodes\[0\]\.port.*70000.*1 to 65535"),
        ({"nodes": [{"host": "a"}, {"hots": "b"}]}, r"nodes\[1\]\['hots'\].*did you mean 'host'"),
        ({"nodes": [{"host": ""}]}, r"nodes\[0\]\.host"),
        ({"nodes": [{"host": "db:27017"}]}, r"nodes\[0\]\.host.*port in 'port'"),
        ({"nodes": [{"host": "db\x00"}]}, r"nodes\[0\]\.host.*control characters"),
        ({"nodes": [{"host": "::1"}, {"host": "[::1]"}]}, r"nodes\[1\].*only once"),
        ({"nodes": [{"host": "a", "replica_set": 5}]}, r"nodes\[0\]\.replica_set"),
        ({"nodes": [{"host": "a", "tls": "yes"}]}, r"nodes\[0\]\.tls"),
        ({"nodes": [{"host": "a", "password": "pw"}]}, r"nodes\[0\]\.username.*needs a username"),
        ({"nodes": [{"uri": "http://x"}]}, r"nodes\[0\]\.uri.*mongodb://"),
        ({"nodes": [{"uri": "mongodb://a", "host": "b"}]}, r"nodes\[0\]\.uri.*either uri or host"),
        ({"nodes": [{"host": "a"}, {"host": "a"}]}, r"nodes\[1\].*only once"),
        ({"nodes": [{"host": "a"}], "database": "no.dots"}, r"database.*'no.dots'"),
        ({"nodes": [{"host": "a"}], "database": "d" * 64}, r"database.*under 64 bytes"),
        ({"nodes": [{"host": "a"}], "database": "é" * 32}, r"database.*under 64 bytes"),
        ({"nodes": [{"host": "a"}], "connect_timeout": 0}, r"connect_timeout"),
        ({"nodes": [{"host": "a"}], "databse": "x"}, r"'databse'.*did you mean 'database'"),
    ],
)
def test_bad_params_name_the_field(params: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        _connect(params)


def test_an_ipv6_host_reaches_pymongo_in_brackets_whichever_way_it_is_written() -> None:
    params = build_params(
        MongoParams, {"nodes": [{"host": "[::1]"}, {"host": "::1", "port": 1}]}, where="params"
    )
    assert [node.host for node in params.nodes] == ["::1", "::1"]
    assert [node.label for node in params.nodes] == ["[::1]:27017", "[::1]:1"]


@pytest.mark.parametrize(
    "node",
    [
        {"host": "a", "username": "u", "password": 5},
        {"host": "a", "username": "u", "password": SECRET, "port": "bad"},
        {"host": "a", "tls": True, "tls_certificate_key_file_password": 7},
        {"uri": f"mongodb://u:{SECRET}@a:1", "port": 1},
        {"uri": f"http://u:{SECRET}@a:1"},
    ],
)
def test_errors_never_show_secrets(node: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        _connect({"nodes": [node]})
    assert SECRET not in str(caught.value)
    assert "nodes[0]" in str(caught.value)


def test_repr_never_shows_secrets() -> None:
    params = sergeant.validation.build_params(
        MongoParams,
        {
            "nodes": [
                {"host": "a", "username": "u", "password": SECRET},
                {"uri": f"mongodb://u:{SECRET}@b:27017/?tls=true"},
                {"host": "c", "tls": True, "tls_certificate_key_file_password": SECRET},
            ]
        },
        where="params",
    )
    shown = repr(params)
    assert SECRET not in shown
    assert "'***'" in shown
    assert [n.label for n in params.nodes] == ["a:27017", "b:27017", "c:27017"]
    config = sergeant.config.Connector(
        type="mongo", params={"nodes": [{"host": "a", "username": "u", "password": SECRET}]}
    )
    assert SECRET not in repr(config)


def test_wrong_credentials_fail_clearly_without_the_password(
    mongo_server_factory: Callable[[], MongoServer],
) -> None:
    mongo_server = mongo_server_factory()  # mongoeco, which has no users
    node = {
        "host": mongo_server.host,
        "port": mongo_server.port,
        "username": "nobody",
        "password": SECRET,
    }
    with pytest.raises(AuthenticationError) as caught:
        _connect({"nodes": [node], "connect_timeout": 2})
    assert isinstance(caught.value, SergeantError)
    assert "nobody" in str(caught.value)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)


def test_right_credentials_are_used(mongo_server_factory: Callable[..., MongoServer]) -> None:
    server = mongo_server_factory(users={"worker": SECRET})
    node = {
        "host": server.host,
        "port": server.port,
        "username": "worker",
        "password": SECRET,
        "auth_source": "admin",
        # mongoeco does not answer pymongo's mechanism negotiation, which then falls
        # back to SCRAM-SHA-1, which mongoeco fails: name the mechanism explicitly
        "auth_mechanism": "SCRAM-SHA-256",
    }
    with _connect({"nodes": [node], "connect_timeout": 2}) as connector:
        assert connector.queue_push("auth", b"x") is True
        assert connector.queue_pop("auth") == b"x"
        assert SECRET not in repr(connector)
    anonymous = {"host": server.host, "port": server.port}
    with pytest.raises(SergeantError) as caught:
        _connect({"nodes": [anonymous], "connect_timeout": 2})
    assert SECRET not in str(caught.value)


def test_uri_node_with_credentials(mongo_server_factory: Callable[..., MongoServer]) -> None:
    server = mongo_server_factory(users={"worker": SECRET})
    uri = (
        f"mongodb://worker:{SECRET}@{server.host}:{server.port}/"
        "?authSource=admin&authMechanism=SCRAM-SHA-256&directConnection=true"
    )
    with _connect({"nodes": [{"uri": uri}], "connect_timeout": 2}) as connector:
        assert connector.queue_push("uri", b"x") is True
        assert connector.queue_pop("uri") == b"x"
        stats = connector.queue_stats("uri")
        assert [row.node for row in stats] == [f"{server.host}:{server.port}"]
        assert SECRET not in repr(connector)
        assert SECRET not in repr(connector.params)
    wrong = uri.replace(SECRET, "wrong-" + SECRET)
    with pytest.raises(AuthenticationError) as caught:
        _connect({"nodes": [{"uri": wrong}], "connect_timeout": 2})
    assert SECRET not in str(caught.value)
    assert "refused the uri's credentials: check the uri's user" in str(caught.value)


def test_found_by_entry_point() -> None:
    registry = sergeant.registry.Registry()
    assert registry.resolve("mongo") is MongoConnector
    rows = [row for row in registry.discover() if row.type == "mongo"]
    assert [(r.distribution, r.module, r.status) for r in rows] == [
        ("sergeant-mongo", "sergeant_mongo.plugin", "ok")
    ]


def test_an_item_over_the_document_limit_is_a_storage_error(mongo_server: MongoServer) -> None:
    """pymongo refuses documents over the server's maxBsonObjectSize (16 MiB) with
    DocumentTooLarge, which is not a PyMongoError: it must still be a StorageError."""
    connector = MongoConnector(**mongo_connector_params(mongo_server))
    try:
        with pytest.raises(StorageError, match="at most 16,760,832 bytes"):
            connector.queue_push("too-big", b"x" * (17 * 1024 * 1024))
        assert connector.queue_length("too-big") == 0
    finally:
        connector.queue_delete("too-big")
        connector.close()


@pytest.mark.parametrize(
    ("uri", "labels"),
    [
        ("mongodb://u:pw@b:27017/?tls=true", "b:27017"),
        ("mongodb://Alpha", "alpha:27017"),  # pymongo lower-cases hosts, adds the default port
        ("mongodb://[::1]:5,B:7/db.coll?directConnection=false", "[::1]:5,b:7"),
        ("mongodb://%2Ftmp%2Fmongodb-27017.sock", "/tmp/mongodb-27017.sock"),
        # an srv name is read without its DNS lookup (nothing answers for .invalid)
        ("mongodb+srv://u:pw@cluster.invalid/db?srvServiceName=db&w=1", "cluster.invalid"),
    ],
)
def test_uri_hosts_are_labelled_as_pymongo_reads_them(uri: str, labels: str) -> None:
    params = sergeant.validation.build_params(MongoParams, {"nodes": [{"uri": uri}]}, where="p")
    assert params.nodes[0].label == labels


@pytest.mark.parametrize(
    "uri",
    [
        f"mongodb://u:12/{SECRET}@h",  # pymongo reads host 'u', port 12, database 'SECRET@h'
        f"mongodb://u:pw/{SECRET}@h",  # ... host 'u' and port 'pw', which it refuses
        f"mongodb://u:pw@h/{SECRET}@h2",
        f"mongodb://u:1?{SECRET}=x@h",  # ... an option named after the password's tail
        f"mongodb://u:12?appname={SECRET}@h",
        f"mongodb+srv://u:pw@cluster.invalid/?appname={SECRET}@h",
    ],
)
def test_an_at_sign_pymongo_would_read_past_the_hosts_is_refused(uri: str) -> None:
    """Before pymongo reads the uri: its warnings (older versions name an unknown
    option) must not quote the password either."""
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        with pytest.raises(ConfigError, match=r"nodes\[0\]\.uri.*an '@' comes after") as caught:
            sergeant.config.Connector(type="mongo", params={"nodes": [{"uri": uri}]})
    assert SECRET not in str(caught.value)
    assert "quote_plus" in str(caught.value)
    assert not [w for w in said if SECRET in str(w.message)]


@pytest.mark.parametrize(
    "uri",
    [
        f"mongodb://u:{SECRET}@h:port",
        f"mongodb://u:{SECRET}@h/?tls",  # options are key=value pairs
        f"mongodb://u:a:{SECRET}@h",
        "mongodb://",
    ],
)
def test_a_uri_pymongo_cannot_parse_is_refused_when_the_config_is_built(uri: str) -> None:
    with pytest.raises(ConfigError, match=r"nodes\[0\]\.uri.*pymongo cannot parse") as caught:
        sergeant.config.Connector(type="mongo", params={"nodes": [{"uri": uri}]})
    assert SECRET not in str(caught.value)
    assert "quote_plus" in str(caught.value)


def test_an_encoded_at_sign_is_accepted() -> None:
    uri = "mongodb://u:p%40ss@h:1/?appname=me%40work"
    params = sergeant.validation.build_params(MongoParams, {"nodes": [{"uri": uri}]}, where="p")
    assert params.nodes[0].label == "h:1"


def test_a_server_given_by_host_and_by_uri_is_one_node_listed_twice() -> None:
    nodes = [{"host": "h", "port": 27017}, {"uri": "mongodb://h/?directConnection=true"}]
    with pytest.raises(ConfigError, match=r"nodes\[1\].*'h:27017'.*only once"):
        sergeant.config.Connector(type="mongo", params={"nodes": nodes})


def test_checking_params_imports_pymongo_only_to_read_a_uri() -> None:
    code = (
        "import sys\n"
        "from sergeant_mongo._params import check_params\n"
        "check_params({'nodes': [{'host': 'a', 'port': 1}], 'database': 'd'})\n"
        "print(sorted({'pymongo', 'bson'} & {m.split('.')[0] for m in sys.modules}))\n"
        "check_params({'nodes': [{'uri': 'mongodb://a:1'}]})\n"
        "print('pymongo' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["[]", "True"]
