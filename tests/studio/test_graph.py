"""The studio's graph: control edges solid, the data edges (from ``?data=1``) dashed
beside them, their output → input on hover; the layout still follows control edges."""

from __future__ import annotations

from playwright.sync_api import expect

from .conftest import Studio


def dashes(studio: Studio, selector: str) -> set[str]:
    return set(studio.page.eval_on_selector_all(
        selector, "paths => paths.map(p => getComputedStyle(p).strokeDasharray)"))


def test_data_edges_are_drawn_dashed_beside_the_control_edges(studio: Studio) -> None:
    studio.open()
    page = studio.page
    page.click('.component-link[data-id="parallel_marketing"]')
    data = page.locator(".component svg.graph path.edge-data")
    expect(data).to_have_count(13)  # the example's 13 DataFlowEdges
    assert page.locator(".component svg.graph path.edge-control").count() == 12
    assert dashes(studio, ".component svg.graph path.edge-data") == {"5px, 3px"}
    assert dashes(studio, ".component svg.graph path.edge-control") == {"none"}
    labels = data.evaluate_all("paths => paths.map(p => p.querySelector('title').textContent)")
    assert "user_info" in labels and "username" in labels
    assert data.first.get_attribute("marker-end") == "url(#arrow-data)"
    # Nodes are laid out by control edges only: the start is above the parallel node.
    start = page.locator('svg.graph .node[data-path="marketing_message_flow > start"]').bounding_box()
    fan = page.locator('svg.graph .cluster.kind-parallel').bounding_box()
    assert start and fan and start["y"] + start["height"] < fan["y"]


def test_a_run_view_draws_the_data_edges_too(studio: Studio) -> None:
    studio.open()
    page = studio.page
    page.click('.component-link[data-id="hold"]')
    page.fill("#in-x", "a")
    page.click("button.run-button")
    page.wait_for_url("**/studio/#/runs/*")
    implicit = page.locator(".run svg.graph path.edge-implicit")  # wired by name
    expect(implicit).to_have_count(2)
    assert dashes(studio, ".run svg.graph path.edge-implicit") == {"1.5px, 2.5px"}
    studio.gate.event.set()
    expect(page.locator(".run")).to_have_attribute("data-status", "finished", timeout=15_000)
