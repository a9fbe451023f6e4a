"""The API reference page in a real browser: Swagger UI renders every operation of the OpenAPI
document under the pages' Content-Security-Policy, with no request to another host and no
script error, and "Try it out" reaches the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

DESKTOP = {"width": 1280, "height": 900}


def docs_page(browser: Any, base_url: str, errors: list[str], elsewhere: list[str]) -> Page:
    """A fresh page that records script errors (a CSP refusal is one) and every request that
    leaves ``base_url``'s host."""
    page: Page = browser.new_context(base_url=base_url, viewport=DESKTOP).new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    host = urlsplit(base_url).netloc

    def check(request: Any) -> None:
        url = urlsplit(request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.netloc != host:
            elsewhere.append(request.url)

    page.on("request", check)
    return page


def test_the_docs_page_renders_every_operation(
    browser: Any, live_server: str, screenshots: Path
) -> None:
    errors: list[str] = []
    elsewhere: list[str] = []
    page = docs_page(browser, live_server, errors, elsewhere)
    document = page.request.get("/api/v1/openapi.json").json()
    operations = [
        (method, path) for path, methods in document["paths"].items() for method in methods
    ]

    page.goto("/api/v1/docs")
    expect(page).to_have_title("API reference · movierec")
    blocks = page.locator(".opblock")
    expect(blocks).to_have_count(len(operations), timeout=20_000)
    tags = [tag["name"] for tag in document["tags"]]
    expect(page.locator(".opblock-tag-section")).to_have_count(len(tags))
    for tag in tags:
        expect(page.locator(f'.opblock-tag[data-tag="{tag}"]')).to_be_visible()
    for method, path in operations:
        block = page.locator(f".opblock-{method}").filter(
            has=page.locator(f'.opblock-summary-path[data-path="{path}"]')
        )
        expect(block).to_have_count(1)
    retrain = page.locator(".opblock-post").filter(has_text="/api/v1/algorithms/{name}/retrain")
    expect(retrain.locator(".opblock-summary-description")).to_have_text(
        "Queue a retrain of name now (even when its data has not changed)"
    )
    expect(page.locator(".opblock-summary-description", has_text="`")).to_have_count(0)
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    expect(page.locator("a.docs-brand")).to_have_attribute("href", "/")
    page.screenshot(path=screenshots / "api_docs.png")

    # An operation opens on its answer's example and schema.
    recommendations = page.locator(".opblock-get").filter(
        has=page.locator(
            '.opblock-summary-path[data-path="/api/v1/users/{user_id}/recommendations"]'
        )
    )
    recommendations.locator(".opblock-summary").click()
    answer = recommendations.locator(".responses-wrapper")
    expect(answer).to_contain_text('"because"')
    expect(answer).to_contain_text('"reason"')
    answer.screenshot(path=screenshots / "api_docs-recommendations.png")
    recommendations.locator(".opblock-summary").click()

    # "Try it out" calls this server.
    genres = page.locator(".opblock-get").filter(
        has=page.locator('.opblock-summary-path[data-path="/api/v1/genres"]')
    )
    genres.locator(".opblock-summary").click()
    expect(genres.locator(".responses-wrapper")).to_contain_text('"items"')
    genres.get_by_role("button", name="Try it out").click()
    genres.get_by_role("button", name="Execute").click()
    expect(genres.locator(".live-responses-table tr.response .response-col_status")).to_have_text(
        "200", timeout=10_000
    )
    page.screenshot(path=screenshots / "api_docs-try-it-out.png", full_page=False)

    assert errors == []
    assert elsewhere == []
