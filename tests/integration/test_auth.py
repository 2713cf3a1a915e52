"""Who may call Layer: admin keys, read keys, loopback-only without keys."""

from __future__ import annotations

import requests

from backend.app import create_app
from common.settings import Settings
from tests.integration.helpers import write_docs

ADMIN = "admin-key-0123456789"
READER = "read-key-0123456789"


def _h(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def test_keys_gate_every_route(emulator, backend_factory) -> None:
    write_docs(emulator.url, "ns", [{"id": 1}])
    layer = backend_factory(emulator.url, api_keys=(ADMIN,), read_keys=(READER,))
    for path in [
        "/v2/namespaces",
        "/v2/namespaces/ns/metadata",
        "/v1/namespaces/ns/schema",
        "/readyz",
    ]:
        assert requests.get(layer.url + path, timeout=5).status_code == 401, path
        assert (
            requests.get(layer.url + path, headers=_h("wrong-key-xxxxxxxx"), timeout=5).status_code
            == 401
        ), path
        assert (
            requests.get(layer.url + path, headers={"Authorization": ADMIN}, timeout=5).status_code
            == 401
        ), path
        assert requests.get(layer.url + path, headers=_h(ADMIN), timeout=5).status_code == 200, path
        assert requests.get(layer.url + path, headers=_h(READER), timeout=5).status_code == 200, (
            path
        )
    assert requests.get(f"{layer.url}/healthz", timeout=5).status_code == 200
    body = requests.get(f"{layer.url}/v2/namespaces", timeout=5).json()
    assert body["error"]["code"] == "unauthorized"


def test_read_keys_cannot_write(emulator, backend_factory) -> None:
    write_docs(emulator.url, "ns", [{"id": 1}])
    layer = backend_factory(emulator.url, api_keys=(ADMIN,), read_keys=(READER,))
    q = {"rank_by": ["id", "asc"], "limit": 5}
    assert (
        requests.post(
            f"{layer.url}/v2/namespaces/ns/query", json=q, headers=_h(READER), timeout=5
        ).status_code
        == 200
    )
    w = requests.post(
        f"{layer.url}/v2/namespaces/ns",
        json={"upsert_rows": [{"id": 2}]},
        headers=_h(READER),
        timeout=5,
    )
    assert w.status_code == 403 and w.json()["error"]["code"] == "forbidden"
    d = requests.delete(f"{layer.url}/v2/namespaces/ns", headers=_h(READER), timeout=5)
    assert d.status_code == 403
    assert (
        requests.get(f"{emulator.url}/v2/namespaces/ns/metadata", timeout=5).json()[
            "approx_row_count"
        ]
        == 1
    )
    ok = requests.post(
        f"{layer.url}/v2/namespaces/ns",
        json={"upsert_rows": [{"id": 2}]},
        headers=_h(ADMIN),
        timeout=5,
    )
    assert ok.status_code == 200


def test_upstream_key_is_sent_upstream_not_the_callers(emulator_factory, backend_factory) -> None:
    emu = emulator_factory(api_key="tpuf-upstream-secret")
    layer = backend_factory(emu.url, api_keys=(ADMIN,), turbopuffer_api_key="tpuf-upstream-secret")
    w = requests.post(
        f"{layer.url}/v2/namespaces/ns",
        json={"upsert_rows": [{"id": 1}]},
        headers=_h(ADMIN),
        timeout=5,
    )
    assert w.status_code == 200, w.text
    r = requests.get(f"{layer.url}/v1/namespaces/ns/schema", headers=_h(ADMIN), timeout=5)
    assert r.status_code == 200
    assert "tpuf-upstream-secret" not in r.text and "tpuf-upstream-secret" not in str(r.headers)


def test_no_keys_means_loopback_only(tmp_path) -> None:
    settings = Settings.from_env(
        {}, kv_url=f"sqlite://{tmp_path}/kv.sqlite", object_store_url=f"file://{tmp_path}/obj"
    )
    client = create_app(settings).test_client()
    assert client.get("/healthz", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    r = client.get("/v2/namespaces", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert r.status_code == 403 and "loopback" in r.get_json()["error"]["message"]
    r = client.get("/v2/namespaces/x/metadata", environ_base={"REMOTE_ADDR": "::1"})
    assert r.status_code != 403


def test_whoami_names_the_role_and_the_upstream_never_the_key(emulator, backend_factory) -> None:
    layer = backend_factory(emulator.url, api_keys=(ADMIN,), read_keys=(READER,))
    admin = requests.get(f"{layer.url}/v2/whoami", headers=_h(ADMIN), timeout=5)
    assert admin.status_code == 200
    assert admin.json() == {
        "role": "admin",
        "upstream": emulator.url,
        "auth": "keys",
        "interactive_budget_ms": 2000,
    }
    reader = requests.get(f"{layer.url}/v2/whoami", headers=_h(READER), timeout=5).json()
    assert reader["role"] == "read"
    assert requests.get(f"{layer.url}/v2/whoami", timeout=5).status_code == 401
    assert ADMIN not in admin.text and READER not in admin.text
    open_layer = backend_factory(emulator.url)
    assert requests.get(f"{open_layer.url}/v2/whoami", timeout=5).json() == {
        "role": "loopback",
        "upstream": emulator.url,
        "auth": "loopback-only",
        "interactive_budget_ms": 2000,
    }
