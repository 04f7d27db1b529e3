"""The HTML of each page: a header with the navigation, an empty main that the page's script
fills from its data endpoint, and the login form. Only the service's own files are linked."""

from __future__ import annotations

import html
from urllib.parse import quote

PAGES = {"funnel": "Funnel", "tonight": "Tonight's list", "health": "Model health"}
TITLES = PAGES | {"lead": "A lead"}
STATIC = "/pages/static"


def page(name: str) -> str:
    """The shell of page `name`: its script draws it (static/<name>.js)."""
    return _document(
        TITLES[name],
        f"<main id='main' data-page='{name}'><p class='loading'>Loading…</p></main>",
        (f"{STATIC}/pages.js", f"{STATIC}/{name}.js"),
        name,
    )


def login_page(target: str, error: str | None) -> str:
    """The login form; `error` says why the last attempt was refused."""
    shown = f"<p class='error' role='alert'>{html.escape(error)}</p>" if error else ""
    action = html.escape(f"/pages/login?next={quote(target, safe='/')}", quote=True)
    body = (
        "<main id='main' class='login'><h1>Log in</h1>"
        "<p>This service needs its API token (LEADSCORE_API_TOKEN). It is kept for this "
        "browser session only, in a cookie no script can read.</p>"
        f"{shown}<form method='post' action='{action}'>"
        "<label for='token'>API token</label> "
        "<input id='token' name='token' type='password' autocomplete='current-password' "
        "required autofocus> <button type='submit'>Log in</button></form></main>"
    )
    return _document("Log in", body, (), None)


def _document(title: str, main: str, scripts: tuple[str, ...], current: str | None) -> str:
    links = "".join(
        f"<a href='/pages/{name}'{' aria-current=page' if name == current else ''}>"
        f"{html.escape(label)}</a>"
        for name, label in PAGES.items()
    )
    tools = (
        ""
        if current is None  # the login page: nothing to search or leave yet
        else "<form id='find' action='/pages/lead' method='get' role='search'>"
        "<input id='find-id' name='id' placeholder='lead id' aria-label='open a lead by id' "
        "maxlength='200'> <button type='submit'>Open lead</button></form>"
        "<form method='post' action='/pages/logout'><button type='submit' class='quiet'>"
        "Log out</button></form>"
    )
    tags = "".join(f"<script src='{src}' defer></script>" for src in scripts)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)} · leadscore</title>"
        f"<link rel='stylesheet' href='{STATIC}/pages.css'>"
        "<link rel='icon' href='data:,'>"
        f"{tags}</head><body><header><span class='brand'>leadscore</span>"
        f"<nav>{links}</nav>{tools}</header>{main}</body></html>"
    )
