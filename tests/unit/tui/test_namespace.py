"""Namespace screen: metadata, history paging, histogram and diff, jobs, new snapshot."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import DataTable, Input, Label, Select, Static

from common.api_client import LayerUnreachable
from tests.unit.tui import payloads
from tests.unit.tui.helpers import settle, wait_until
from tui.app import LayerDashboard
from tui.fake import FakeLayerClient
from tui.screens.namespace import NamespaceScreen
from tui.screens.new_snapshot import FormError, NewSnapshotScreen, validate
from tui.widgets.histogram import Histogram, bar, render_body
from tui.widgets.jobs import JobItem

SIZE = (100, 30)


async def open_products(app: LayerDashboard, pilot: object, **kwargs: object) -> NamespaceScreen:
    await settle(pilot)  # type: ignore[arg-type]
    app.open_namespace("products", **kwargs)  # type: ignore[arg-type]
    await settle(pilot)  # type: ignore[arg-type]
    assert isinstance(app.screen, NamespaceScreen)
    return app.screen


def detail(screen: NamespaceScreen) -> str:
    return str(screen.query_one(Histogram).render())


async def test_metadata_and_layer_block(make_app: Callable[..., LayerDashboard]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_products(app, pilot)
        meta = str(screen.query_one("#meta", Static).render())
        assert "✓ stable" in meta
        assert "✓ stable as of 09:06:47 UTC (3s ago)" in meta
        assert "cache warm" in meta
        assert "12.5k rows · 48.8 MB · index up-to-date" in meta
        assert "category:string" in meta


async def test_history_pages_with_before(
    make_app: Callable[..., LayerDashboard], fake: FakeLayerClient
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_products(app, pilot)
        table = screen.query_one("#history", DataTable)
        assert table.row_count == 50
        assert not screen.history_done
        first_sha = screen.history[0]["sha"]
        assert table.get_row_index(first_sha) == 0  # newest first
        table.move_cursor(row=47)
        await settle(pilot)
        assert table.row_count == 60
        assert screen.history_done
        befores = [args[2] for args in fake.calls_to("history")]
        assert befores[-1] == screen.history[49]["sha"]
        assert len({e["sha"] for e in screen.history}) == 60


async def test_enter_shows_histogram(make_app: Callable[..., LayerDashboard]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_products(app, pilot)
        await pilot.press("enter")
        await settle(pilot)
        text = detail(screen)
        assert f"Snapshot {screen.history[0]['sha'][:12]}" in text
        assert "category  3 values" in text
        assert "books" in text and "1,240" in text and "█" in text
        assert "tags  skipped: exceeded_cap — 247,000 distinct observed (cap 10,000)" in text


async def test_marking_two_entries_shows_diff(
    make_app: Callable[..., LayerDashboard], fake: FakeLayerClient
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_products(app, pilot)
        await pilot.press("space", "down", "space")
        await settle(pilot)
        newest, older = screen.history[0]["sha"], screen.history[1]["sha"]
        assert fake.calls_to("diff")[-1] == ("products", older, newest)
        text = detail(screen)
        assert f"Diff {older[:12]} → {newest[:12]}" in text
        assert "category  changed" in text
        assert "garden" in text and "+120" in text
        assert "toys" in text and "-15" in text
        assert "brand  unchanged" in text
        table = screen.query_one("#history", DataTable)
        assert str(table.get_cell(newest, "mark")) == "●"
        await pilot.press("c")
        assert str(table.get_cell(newest, "mark")) == ""


async def test_jobs_listed_with_progress(make_app: Callable[..., LayerDashboard]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_products(app, pilot)
        items = list(screen.query(JobItem))
        newest, older = payloads.completed_job(), payloads.failed_job()
        assert [i.job_id for i in items] == [newest["id"], older["id"]]  # newest first
        assert items[0].has_class("completed")
        assert items[1].has_class("failed")
        # A stored job scanned nothing: it says so instead of "0 docs".
        assert str(items[0].query_one(".job-status", Label).render()) == (
            f"stored {newest['sha'][:7]}"
        )
        screen.show_job(items[1].job)
        text = detail(screen)
        assert "unsupported_filter" in text
        assert f"Job {older['id'][:8]}" in text
        assert 'filters ["tags", "Glob", "sale*"]' in text


async def test_new_snapshot_job_runs_to_completion(
    make_app: Callable[..., LayerDashboard], fake: FakeLayerClient
) -> None:
    fake.job_steps = 30  # enough polls that the bar is seen between 0 and 1 on a busy machine
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_products(app, pilot)
        await pilot.press("s")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, NewSnapshotScreen)
        assert form.query_one("#field", Input).value == "category"  # suggested from the schema
        form.query_one("#source", Select).value = "origin"
        form.query_one("#filters", Input).value = '["brand", "Eq"'  # broken JSON
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "filters: invalid JSON" in str(form.query_one("#form-error", Static).render())
        assert fake.calls_to("create_snapshot") == []
        form.query_one("#filters", Input).value = '["brand", "Eq", "Acme"]'
        form.query_one("#page-size", Input).value = "500"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        assert fake.calls_to("create_snapshot") == [
            ("products", "category", "origin", ["brand", "Eq", "Acme"], 500)
        ]
        job_id = fake.jobs("products")[0]["id"]
        assert job_id in screen.jobs
        progress_seen: set[float] = set()

        def done() -> bool:
            job = screen.jobs.get(job_id) or {}
            progress_seen.add(float(job.get("progress") or 0))
            return job.get("status") == "completed"

        await wait_until(pilot, done, timeout=40)
        await settle(pilot)
        assert len(progress_seen) >= 2  # the bar moved through intermediate values
        item = next(i for i in screen.query(JobItem) if i.job_id == job_id)
        assert item.has_class("completed")
        text = detail(screen)
        assert f"Job {job_id[:8]}" in text and "completed" in text
        assert "category  " in text and "█" in text


async def test_s_from_inventory_opens_the_form(make_app: Callable[..., LayerDashboard]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#inventory", DataTable)
        table.move_cursor(row=table.get_row_index("products"))
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, NewSnapshotScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, NamespaceScreen)


async def test_backend_failure_shows_banner(
    make_app: Callable[..., LayerDashboard], fake: FakeLayerClient
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_products(app, pilot)
        fake.failure = LayerUnreachable("cannot connect")
        await pilot.press("r")
        await settle(pilot)
        assert "Backend unreachable" in str(screen.banner.render())
        assert screen.query_one("#history", DataTable).row_count == 50  # data kept


async def test_metadata_error_namespace_opens(make_app: Callable[..., LayerDashboard]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_namespace("broken-ns")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, NamespaceScreen)
        assert "502 upstream_error" in str(screen.banner.render())


def test_form_validation() -> None:
    assert validate("category", "auto", "", "1000") == {
        "field": "category",
        "source": "auto",
        "page_size": 1000,
    }
    for args, message in [
        (("", "auto", "", "1"), "field"),
        (("f", "nope", "", "1"), "source"),
        (("f", "auto", "{", "1"), "invalid JSON"),
        (("f", "auto", '{"a": 1}', "1"), "JSON array"),
        (("f", "auto", "", "0"), "between 1 and 10000"),
        (("f", "auto", "", "x"), "integer"),
    ]:
        try:
            validate(*args)
        except FormError as exc:
            assert message in str(exc)
        else:
            raise AssertionError(f"{args} should fail")


def test_histogram_rendering() -> None:
    assert bar(1.0, 4) == "████"
    assert bar(0.0, 4) == ""
    assert bar(0.001, 4) == "▏"
    entries, bodies = payloads.products_history()
    text = render_body(bodies[entries[0]["sha"]], 60).plain
    lines = [line for line in text.splitlines() if line.startswith("  books")]
    assert lines and len(lines[0]) <= 60


async def test_history_pages_on_mouse_scroll(make_app: Callable[..., LayerDashboard]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_products(app, pilot)
        table = screen.query_one("#history", DataTable)
        table.scroll_end(animate=False, immediate=True)
        await settle(pilot)
        assert table.cursor_row == 0  # the cursor did not move
        assert table.row_count == 60
