"""The studio in a browser: the seed example live (four branches running at once, the
timeline, tokens, the final message, the trace), two waits answered from their forms,
cancel, and a reload in the middle of a run."""

from __future__ import annotations

import json
from typing import Any

import httpx
from playwright.sync_api import expect

from .conftest import TOKEN, Studio

BRANCH_TOOLS = ("get_current_time_step", "get_user_information_step",
                "get_user_last_purchases_step", "get_items_on_sale_step")


def node(name: str) -> str:
    return f'svg.graph .node[data-path$=" > {name}"]'


def start(studio: Studio, component: str, **inputs: str) -> str:
    page = studio.page
    page.click(f'.component-link[data-id="{component}"]')
    for name, value in inputs.items():
        page.fill(f"#in-{name}", value)
    page.click("button.run-button")
    page.wait_for_url("**/studio/#/runs/*")
    return page.url.rsplit("/", 1)[-1]


def test_the_seed_example_runs_live_with_its_branches_at_once(studio: Studio) -> None:
    studio.open()
    page = studio.page
    expect(page.locator(".component-link")).to_have_count(7)
    start(studio, "parallel_marketing", username="alice")
    # All four branches of the ParallelFlowNode in the running state at the same moment.
    page.wait_for_function("""names => names.every(name => {
        const el = document.querySelector(`svg.graph .node[data-path$=" > ${name}"]`);
        return el && el.dataset.state === "running"; })""", arg=list(BRANCH_TOOLS),
                           timeout=10_000)
    assert page.locator('svg.graph .cluster.kind-parallel[data-state="running"]').count() == 1
    page.wait_for_timeout(250)  # the bars of the timeline grow meanwhile
    studio.shot("live-run.png")
    expect(page.locator(".run")).to_have_attribute("data-status", "finished", timeout=15_000)
    expect(page.locator(".final-message")).to_contain_text("fake answer to:")
    for name in BRANCH_TOOLS:
        expect(page.locator(node(name))).to_have_attribute("data-state", "done")
    # The LLM's tokens came over the live stream into the node that produced them.
    assert int(page.locator(".run").get_attribute("data-tokens") or 0) > 0
    expect(page.locator(node("prepare_marketing_message") + " .tokens")).to_contain_text(
        "welcome message")  # the text's tail, as it streams
    # The timeline: one row per node, one per branch, the branches side by side in time.
    rows = page.locator("svg.timeline .row")
    labels = [rows.nth(i).get_attribute("data-label") for i in range(rows.count())]
    assert labels[0] == "parallel_flow_node" and set(BRANCH_TOOLS) <= set(labels[1:5])
    assert {rows.nth(i).get_attribute("data-depth") for i in range(1, 5)} == {"1"}
    studio.shot("timeline.png", page.locator(".timeline-box"))
    # The inspector shows a node's inputs and outputs.
    page.click(node("get_user_information_step"))
    expect(page.locator(".inspector")).to_contain_text("Lisbon")
    expect(page.locator(".inspector")).to_contain_text("alice")
    page.click(node("prepare_marketing_message"))
    expect(page.locator(".inspector")).to_contain_text("fake answer to: # Instructions")
    # The trace: the events as JSONL, the envelope of --trace.
    with page.expect_download() as download:
        page.click("button.download")
    lines = download.value.path().read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert events[0]["type"] == "FlowExecutionStart" and events[-1]["type"] == "FlowExecutionEnd"
    assert len(events) == int(page.locator(".run").get_attribute("data-events") or 0)


