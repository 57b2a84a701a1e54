"""The text search (`q`) of the lists: `icontains` on every database, fast on both.

PostgreSQL serves `icontains` from pg_trgm indexes (migration 0002). On SQLite, `LIKE '%…%'`
has no index, so migration 0005 keeps FTS5 trigram tables beside orders, products and parts.
A search of 3 or more characters asks them which rows contain the term and keeps those that
also pass `icontains` (the trigram index folds non-ASCII case, SQLite's LIKE does not), so the
results are exactly those of `icontains`.

How best to use the matches depends on how many there are, which SQLite cannot estimate for
an FTS query (it assumes 25). So the search counts them first (up to LIST_MAX + 1, < 1 ms):

- none: that part of the search is left out;
- up to DRIVE_MAX: the page is found among the matches, read by rowid (~2 µs each);
- up to LIST_MAX: the list's sort index is walked as without a search, and each entry's
  rowid is tested against the matches without reading the row; only matches are read. At
  200,000 orders a page of 3,000 matches takes 1 ms this way, 6 ms by reading them all;
- more: too many to list (listing them costs more than it saves): the walk tests each row
  with `icontains`, and a term that common fills a page after a few rows.

A related table's matches (a product's order, a part's product) go the same ways: left out;
as a list of ids that drives the query; as a list tested on the walk (121,000 products named
"…ring…" have 220,000 parts to read); beyond LIST_MAX, by testing the related row of each row
walked (listing 121,000 product ids took 60 ms). PostgreSQL lists them once, as ever.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import Any

from django.db import connections
from django.db.models import Exists, F, Lookup, Model, OuterRef, Q
from django.db.models.lookups import In

MIN_CHARS = 3  # the trigram tokenizer cannot find shorter strings
DRIVE_MAX = 1000
LIST_MAX = 10_000


@dataclass(frozen=True)
class Searched:
    """Columns of a model that a search looks into (plain fields: FTS columns bear their names)."""

    model: type[Model]
    columns: tuple[str, ...]

    def contains(self, term: str) -> Q:
        return reduce(or_, (Q(**{f"{c}__icontains": term}) for c in self.columns))

    @property
    def fts_table(self) -> str:
        return f"{self.model._meta.db_table}_search"

    def match(self, term: str) -> str:
        """The FTS5 query for `term` as a substring of these columns: one quoted string (inner
        quotes doubled), so that no character of the term is FTS5 syntax."""
        phrase = term.replace('"', '""')
        return f'{{{" ".join(self.columns)}}} : "{phrase}"'


class _Matches(Lookup):  # type: ignore[type-arg]
    """`rowid IN (the rowids of the FTS table that MATCH …)` for the row of the left-hand pk.

    With `drive=False` it is written `+rowid`, as in _TestedOnTheWalk. A lookup rather than
    raw SQL so that Django qualifies the rowid with the table's alias inside subqueries."""

    lookup_name = "fts_matches"
    prepare_rhs = False

    def __init__(self, searched: Searched, term: str, *, drive: bool) -> None:
        self.searched = searched
        self.drive = drive
        super().__init__(F("pk"), searched.match(term))

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[str]]:
        qn = connection.ops.quote_name  # names from the models; the term is a parameter
        fts = qn(self.searched.fts_table)
        rowids = f"SELECT rowid FROM {fts} WHERE {fts} MATCH %s"  # noqa: S608
        rowid = f"{qn(self.lhs.alias)}.rowid" if self.drive else f"+{qn(self.lhs.alias)}.rowid"
        return f"{rowid} IN ({rowids})", (self.rhs,)


class _TestedOnTheWalk(In):
    """`+column IN (…)`: the unary plus is SQLite's documented way to keep a term from driving
    the query, so that the planner walks the list's sort index and tests the term on it."""

    def process_lhs(self, compiler: Any, connection: Any, lhs: Any = None) -> Any:
        sql, params = super().process_lhs(compiler, connection, lhs)
        return f"+{sql}", params


def text_q(term: str, using: str, own: Searched, **related: Searched) -> Q:
    """Rows whose own columns contain `term`, or whose related row does (each keyword names a
    foreign key: `order=Searched(Order, ("name",))`)."""
    found = [_own(term, using, own)]
    found += [_related(term, using, field, searched) for field, searched in related.items()]
    kept = [q for q in found if q is not None]
    return reduce(or_, kept) if kept else Q(pk__in=[])


def _own(term: str, using: str, searched: Searched) -> Q | None:
    count = _fts_count(term, using, searched)
    if count is None or count > LIST_MAX:
        return searched.contains(term)  # tested row by row while walking the list
    if count == 0:
        return None
    return _from_fts(term, searched, drive=count <= DRIVE_MAX)


def _related(term: str, using: str, field: str, searched: Searched) -> Q | None:
    count = _fts_count(term, using, searched)
    manager = searched.model._default_manager
    if count is None:
        # Matching rows are found once (a subquery), not by joining them to every row walked.
        return Q(**{f"{field}__in": manager.filter(searched.contains(term)).values("pk")})
    if count == 0:
        return None
    if count > LIST_MAX:
        return Q(Exists(manager.filter(searched.contains(term), pk=OuterRef(field))))
    rows = manager.filter(_from_fts(term, searched, drive=True)).order_by().values("pk")
    if count > DRIVE_MAX:
        return Q(_TestedOnTheWalk(F(field), rows))
    return Q(**{f"{field}__in": rows})


def _from_fts(term: str, searched: Searched, *, drive: bool) -> Q:
    return Q(_Matches(searched, term, drive=drive)) & searched.contains(term)


def _fts_count(term: str, using: str, searched: Searched) -> int | None:
    """How many rows the FTS table finds (counted up to LIST_MAX + 1), or None without one."""
    connection = connections[using]
    if connection.vendor != "sqlite" or len(term) < MIN_CHARS:
        return None
    fts = connection.ops.quote_name(searched.fts_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {fts} WHERE {fts} MATCH %s LIMIT %s)",  # noqa: S608
            [searched.match(term), LIST_MAX + 1],
        )
        return int(cursor.fetchone()[0])
