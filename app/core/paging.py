"""One page of a long list: which rows to fetch for page N, and what a template needs to link the others.

Pages are numbered from 1 and an empty list still has one (empty) page. A page number past the end is
not clamped: the caller gets None and answers "no such page", as a bookmarked page that has since
emptied should.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


def page_count(total: int, per_page: int) -> int:
    """How many pages ``total`` rows fill, at least one."""
    return max(1, -(-total // per_page))


def page_offset(total: int, page: int, per_page: int) -> int | None:
    """How many rows come before page ``page`` (the query's OFFSET); None when there is no such page."""
    if not 1 <= page <= page_count(total, per_page):
        return None
    return (page - 1) * per_page


@dataclass(frozen=True)
class Page(Generic[T]):
    """The rows of page ``page`` out of ``total`` rows, ``per_page`` to a page."""

    entries: list[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return page_count(self.total, self.per_page)

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages
