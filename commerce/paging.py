"""Pages of a listing: one COUNT and one LIMIT/OFFSET query, whatever the listing's size."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select

from extensions import db

T = TypeVar("T")
U = TypeVar("U")


class PageNotFound(LookupError):
    """A page number past the listing's last page."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing: its items, its number (from 1), and where it sits in the whole."""

    items: Sequence[T]
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None

    @property
    def first_index(self) -> int:
        """The position of the page's first item in the listing (from 1; 0 when empty)."""
        return (self.number - 1) * self.size + 1 if self.items else 0

    @property
    def last_index(self) -> int:
        return (self.number - 1) * self.size + len(self.items)

    def numbers(self, around: int = 2) -> list[int | None]:
        """Page numbers to link: the first, the last and `around` either side of this one;
        None where numbers are left out."""
        wanted = {1, self.pages, *range(self.number - around, self.number + around + 1)}
        shown: list[int | None] = []
        for n in sorted(n for n in wanted if 1 <= n <= self.pages):
            if shown and shown[-1] is not None and n > shown[-1] + 1:  # type: ignore[operator]
                shown.append(None)
            shown.append(n)
        return shown

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        return Page([convert(item) for item in self.items], self.number, self.size, self.total)


def paginate(stmt: Select[Any], number: int, size: int, *, scalars: bool = True,
             count: Select[Any] | None = None) -> Page[Any]:
    """Page `number` of `stmt`'s rows, `size` to a page; PageNotFound past the last page.

    `stmt` must order its rows by a unique key, or pages could overlap. `count`, when given,
    is a cheaper query for the number of rows `stmt` has.
    """
    if number < 1 or size < 1:
        raise PageNotFound(number)
    if count is None:
        count = select(func.count()).select_from(stmt.order_by(None).subquery())
    total = db.session.scalar(count)
    page: Page[Any] = Page([], number, size, int(total or 0))
    if number > page.pages:
        raise PageNotFound(number)
    if not total:
        return page
    limited = stmt.limit(size).offset((number - 1) * size)
    rows = db.session.scalars(limited).all() if scalars else db.session.execute(limited).all()
    return Page(rows, number, size, page.total)
