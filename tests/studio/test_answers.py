"""The studio's answer forms beyond text: approve and deny a confirmation, and a
client tool's result written as JSON (a value that fits, and one the page must
refuse until it is fixed)."""

from __future__ import annotations

import httpx
from playwright.sync_api import Locator, expect

from .conftest import TOKEN, Studio
from .test_studio import node, start


def one_form(studio: Studio, component: str, **inputs: str) -> tuple[str, Locator]:
    """Open the studio, start `component`, and wait for its one pending form."""
    studio.open()
    run_id = start(studio, component, **inputs)
    form = studio.page.locator(".answers .pending")
    expect(form).to_have_count(1, timeout=10_000)
    return run_id, form


def test_a_confirmation_approved_runs_the_tool(studio: Studio) -> None:
    page = studio.page
    _, form = one_form(studio, "confirm", x="quiet")
    expect(form).to_contain_text("confirmation")
    expect(form.locator(".prompt")).to_contain_text("Run tool 'shout'")
    expect(page.locator(node("shout"))).to_have_attribute("data-state", "waiting")
    form.locator("button.approve").click()
    form.locator("button.answer-one").click()
    expect(page.locator(".run")).to_have_attribute("data-status", "finished", timeout=10_000)
    expect(page.locator(".outputs")).to_contain_text("QUIET")


def test_a_confirmation_denied_fails_the_run_with_the_refusal(studio: Studio) -> None:
    page = studio.page
    _, form = one_form(studio, "confirm", x="quiet")
    form.locator("button.answer-one").click()  # neither chosen yet: nothing is sent
    expect(form.locator(".error")).to_contain_text("write an answer first")
    expect(page.locator(".run")).to_have_attribute("data-status", "waiting")
    form.locator("button.deny").click()
    form.locator("button.answer-one").click()
    expect(page.locator(".run")).to_have_attribute("data-status", "failed", timeout=10_000)
    expect(page.locator(".run-error")).to_contain_text("running tool 'shout' was refused")
    expect(page.locator(node("shout"))).to_have_attribute("data-state", "failed")
    expect(page.locator(".outputs")).not_to_contain_text("QUIET")


def test_a_client_tool_result_is_written_as_json_and_fixed_when_wrong(studio: Studio) -> None:
    page = studio.page
    run_id, form = one_form(studio, "client", x="here")
    expect(form.locator(".tool-call")).to_contain_text('locate({"x":"here"})')
    editor = form.locator("textarea.answer-json")
    editor.fill('{"city": "Lisbon",')  # not JSON: refused on the page, nothing sent
    form.locator("button.answer-one").click()
    expect(form.locator(".error")).to_contain_text("not JSON")
    record = httpx.get(f"{studio.url}/v1/runs/{run_id}",
                       headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert record["status"] == "waiting"
    editor.fill('{"city": "Lisbon", "zip": 1000}')
    form.locator("button.answer-one").click()
    expect(page.locator(".run")).to_have_attribute("data-status", "finished", timeout=10_000)
    expect(page.locator(".outputs")).to_contain_text('"city": "Lisbon"')
    expect(page.locator(".outputs")).to_contain_text('"zip": 1000')


def test_a_typed_client_tool_is_answered_in_fields_the_server_checks(studio: Studio) -> None:
    page = studio.page
    _, form = one_form(studio, "measure", x="the table")
    expect(form.locator(".tool-call")).to_contain_text('measure({"x":"the table"})')
    width = form.locator("input[name=width]")
    expect(form.locator("textarea[name=unit]")).to_have_value("cm")  # its default
    expect(form.locator("textarea.answer-json")).to_have_count(0)
    form.locator("button.answer-one").click()  # no width: the server says what is missing
    expect(page.locator(".answers .error")).to_contain_text("has no 'width', which is required")
    width.fill("120")
    form.locator("button.answer-one").click()
    expect(page.locator(".run")).to_have_attribute("data-status", "finished", timeout=10_000)
    expect(page.locator(".outputs")).to_contain_text('"width": 120')
    expect(page.locator(".outputs")).to_contain_text('"unit": "cm"')


def test_a_form_answered_elsewhere_meanwhile_shows_the_conflict_and_the_run(
        studio: Studio) -> None:
    page = studio.page
    run_id, form = one_form(studio, "confirm", x="quiet")
    request_id = form.get_attribute("data-request")
    answered = httpx.post(f"{studio.url}/v1/runs/{run_id}/answers",
                          headers={"Authorization": f"Bearer {TOKEN}"},
                          json={"answers": {request_id: True}})
    assert answered.status_code == 200, answered.text
    form.locator("button.deny").click()  # too late: someone approved it already
    form.locator("button.answer-one").click()
    # The server's 409, then the run as it is now (its stale form gone).
    notice = page.locator(".run .notice .error")
    expect(notice).to_contain_text("not waiting")
    expect(notice).to_contain_text("the run has moved on")
    expect(page.locator(".run")).to_have_attribute("data-status", "finished", timeout=10_000)
    expect(page.locator(".answers .pending")).to_have_count(0)
    expect(page.locator(".outputs")).to_contain_text("QUIET")
