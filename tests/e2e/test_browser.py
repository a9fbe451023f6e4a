"""A person's way through the pages in a real browser, with a real worker keeping the
recommendations live: sign up, onboard, rate, watch "For you" change, log out and in; an admin
retrains; a forged form is refused; a non-admin is kept out of the admin page."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect
from sqlalchemy import func, select

from server.db import Database
from server.models import Movie, RatingEvent, User
from server.services.accounts import create_account
from tests.e2e.conftest import LiveSystem

PASSWORD = "correct horse battery"
# How long the system may take to do what a step waits for on a loaded machine (it takes well
# under a second on an idle one).
SYSTEM_SECONDS = 120
PHONE = {"width": 390, "height": 844}


def new_page(browser: Any, base_url: str, errors: list[str], **options: Any) -> Page:
    """A page in a fresh browser context (its own cookies) that records script errors."""
    page: Page = browser.new_context(base_url=base_url, **options).new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    return page


def log_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def reload_until(page: Page, condition: Callable[[], bool], pending: str) -> None:
    """Reload the page until ``condition`` holds (what the worker does shows on a reload), for
    ``SYSTEM_SECONDS`` at most; the failure names what was ``pending``."""
    deadline = time.monotonic() + SYSTEM_SECONDS
    while time.monotonic() < deadline:
        page.reload()
        if condition():
            return
        page.wait_for_timeout(1000)
    raise AssertionError(f"after {SYSTEM_SECONDS} s, still waiting for {pending}")


def wait_until_processed(database: Database, username: str) -> None:
    """Wait (up to ``SYSTEM_SECONDS``) until the worker processed every event of ``username``;
    the failure says how many were still waiting."""
    deadline = time.monotonic() + SYSTEM_SECONDS
    while True:
        with database.transaction() as session:
            waiting = session.scalar(
                select(func.count())
                .select_from(RatingEvent)
                .join(User, User.id == RatingEvent.user_id)
                .where(User.external_id == username, RatingEvent.processed_at.is_(None))
            )
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{waiting} rating events of {username!r} still unprocessed after "
                f"{SYSTEM_SECONDS} s: is the worker running? (its log follows the test)"
            )
        time.sleep(0.2)


def for_you_titles(page: Page) -> list[str]:
    return page.locator("#top-picks .card-title a").all_inner_texts()


def same_row(first: Locator, second: Locator) -> bool:
    """Whether two elements sit on one line (their tops within a few pixels)."""
    top, other = first.bounding_box(), second.bounding_box()
    assert top and other
    return abs(top["y"] - other["y"]) < 8


def rating_events(database: Database, username: str, movie: str) -> int:
    """How many rating events ``username`` wrote for ``movie``: one per save."""
    with database.transaction() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(RatingEvent)
                .join(User, User.id == RatingEvent.user_id)
                .join(Movie, Movie.id == RatingEvent.movie_id)
                .where(User.external_id == username, Movie.external_id == movie)
            )
            or 0
        )


def test_sign_up_onboard_rate_and_see_for_you_change(
    browser: Any, live_system: LiveSystem, screenshots: Path
) -> None:
    live_server = live_system.url
    errors: list[str] = []
    page = new_page(browser, live_server, errors, viewport=PHONE)

    page.goto("/signup")
    expect(page).to_have_title(re.compile("Sign up"))
    page.get_by_label("Username").fill("newcomer")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()

    expect(page).to_have_url(re.compile(r"/welcome$"))
    page.get_by_label("Drama").check()
    page.get_by_label("Comedy").check()
    page.screenshot(path=screenshots / "onboarding-genres.png", full_page=True)
    page.get_by_role("button", name="Next: rate a few movies").click()

    expect(page).to_have_url(re.compile(r"/welcome/rate$"))
    groups = page.locator("fieldset.stars")
    expect(groups.first).to_be_visible()
    expect(page.locator("ul.onboarding img.poster").first).to_be_visible()
    for index, stars in enumerate(["5 stars", "4.5 stars", "4 stars", "2 stars", "1 star"]):
        groups.nth(index).get_by_title(stars, exact=True).click()
    groups.nth(5).get_by_text("Haven't seen it").click()
    expect(groups.nth(5).get_by_label("Haven't seen it")).to_be_checked()
    page.screenshot(path=screenshots / "onboarding-rate.png", full_page=True)
    page.get_by_role("button", name="See my recommendations").click()

    expect(page).to_have_url(re.compile(r"/for-you$"))
    expect(page.locator("#top-picks .source")).to_contain_text("From ")
    before = for_you_titles(page)
    assert before, "no recommendations after onboarding"
    headings = page.locator("section.row h2").all_inner_texts()
    assert headings[0] == "Top picks for you"
    assert any(heading.startswith("Because you rated") for heading in headings), headings
    assert {"Top Drama for you", "Top Comedy for you"} <= set(headings), headings
    # Every card has a poster that loaded (drawn by movierec: nothing from the internet).
    expect(page.locator("#top-picks img.poster").first).to_be_visible()
    # Wait for the browser to report the image decoded: on a busy machine it lands after the card.
    page.wait_for_function(
        "() => { const image = document.querySelector('#top-picks img.poster');"
        " return image !== null && image.complete && image.naturalWidth > 0; }",
        timeout=SYSTEM_SECONDS * 1000,
    )
    page.screenshot(path=screenshots / "for-you.png", full_page=True)

    # Rate the top recommendation in another tab; this tab's list follows without a reload.
    movie_tab = page.context.new_page()
    movie_tab.goto(live_server + "/for-you")
    movie_tab.locator("#top-picks .card-title a").first.click()
    expect(movie_tab.get_by_role("heading", level=1)).to_contain_text(before[0])
    movie_id = movie_tab.url.rstrip("/").rsplit("/", 1)[-1]
    expect(movie_tab.get_by_role("button", name="Rate")).to_be_hidden()  # the stars save
    halves = movie_tab.locator(".rating-form label.half")
    assert same_row(halves.first, halves.last)  # five stars on one row at 390 px
    # With the keyboard: focus the first star, then arrow right from 0.5 to 3: one save.
    movie_tab.get_by_label("0.5 stars", exact=True).focus()
    for _ in range(5):
        movie_tab.keyboard.press("ArrowRight")
    expect(movie_tab.locator(".rating-form .status")).to_have_text("Saved: 3 stars.")
    assert rating_events(live_system.database, "newcomer", movie_id) == 1
    expect(movie_tab.locator("[data-average-line]")).to_contain_text("average from")
    movie_tab.screenshot(path=screenshots / "movie.png", full_page=True)
    movie_tab.reload()
    expect(movie_tab.locator(".rating-form .status")).to_have_text("You rated it 3 stars.")
    expect(movie_tab.get_by_label("3 stars", exact=True)).to_be_checked()
    # What the system reports, not a fixed wait: the worker processes the rating's event, then
    # the page's own polling (every second) shows the refreshed list.
    wait_until_processed(live_system.database, "newcomer")
    top = page.locator("#top-picks .card-title a").first
    pending = f"the event was processed, but the page still shows {before[0]!r} first"
    expect(top, pending).not_to_have_text(before[0], timeout=SYSTEM_SECONDS * 1000)
    assert before[0] not in for_you_titles(page)  # a rated movie is not recommended again

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You are logged out.")).to_be_visible()
    page.goto("/for-you")
    expect(page).to_have_url(re.compile(r"/login"))
    log_in(page, "newcomer")
    expect(page).to_have_url(re.compile(r"/for-you$"))
    assert for_you_titles(page)

    assert not errors, errors
    page.goto("/admin")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    errors.clear()  # the browser logs the 403 it was just given

    # A form posted without its CSRF token (as another site would) is refused.
    forged = page.request.post(live_server + "/movies/1/rating", form={"rating": "5"})
    assert forged.status == 400

    page.goto("/movies?q=the")
    page.screenshot(path=screenshots / "movies.png", full_page=True)
    page.goto("/profile")
    expect(page.get_by_role("button", name="Save")).to_have_count(0)  # a choice saves itself
    first = page.locator("form.rating-form.compact").first  # at 390 px, side by side
    assert same_row(first.locator("select"), first.get_by_role("button", name="Remove"))
    page.screenshot(path=screenshots / "profile.png", full_page=True)
    # A new token is copied with one click.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_label("Token name").fill("laptop")
    page.get_by_role("button", name="Create token").click()
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("status").last).to_have_text("Copied.")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.get_by_label("Your token").input_value() and copied.startswith("mr_")
    # The same pages at desktop width.
    desktop = new_page(browser, live_server, errors, viewport={"width": 1280, "height": 900})
    desktop.goto("/")
    desktop.screenshot(path=screenshots / "home-1280.png", full_page=True)
    log_in(desktop, "newcomer")
    for name, path in [
        ("for-you", "/for-you"),
        ("movie", f"/movies/{movie_id}"),
        ("movies", "/movies?q=the"),
        ("onboarding-rate", "/welcome/rate"),
    ]:
        desktop.goto(path)
        desktop.screenshot(path=screenshots / f"{name}-1280.png", full_page=True)
    assert not errors, errors


def test_an_admin_retrains_and_imports_from_the_admin_page(
    browser: Any, live_system: LiveSystem, screenshots: Path, tmp_path: Path
) -> None:
    with live_system.database.transaction() as session:
        create_account(session, "boss", PASSWORD, role="admin")
    errors: list[str] = []
    page = new_page(browser, live_system.url, errors)
    log_in(page, "boss")
    page.goto("/admin")
    als = page.locator("section.algorithm", has=page.get_by_role("heading", name="als", exact=True))
    expect(als.locator(".active-version")).to_have_text("1")
    als.get_by_role("button", name="Retrain als").click()
    expect(page.get_by_text("Retraining als")).to_be_visible()
    # The worker trains, evaluates and promotes version 2.
    reload_until(
        page,
        lambda: als.locator(".active-version").inner_text() == "2",
        "als version 2 to be trained and active (see the worker's log below)",
    )

    # New movies (ids the catalogue does not have: an import never merges two catalogues) in
    # the import directory of the settings.
    more = tmp_path / "data" / "imports" / "more-movies"
    more.mkdir(parents=True)
    (more / "movies.csv").write_text(
        "movieId,title,genres\n9001,Heat (1995),Action|Crime\n9002,Alien (1979),Horror|Sci-Fi\n"
    )
    (more / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,9001,4.5,1000000000\n2,9002,4.0,1000000001\n"
    )
    page.get_by_label(re.compile("Dataset path")).fill(str(more))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("Import queued")).to_be_visible()
    last_import = page.locator(".last-import")
    reload_until(
        page,
        lambda: last_import.count() > 0 and "done" in last_import.inner_text(),
        "the worker to finish the import (see the worker's log below)",
    )
    expect(last_import).to_contain_text("done: added")
    page.screenshot(path=screenshots / "admin.png", full_page=True)
    assert not errors, errors
