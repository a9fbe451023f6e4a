"""How a movie is shown to a person: its title as people write it and where its poster is.

MovieLens writes a leading article after the title ("Matrix, The (1999)" is stored as
"Matrix, The"); people write "The Matrix". The stored title stays as the dataset gave it (ids
and re-imports compare it); pages and the API show ``display_title``.
"""

from __future__ import annotations

import re
import string
from html import escape

# Articles MovieLens moves to the end, in the languages its titles use.
_ARTICLES = (
    "The|A|An|Les|La|Le|L'|Il|Lo|I|Gli|Das|Der|Die|Den|Det|De|El|Los|Las|Un|Una|Une|O|Os|As"
    "|Ein|Eine"
)
# "Body, Article" optionally followed by an alternative title in parentheses:
# "City of Lost Children, The (Cité des enfants perdus, La)".
_TRAILING_ARTICLE = re.compile(rf"^(?P<body>.+?), (?P<article>{_ARTICLES})(?P<rest>\s*\(.*\))?$")

_PARENTHESES = re.compile(r"\(([^()]*)\)")

POSTER_FIELDS = frozenset({"poster_path", "tmdb_id", "imdb_id", "movie_id"})
# The longest poster path the ``movies.poster_path`` column holds.
POSTER_PATH_LENGTH = 300
# What a poster path may be: TMDb's "/abc.jpg" (joined to the template) or a full http(s) URL.
# Anything else in a dataset or an answer from TMDb is dropped: it ends up in an <img src>.
# The API's schema checks the same pattern, so it is written in ASCII classes that every regex
# engine reads alike (Python's, pydantic's and JSON Schema's disagree on what \s holds): a URL's
# characters as RFC 3986 lists them (others percent-encoded), less the quote.
POSTER_PATH_PATTERN = r"^(/[A-Za-z0-9._~%/-]+|https?://[A-Za-z0-9._~%!$&()*+,;=:@/?#\[\]-]+)$"
_POSTER_PATH = re.compile(POSTER_PATH_PATTERN)


def display_title(title: str | None) -> str | None:
    """``title`` with a trailing article moved to the front ("Matrix, The" -> "The Matrix")."""
    if not title:
        return title
    found = _TRAILING_ARTICLE.match(title)
    if found is None:
        return title
    article = found["article"]
    joiner = "" if article.endswith("'") else " "
    # Alternative titles in parentheses get the same turn: "(Boat, The)" -> "(The Boat)".
    rest = _PARENTHESES.sub(lambda inner: f"({display_title(inner[1])})", found["rest"] or "")
    return f"{article}{joiner}{found['body']}{rest}"


def clean_poster_path(value: str | None) -> str | None:
    """A poster path as stored: TMDb's "/abc.jpg" or a full http(s) URL of at most
    ``POSTER_PATH_LENGTH`` characters; None for anything else (empty, TMDb's null, garbage)."""
    text = (value or "").strip()
    if len(text) > POSTER_PATH_LENGTH or not _POSTER_PATH.fullmatch(text):
        return None
    return text


def template_fields(template: str) -> set[str]:
    """The ``{names}`` a poster URL template uses."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def poster_url(
    template: str,
    *,
    movie_id: str,
    poster_path: str | None,
    tmdb_id: int | None,
    imdb_id: str | None,
) -> str | None:
    """The URL of a movie's poster image, or None when it has none (the page then draws one).

    A full URL in ``poster_path`` is used as it is; otherwise ``template`` is filled when the
    movie has every field it names (``{poster_path}``, ``{tmdb_id}``, ``{imdb_id}``,
    ``{movie_id}``).
    """
    if poster_path and poster_path.startswith(("https://", "http://")):
        return poster_path
    if not template:
        return None
    values = {
        "poster_path": poster_path,
        "tmdb_id": tmdb_id,
        "imdb_id": imdb_id,
        "movie_id": movie_id,
    }
    if any(values[name] in (None, "") for name in template_fields(template)):
        return None
    return template.format(**values)


def poster_origin(template: str) -> str | None:
    """The scheme and host of a poster URL template (the pages' CSP allows images from it)."""
    found = re.match(r"^(https?://[^/{}]+)", template)
    return found[1] if found else None


# A hue per genre, so a drawn poster says something of the movie at a glance.
_GENRE_HUES = {
    "Action": 8,
    "Adventure": 28,
    "Animation": 140,
    "Children": 95,
    "Comedy": 48,
    "Crime": 235,
    "Documentary": 180,
    "Drama": 210,
    "Fantasy": 290,
    "Film-Noir": 220,
    "Horror": 345,
    "IMAX": 200,
    "Musical": 320,
    "Mystery": 260,
    "Romance": 335,
    "Sci-Fi": 190,
    "Thriller": 275,
    "War": 70,
    "Western": 35,
}
_POSTER_WIDTH, _POSTER_HEIGHT = 200, 300
_LINE_CHARACTERS = 14
_MAX_LINES = 6


def drawn_poster(title: str, year: int | None, genres: list[str]) -> str:
    """An SVG poster with the title, year and a gradient in the colours of the genres, for a
    movie with no poster image (nothing is fetched: the page renders offline)."""
    hues = [_GENRE_HUES.get(genre, sum(map(ord, genre)) % 360) for genre in genres] or [215]
    top, bottom = hues[0], hues[1] if len(hues) > 1 else (hues[0] + 30) % 360
    lines = _wrapped(_PARENTHESES.sub("", title).strip() or title)
    first = _POSTER_HEIGHT / 2 - (len(lines) - 1) * 13
    text = "".join(
        f'<text x="100" y="{first + 26 * index:.0f}">{escape(line)}</text>'
        for index, line in enumerate(lines)
    )
    year_text = f'<text class="year" x="100" y="270">{year}</text>' if year else ""
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {_POSTER_WIDTH} {_POSTER_HEIGHT}" width="{_POSTER_WIDTH}" '
        f'height="{_POSTER_HEIGHT}" role="img" aria-label="{escape(title)}">'
        '<defs><linearGradient id="g" x1="0" y1="0" x2="0" y2="1">'
        f'<stop offset="0" stop-color="hsl({top},45%,38%)"/>'
        f'<stop offset="1" stop-color="hsl({bottom},50%,18%)"/>'
        "</linearGradient></defs>"
        f'<rect width="{_POSTER_WIDTH}" height="{_POSTER_HEIGHT}" fill="url(#g)"/>'
        '<g fill="#fff" font-family="system-ui, sans-serif" font-size="21" font-weight="700" '
        f'text-anchor="middle">{text}</g>'
        '<g fill="#fff" fill-opacity=".8" font-family="system-ui, sans-serif" font-size="16" '
        f'text-anchor="middle">{year_text}</g></svg>'
    )


def _wrapped(title: str) -> list[str]:
    """The title in lines of about ``_LINE_CHARACTERS``, at most ``_MAX_LINES`` (then "…")."""
    lines: list[str] = []
    for word in title.split():
        if lines and len(lines[-1]) + 1 + len(word) <= _LINE_CHARACTERS:
            lines[-1] += " " + word
        else:
            lines.append(
                word if len(word) <= _LINE_CHARACTERS + 4 else word[:_LINE_CHARACTERS] + "…"
            )
    if len(lines) > _MAX_LINES:
        lines = lines[:_MAX_LINES]
        lines[-1] += " …"
    return lines or ["?"]