def test_two_waits_in_parallel_branches_are_answered_from_their_forms(studio: Studio) -> None:
    studio.open()
    page = studio.page
    streams: list[str | None] = []
    page.on("request", lambda r: streams.append(r.headers.get("last-event-id"))
            if r.url.endswith("/events") else None)
    start(studio, "two_asks")
    forms = page.locator(".answers .pending")
    expect(forms).to_have_count(2, timeout=10_000)
    expect(page.locator('svg.graph .node[data-state="waiting"]')).to_have_count(2)
    page.locator(".answers .pending textarea").first.fill("the first answer")
    page.locator(".answers .pending textarea").nth(1).fill("the second answer")
    studio.shot("answer-form.png")
    page.locator(".answers .pending").first.locator("button.answer-one").click()
    # The run goes on, waits again for the other branch: its one form is left.
    expect(page.locator(".answers .pending")).to_have_count(1, timeout=10_000)
    page.locator(".answers .pending textarea").fill("the second answer")
    page.locator(".answers .pending button.answer-one").click()
    expect(page.locator(".run")).to_have_attribute("data-status", "finished", timeout=10_000)
    expect(page.locator(".outputs")).to_contain_text("the second answer")
    expect(page.locator(".outputs")).to_contain_text("the first answer")
    # Each stream after the first went on from the last event seen (Last-Event-ID).
    assert streams[0] == "0" and all(int(seen or 0) > 0 for seen in streams[1:])
    assert len(streams) >= 3
    # Another run, both answered at once from the inbox.
    page.goto(studio.url + "/studio/#/components")
    start(studio, "two_asks")
    expect(page.locator(".answers .pending")).to_have_count(2, timeout=10_000)
    page.click("nav a[href='#/inbox']")
    run = page.locator(".inbox-run").first
    expect(run.locator(".pending")).to_have_count(2)
    run.locator(".pending textarea").first.fill("a")
    run.locator(".pending textarea").nth(1).fill("b")
    run.locator("button.answer-all").click()
    expect(page.locator(".inbox")).to_contain_text("No run is waiting.", timeout=10_000)


def test_a_running_run_is_cancelled_and_listed(studio: Studio) -> None:
    studio.open()
    page = studio.page
    run_id = start(studio, "hold", x="slow")
    expect(page.locator(node("hold"))).to_have_attribute("data-state", "running",
                                                         timeout=10_000)
    page.click("button.cancel")
    expect(page.locator(".run")).to_have_attribute("data-status", "cancelled", timeout=5_000)
    page.goto(studio.url + "/studio/#/runs")
    page.select_option("#filter-status", "cancelled")
    expect(page.locator(f'tr.run-row[data-run="{run_id}"]')).to_have_count(1)
    page.select_option("#filter-status", "finished")
    expect(page.locator(f'tr.run-row[data-run="{run_id}"]')).to_have_count(0)


def cut_after_two(studio: Studio, route: Any) -> None:
    """Answer the page's first event stream with its first two events only."""
    lines: list[str] = []
    with httpx.stream("GET", route.request.url, headers={"Authorization": f"Bearer {TOKEN}"},
                      timeout=10) as response:
        for line in response.iter_lines():
            lines.append(line)
            if len([x for x in lines if x.startswith("data:")]) == 2 and line == "":
                break
    route.fulfill(status=200, headers={"Content-Type": "text/event-stream"},
                  body="\n".join(lines) + "\n")


def test_a_reload_in_the_middle_of_a_run_picks_it_up(studio: Studio) -> None:
    studio.open()
    page = studio.page
    streams: list[str | None] = []
    page.on("request", lambda r: streams.append(r.headers.get("last-event-id"))
            if r.url.endswith("/events") else None)
    page.route("**/v1/runs/*/events", lambda route: cut_after_two(studio, route), times=1)
    start(studio, "hold", x="slow")
    expect(page.locator(node("hold"))).to_have_attribute("data-state", "running",
                                                         timeout=10_000)
    # The first stream was cut after two events (as a proxy may): the page read the rest
    # from there (the tool's request is the third), nothing twice.
    expect(page.locator(".run")).to_have_attribute("data-events", "3", timeout=5_000)
    assert streams[:2] == ["0", "2"]
    expect(page.locator(".run")).to_have_attribute("data-conn", "live")
    page.reload()  # the token is kept in sessionStorage: no dialog
    expect(page.locator(node("hold"))).to_have_attribute("data-state", "running",
                                                         timeout=10_000)
    expect(page.locator(".run")).to_have_attribute("data-status", "running")
    studio.gate.event.set()
    expect(page.locator(".run")).to_have_attribute("data-status", "finished", timeout=10_000)
    expect(page.locator(".outputs")).to_contain_text("slow!")


def test_a_failed_node_shows_its_error_in_the_inspector(studio: Studio) -> None:
    studio.open()
    page = studio.page
    start(studio, "boom", x="cheese")
    expect(page.locator(".run")).to_have_attribute("data-status", "failed", timeout=10_000)
    expect(page.locator(node("boom"))).to_have_attribute("data-state", "failed")
    expect(page.locator(".run-error")).to_contain_text("no way with cheese")
    page.click(node("boom"))
    expect(page.locator(".inspector .error")).to_contain_text("no way with cheese")
