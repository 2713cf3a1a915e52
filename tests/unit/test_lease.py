"""The watcher lease's holder identity."""

from __future__ import annotations


def test_lease_holder_is_per_process(tmp_path, monkeypatch) -> None:
    from backend.lease import Lease
    from backend.stores.registry import open_kv

    lease = Lease(open_kv(f"sqlite://{tmp_path}/kv.sqlite"), 5000)
    parent = lease.holder
    assert lease.acquire() and lease.holder == parent
    monkeypatch.setattr("os.getpid", lambda: 424242)  # as in a forked gunicorn worker
    child = lease.holder
    assert child != parent and ":424242:" in child and lease.generation is None
    assert not lease.acquire()  # the parent's unexpired lease is not the child's
