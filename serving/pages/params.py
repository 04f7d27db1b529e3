"""The query string of tonight's list, checked: a bad value is a 400 naming the parameter."""

from __future__ import annotations

from starlette.datastructures import QueryParams

from serving.errors import Rejected, rejected
from serving.pages.queries import ROUTES, SORTS, ListQuery
from serving.schemas import MAX_TEXT

MAX_PER_PAGE = 500
KNOWN = ("route", "tier", "source", "partner_id", "sort", "order", "page", "per_page")


def list_query(params: QueryParams) -> ListQuery | Rejected:
    """The view the parameters ask for (defaults: active sales, best score first, page 1 of
    50), or the refusal of the first bad parameter."""
    for name in params:
        if name not in KNOWN:
            return _bad(name, f"is not a parameter of this list (known: {', '.join(KNOWN)})")
        if len(params.getlist(name)) > 1:
            return _bad(name, "must be given once")
    route = params.get("route", ListQuery.route)
    if route not in ROUTES:
        return _bad("route", f"must be one of {', '.join(ROUTES)} (got {route[:40]!r})")
    sort = params.get("sort", ListQuery.sort)
    if sort not in SORTS:
        return _bad("sort", f"must be one of {', '.join(SORTS)} (got {sort[:40]!r})")
    order = params.get("order", "desc")
    if order not in ("asc", "desc"):
        return _bad("order", f"must be asc or desc (got {order[:40]!r})")
    texts = {name: params.get(name) or None for name in ("tier", "source", "partner_id")}
    for name, value in texts.items():
        if value is not None and len(value) > MAX_TEXT:
            return _bad(name, f"must be at most {MAX_TEXT} characters")
    page = _whole(params, "page", 1, 1_000_000)
    per_page = _whole(params, "per_page", ListQuery.per_page, MAX_PER_PAGE)
    for number in (page, per_page):
        if isinstance(number, Rejected):
            return number
    assert isinstance(page, int) and isinstance(per_page, int)
    return ListQuery(
        route,
        texts["tier"],
        texts["source"],
        texts["partner_id"],
        sort,
        descending=order == "desc",
        page=page,
        per_page=per_page,
    )


def _whole(params: QueryParams, name: str, default: int, most: int) -> int | Rejected:
    text = params.get(name)
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= most:
        return _bad(name, f"must be a whole number from 1 to {most:,} (got {text[:40]!r})")
    return int(text)


def _bad(name: str, message: str) -> Rejected:
    return rejected(400, "invalid", name, message)
