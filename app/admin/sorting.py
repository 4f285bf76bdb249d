"""Sortable console lists: ``?sort=key`` (ascending) or ``?sort=-key`` (descending) picks one of a list's columns.

The value only ever selects an entry of the list's own whitelist; anything else (a typo, an old bookmark,
a column name, SQL) gives the list's default order. No text from the address reaches the query.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select
from sqlalchemy.sql.elements import ColumnElement


@dataclass(frozen=True)
class Sort:
    key: str
    descending: bool

    @property
    def param(self) -> str:
        """The value of ``?sort=`` that asks for this order."""
        return f"-{self.key}" if self.descending else self.key


@dataclass(frozen=True)
class SortableColumns:
    """A list's sortable columns; ``newest_first`` names those a click sorts descending first (dates)."""

    columns: dict[str, ColumnElement]
    default: Sort
    newest_first: frozenset[str] = frozenset()

    def parse(self, value: str | None) -> Sort:
        raw = (value or "")[:64]
        key = raw.removeprefix("-")
        return Sort(key, raw.startswith("-")) if key in self.columns else self.default

    def param(self, sort: Sort) -> str | None:
        """What the list's other links (pager, search form) carry: nothing for the default order, so addresses stay short."""
        return None if sort == self.default else sort.param

    def first_click(self, key: str) -> Sort:
        return Sort(key, key in self.newest_first)

    def apply(self, query: Select, sort: Sort, tiebreak: ColumnElement) -> Select:
        """Order by the chosen column, rows without a value last, then ``tiebreak`` so pages never overlap."""
        column = self.columns[sort.key]
        if sort.descending:
            return query.order_by(column.desc().nulls_last(), tiebreak.desc())
        return query.order_by(column.asc().nulls_last(), tiebreak.asc())


def sort_context(columns: SortableColumns, sort: Sort) -> dict[str, object]:
    """What a sortable list's template needs: the order, its column headers' links, and the value other links carry."""
    return {"sort": sort, "headers": header_links(columns, sort), "sort_param": columns.param(sort)}


def header_links(columns: SortableColumns, sort: Sort) -> dict[str, tuple[str, str | None]]:
    """For each sortable column: the ``sort`` value its header links to, and its ``aria-sort`` (None: not sorted by it)."""
    links = {}
    for key in columns.columns:
        if key == sort.key:
            links[key] = (Sort(key, not sort.descending).param, "descending" if sort.descending else "ascending")
        else:
            links[key] = (columns.first_click(key).param, None)
    return links
