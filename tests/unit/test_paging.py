"""Paging arithmetic shared by the history, audit log and sessions pages."""

from __future__ import annotations

import pytest

from app.core.paging import Page, page_count, page_offset


@pytest.mark.parametrize(("total", "pages"), [(0, 1), (1, 1), (25, 1), (26, 2), (50, 2), (51, 3)])
def test_page_count_is_at_least_one(total, pages):
    assert page_count(total, 25) == pages


@pytest.mark.parametrize(("total", "page", "offset"), [(0, 1, 0), (26, 2, 25), (51, 3, 50)])
def test_page_offset_of_an_existing_page(total, page, offset):
    assert page_offset(total, page, 25) == offset


@pytest.mark.parametrize(("total", "page"), [(0, 0), (0, 2), (25, 2), (26, 3), (26, -1)])
def test_no_offset_for_a_page_that_does_not_exist(total, page):
    assert page_offset(total, page, 25) is None


def test_a_page_knows_its_neighbours():
    first, middle, last = (Page(["x"], number, 10, 25) for number in (1, 2, 3))
    assert (first.pages, first.has_previous, first.has_next) == (3, False, True)
    assert (middle.has_previous, middle.has_next) == (True, True)
    assert (last.has_previous, last.has_next) == (True, False)
    assert not Page([], 1, 10, 0).has_next
