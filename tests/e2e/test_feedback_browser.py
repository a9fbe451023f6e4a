"""The cards' feedback buttons in chromium: "Not interested" folds the card into an undo line,
the undo brings it back, "+ Watchlist" toggles in place, and the watchlist page lists it; each
press is one request, stored (no page reload)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from server.db import Database
from server.models import Feedback, User
from server.services.accounts import create_account
from tests.e2e.test_browser import PHONE, log_in, new_page
from tests.server.test_web import PASSWORD


def given(database: Database, username: str) -> list[str]:
    with database.transaction() as session:
        return sorted(
            session.scalars(
                select(Feedback.type)
                .join(User, User.id == Feedback.user_id)
                .where(User.external_id == username)
            )
        )


def test_not_interested_folds_the_card_with_an_undo_and_the_watchlist_toggles(
    browser: Any, live_server: str, seeded: Database
) -> None:
    with seeded.transaction() as session:
        create_account(session, "ada", PASSWORD, "user")
    errors: list[str] = []
    page = new_page(browser, live_server, errors, viewport=PHONE)
    log_in(page, "ada")
    page.goto("/movies")
    card = page.locator("li.movie-card").first
    title = card.locator(".card-title").inner_text()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.method + " " + request.url))

    card.get_by_role("button", name=f"Not interested: {title}").click()
    expect(card.get_by_role("status")).to_contain_text(f"You won't see {title} again.")
    expect(card.locator(".card-title")).to_be_hidden()
    assert given(seeded, "ada") == ["not_interested"]
    card.get_by_role("button", name="Undo").click()
    expect(card.locator(".card-title")).to_be_visible()
    expect(card.get_by_role("status")).to_have_count(0)
    assert given(seeded, "ada") == []

    card.get_by_role("button", name=f"+ Watchlist: {title}").click()
    pressed = card.get_by_role("button", name=f"On your watchlist: {title}")
    expect(pressed).to_have_attribute("aria-pressed", "true")
    assert given(seeded, "ada") == ["watchlist"]
    assert [r for r in requests if r.startswith("GET") and "/movies" in r] == []  # no reload
    page.goto("/watchlist")
    wanted = page.locator(
        "section", has=page.get_by_role("heading", name="Movies you want to watch (1)")
    )
    expect(wanted.locator(".card-title")).to_have_text(title)
    assert errors == []
