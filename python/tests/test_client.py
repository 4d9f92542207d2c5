"""aisle.Client: generated from the OpenAPI document (and kept so), and run against a real
`aisle serve` (the binary in `AISLE_BIN`, which `tests/pytest.rs` sets; without it the server
test skips locally and fails under CI)."""

import importlib.util
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

import aisle

SOURCE = Path(__file__).resolve().parent.parent
DOCUMENT = SOURCE.parent / "crates" / "server" / "openapi.json"


def test_the_generated_client_matches_the_openapi_document():
    spec = importlib.util.spec_from_file_location("gen_client", SOURCE / "tools" / "gen_client.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    committed = (SOURCE / "aisle" / "_api.py").read_text()
    assert gen.generate() == committed, "run python/tools/gen_client.py: the API changed"


def test_every_operation_is_a_method_with_its_parameters():
    import inspect
    import keyword

    document = json.loads(DOCUMENT.read_text())
    for path, item in document["paths"].items():
        for method, op in item.items():
            fn = getattr(aisle.Client, op["operationId"], None)
            assert fn is not None, f"{method.upper()} {path}"
            names = set(inspect.signature(fn).parameters)
            for p in op.get("parameters", []):
                name = p["name"] + "_" if keyword.iskeyword(p["name"]) else p["name"]
                assert name in names, (op["operationId"], p["name"])
            assert ("body" in names) == ("requestBody" in op), op["operationId"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    binary = os.environ.get("AISLE_BIN")
    if not binary or not Path(binary).exists():
        if os.environ.get("CI"):
            pytest.fail("CI is set, so the client must be tested against a server: AISLE_BIN is not")
        pytest.skip("AISLE_BIN is not set (cargo test sets it when target/debug/aisle is built)")
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        env = dict(
            os.environ,
            AISLE_TRAINING__ON_START="false",
            AISLE_AUTH__ADMIN_KEYS='["admin-key"]',
            AISLE_AUTH__READ_KEYS='["read-key"]',
        )
        child = subprocess.Popen(
            [binary, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    with urllib.request.urlopen(url + "/health/ready", timeout=1) as r:
                        if r.status == 200:
                            break
                except OSError:
                    time.sleep(0.1)
            else:
                pytest.fail("aisle serve did not become ready")
            yield url
        finally:
            child.terminate()
            child.wait(timeout=30)


def test_events_recommendations_and_experiments_through_the_client(server):
    admin = aisle.Client(server, key="admin-key")
    read = aisle.Client(server, key="read-key")
    for i in range(6):
        admin.put_item(f"i{i}", {"title": f"Item {i}", "categories": ["shoes" if i % 2 else "hats"], "price": 10.0 + i})
    events = [{"user_id": f"u{u}", "item_id": f"i{(u + k) % 6}", "type": "purchase"} for u in range(8) for k in range(3)]
    out = admin.post_events(events)
    assert out["inserted"] == len(events) and out["duplicates"] == 0, out
    assert admin.get_item("i3")["title"] == "Item 3"

    popular = read.popular(n=3)
    assert len(popular["items"]) == 3 and popular["source"] == "popular"
    recs = read.user_recs("u1", n=4, category="shoes")
    assert recs["fallback"] and all(x["id"] in {"i1", "i3", "i5"} for x in recs["items"]), recs

    admin.put_placement("home", {"kind": "user", "n": 3})
    created = admin.create_experiment(
        {"id": "e1", "placement": "home", "variants": [{"name": "control"}, {"name": "pop", "kind": "popular"}]}
    )
    assert created["id"] == "e1"
    for u in range(8):
        read.user_recs(f"u{u}", placement="home")
    assert [e["id"] for e in admin.list_experiments()] == ["e1"]
    report = admin.experiment_report("e1")
    assert {v["name"] for v in report["variants"]} == {"control", "pop"}, report


def test_errors_carry_the_status_and_the_stable_code(server):
    read = aisle.Client(server, key="read-key")
    with pytest.raises(aisle.ApiError) as e:
        read.post_events([{"user_id": "u1", "item_id": "i1", "type": "view"}])
    assert e.value.status == 403 and e.value.code == "forbidden"
    admin = aisle.Client(server, key="admin-key")
    with pytest.raises(aisle.ApiError) as e:
        admin.post_events([{"user_id": "u1", "item_id": "i1", "type": "teleport"}])
    assert e.value.status == 422 and e.value.code == "unknown_event_type"
    with pytest.raises(aisle.ApiError) as e:
        aisle.Client(server).popular()
    assert e.value.status == 401
    with pytest.raises(aisle.ApiError) as e:
        admin.get_item("no such item")
    assert e.value.status == 404 and e.value.code
