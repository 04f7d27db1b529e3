"""The pages in a real browser: Debian's Chromium driven by Playwright against `leadscore
serve` with a token, on a SQLite store holding the simulation the session's models were
trained on, carried two months further (so `leadscore monitor` has periods to judge), rescored
twice a week apart (so some leads are recycled), with the funnel and monitor reports kept there.

Set LEADSCORE_SCREENSHOTS=docs/pages to refresh the README's screenshots.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import polars as pl
import pytest
from harness import TOKEN, Server, Store, start_server, using

from leadscore.cli import main
from leadscore.settings import default_config, load_config
from leadscore.simulator.config import SimulationConfig
from leadscore.simulator.simulate import run_simulation

CHROMIUM = Path("/usr/bin/chromium")
LOCAL = {"127.0.0.1", "localhost"}
PAGES = ("/pages/funnel", "/pages/tonight", "/pages/health")
DATA = ("/pages/api/funnel", "/pages/api/tonight", "/pages/api/tonight.csv", "/pages/api/health")


@pytest.fixture(scope="module", autouse=True)
def chromium() -> None:
    """.ci/run installs Debian's chromium: without it these tests fail, never skip."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (as .ci/run does)")


@pytest.fixture(scope="module")
def site(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """The service over a store holding the data, two nightly rescores and both reports;
    yields the server and the folder with the data and the commands' outputs."""
    folder = tmp_path_factory.mktemp("pages")
    config = load_config(default_config("simulate"), SimulationConfig)
    run_simulation(config, folder / "sim", months=14, leads_per_month=1_500, seed=7)
    url = f"sqlite:///{folder}/store.db"
    end = pl.read_parquet(folder / "sim" / "events.parquet")["ts"].max()
    with pytest.MonkeyPatch.context() as patch, using(store):
        patch.setenv("LEADSCORE_STORE_URL", url)
        assert main(["store", "init"]) == 0
        assert main(["store", "load", str(folder / "sim")]) == 0
        for night, as_of in (("before", end - timedelta(days=7)), ("tonight", end)):
            out = ["--out", str(folder / night), "--as-of", as_of.isoformat()]
            assert main(["rescore", "--data", url, *out]) == 0
        assert main(["funnel", "--data", url, "--json", str(folder / "funnel.json")]) == 0
        monitored = main(["monitor", "--data", url, "--json", str(folder / "monitor.json")])
        assert monitored in (0, 2)
    server = start_server(store, folder / "server", token=TOKEN, store_url=url)
    yield server, folder
    server.stop()


def test_without_the_token_pages_and_data_answer_401(site: tuple[Server, Path]) -> None:
    server, _ = site
    forged = {"Cookie": "leadscore_session=" + "0" * 64}
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        for path in (*PAGES, "/pages/lead/L1", *DATA, "/pages/api/lead/L1"):
            for headers in ({}, forged, {"Authorization": "Bearer wrong"}):
                answer = anonymous.get(path, headers=headers)
                assert answer.status_code == 401, (path, headers)
                assert "L1" not in answer.text.replace("/pages/lead/L1", "")
        wrong = anonymous.post("/pages/login", data={"token": "nope"})
        assert wrong.status_code == 401 and "wrong token" in wrong.text
        assert anonymous.post("/pages/login", json={"token": TOKEN}).status_code == 415
        logged = anonymous.post("/pages/login?next=/pages/tonight", data={"token": TOKEN})
        assert logged.status_code == 303 and logged.headers["location"] == "/pages/tonight"
        cookie = logged.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
        assert anonymous.get("/pages/api/tonight").status_code == 200  # the session cookie
    with server.client() as client:  # the bearer token, as a script sends it
        assert [client.get(path).status_code for path in (*PAGES, *DATA)] == [200] * 7


def test_bad_parameters_are_a_400_naming_them(site: tuple[Server, Path]) -> None:
    server, _ = site
    with server.client() as client:
        for query, field in (
            ("page=0", "page"),
            ("per_page=abc", "per_page"),
            ("sort=price", "sort"),
            ("route=hot", "route"),
            ("colour=red", "colour"),
            ("tier=" + "x" * 300, "tier"),
        ):
            answer = client.get(f"/pages/api/tonight?{query}")
            assert answer.status_code == 400, query
            assert answer.json()["fields"][0]["field"] == field
        unknown = client.get("/pages/api/lead/nobody-42")
        assert unknown.status_code == 404 and "'nobody-42'" in unknown.json()["error"]


def test_the_pages_in_a_browser(site: tuple[Server, Path]) -> None:
    from playwright.sync_api import sync_playwright

    server, folder = site
    shots = Path(os.environ.get("LEADSCORE_SCREENSHOTS") or folder / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.on("request", lambda request: requested.append(request.url))

        # The funnel page asks for the token first, then shows `leadscore funnel`'s figures.
        page.goto(f"{server.url}/pages/funnel")
        page.fill("#token", TOKEN)
        page.click("main form button[type=submit]")
        page.wait_for_selector("main[data-ready=true]")
        assert page.url.endswith("/pages/funnel")
        funnel = json.loads((folder / "funnel.json").read_text())
        shown = {
            key: float(page.get_attribute(f"[data-figure={key}]", "data-value") or "nan")
            for key in ("leads", "clv_pln", "allowable_acquisition_cost_pln", "step1", "step3")
        }
        money = funnel["economics"]
        assert shown == {
            "leads": funnel["leads"],
            "clv_pln": money["clv_pln"],
            "allowable_acquisition_cost_pln": money["allowable_acquisition_cost_pln"],
            "step1": funnel["steps"][1]["rate"]["rate"],
            "step3": funnel["steps"][3]["rate"]["rate"],
        }
        text = page.inner_text("main")
        assert f"{funnel['leads']:,}" in text and f"{money['clv_pln']:,.0f} PLN" in text
        _screenshot(page, shots / "funnel.png")

        # Tonight's list: the last rescore's leads sent to active sales, best score first.
        page.goto(f"{server.url}/pages/tonight")
        page.wait_for_selector("main[data-ready=true]")
        scores = pl.read_parquet(folder / "tonight" / "scores.parquet")
        sent = scores.filter(pl.col("route") == "active_sales").sort(
            ["score", "lead_id"], descending=[True, False]
        )
        rows = page.locator("#tonight tbody tr")
        shown_ids = rows.locator("a.lead").all_inner_texts()
        assert shown_ids == sent["lead_id"].head(50).to_list()
        assert f"{sent.height:,} leads" in page.inner_text(".pager")
        _screenshot(page, shots / "tonight.png")

        # A lead's trail: the partner who brought it, and the models that routed it.
        shown_rows = sent.head(50)
        brought = shown_rows.filter(pl.col("partner_id").is_not_null())
        first = (brought if brought.height else shown_rows).row(0, named=True)
        page.click(f"#tonight a.lead >> text={first['lead_id']}")
        page.wait_for_selector("main[data-ready=true]")
        leads = pl.read_parquet(folder / "sim" / "leads.parquet")
        lead = leads.filter(pl.col("lead_id") == first["lead_id"]).row(0, named=True)
        assert page.get_attribute("[data-figure=partner_id]", "data-value") == (
            lead["partner_id"] or ""
        )
        changes = page.locator("table.attribution tbody tr").all_inner_texts()
        assert any(f"partner_id\t{lead['partner_id'] or 'none'}" in row for row in changes)
        models = page.locator("table.decisions .models").all_inner_texts()
        version = (
            f"conversion v{first['conversion_version']} · velocity v{first['velocity_version']}"
        )
        assert models and set(models) == {version}  # a decision of each night it was rescored
        _screenshot(page, shots / "lead.png")

        # Model health: champion v1 against challenger v2, and the monitor's verdict.
        page.goto(f"{server.url}/pages/health")
        page.wait_for_selector("main[data-ready=true]")
        assert page.get_attribute("[data-figure=champion]", "data-value") == "1"
        assert page.get_attribute("[data-figure=challenger]", "data-value") == "2"
        monitor = json.loads((folder / "monitor.json").read_text())
        state = "breach" if monitor["breaches"] else "healthy"
        assert page.get_attribute("#alert", "data-state") == state
        _screenshot(page, shots / "health.png")
        browser.close()
    hosts = {urlsplit(url).hostname for url in requested if not url.startswith("data:")}
    assert hosts == {"127.0.0.1"} and hosts <= LOCAL
    assert len(requested) >= 12  # every page, script, style and data endpoint was seen


def test_the_csv_export_holds_every_row_of_the_view(site: tuple[Server, Path]) -> None:
    server, folder = site
    with server.client() as client:
        answer = client.get("/pages/api/tonight.csv?route=active_sales")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    exported = pl.read_csv(answer.content, schema_overrides={"lead_id": pl.String})
    scores = pl.read_parquet(folder / "tonight" / "scores.parquet")
    sent = scores.filter(pl.col("route") == "active_sales")
    assert sorted(exported["lead_id"].to_list()) == sorted(sent["lead_id"].to_list())
    assert exported["score"].to_list() == sorted(exported["score"].to_list(), reverse=True)


def _screenshot(page: Any, path: Path) -> None:
    """The viewport as a PNG of at most 64 colours: a few dozen KB for the README."""
    from PIL import Image

    page.screenshot(path=path)
    Image.open(path).convert("RGB").quantize(colors=64).save(path, optimize=True)
