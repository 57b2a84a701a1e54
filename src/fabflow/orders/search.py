"""The text search (`q`) of the lists: `icontains` on every database, fast on both.

PostgreSQL serves `icontains` from pg_trgm indexes (migrations 0002, 0006). On SQLite, `LIKE '%…%'`
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
walked (listing 121,000 product ids took 60 ms).

PostgreSQL does the same with its pg_trgm indexes (migrations 0002 and 0006, one on each
searched column): it cannot turn an OR of "own name, product's name, order's name" into index
scans, so a rare term tested every row of the list (a part search for an order number: 0.2 s
at 200,000 orders). So the search first lists the ids of each searched table's matches (up
to PG_LIST_MAX + 1, with the same `icontains`, served by the trigram indexes), unless a sample
of the table already finds the term too common to list (_pg_common), then:

- none: that part of the search is left out;
- up to PG_LIST_MAX: the ids go into the query as a list (`id IN (…)`, `order_id IN (…)`),
  which PostgreSQL reads by primary or foreign key (a BitmapOr of the parts);
- more: as before, the walk of the sort index tests each row (and a related table's matches
  are found once, as a hashed subquery), which a term that common ends after a few rows.
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
PG_LIST_MAX = 1000
PG_SAMPLE_ROWS = 1000  # about how many rows of a table tell a common term (see _pg_common)
# The columns with a pg_trgm index on UPPER(column::text) (migrations 0002 and 0006).
PG_TRIGRAM_INDEXED = {
    "orders_order": {"name", "third_party_order_id", "customer_email"},
    "orders_product": {"name", "configuration_id"},
    "orders_part": {"name"},
}


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
    if connections[using].vendor == "postgresql":
        ids = _pg_ids(term, using, searched)
        if ids is None:
            return searched.contains(term)  # tested row by row while walking the list
        return Q(pk__in=ids) if ids else None
    count = _fts_count(term, using, searched)
    if count is None or count > LIST_MAX:
        return searched.contains(term)  # tested row by row while walking the list
    if count == 0:
        return None
    return _from_fts(term, searched, drive=count <= DRIVE_MAX)


def _related(term: str, using: str, field: str, searched: Searched) -> Q | None:
    manager = searched.model._default_manager
    if connections[using].vendor == "postgresql":
        ids = _pg_ids(term, using, searched)
        if ids is None:
            return Q(**{f"{field}__in": manager.filter(searched.contains(term)).values("pk")})
        return Q(**{f"{field}__in": ids}) if ids else None
    count = _fts_count(term, using, searched)
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


def _pg_ids(term: str, using: str, searched: Searched) -> list[Any] | None:
    """The ids of the rows that contain `term` on PostgreSQL, or None when there are more than
    PG_LIST_MAX or no trigram index can find them: a term too short, a column without one, or
    a term without a letter or digit (pg_trgm takes its trigrams from words only, and would
    read the whole index: a part search for three quotes read 0.3 s at 200,000 orders)."""
    indexed = PG_TRIGRAM_INDEXED.get(searched.model._meta.db_table, set())
    if len(term) < MIN_CHARS or not set(searched.columns) <= indexed:
        return None
    if not any(c.isalnum() for c in term) or _pg_common(term, using, searched):
        return None
    rows = searched.model._default_manager.using(using).filter(searched.contains(term))
    ids = list(rows.order_by().values_list("pk", flat=True)[: PG_LIST_MAX + 1])
    return None if len(ids) > PG_LIST_MAX else ids


def _pg_common(term: str, using: str, searched: Searched) -> bool:
    """Whether a sample of the table (about PG_SAMPLE_ROWS rows, ~0.7 ms) finds `term` in more
    than twice PG_LIST_MAX rows. The ids of a term that common are not needed, and the trigram
    index pays for every match before the LIMIT cuts them short ("band": 60,000 parts, 8 ms;
    more as the table grows), while the sample costs the same at any size.

    The sample is of whole pages (TABLESAMPLE SYSTEM), the same ones every time for a table
    (REPEATABLE): a rare term whose rows share a few pages is, if the sample hits them, taken
    for a common one and tested on the walk, as before this existed. A table that was never
    analyzed is not sampled."""
    connection = connections[using]
    query = searched.model._default_manager.filter(searched.contains(term)).query
    where, params = query.get_compiler(using).compile(query.where)
    table = searched.model._meta.db_table
    size = "(SELECT reltuples FROM pg_class WHERE oid = %s::regclass)"
    share = "CASE WHEN n < 1 THEN 0 ELSE LEAST(100, 100.0 * %s / n) END"  # reltuples: -1 if unknown
    percent = f"(SELECT {share} FROM {size} s(n))"  # noqa: S608
    sql = (  # names from the models; the term is a parameter
        f"SELECT count(*) FILTER (WHERE {where}), count(*), {size} "  # noqa: S608
        f"FROM {connection.ops.quote_name(table)} TABLESAMPLE SYSTEM ({percent}) REPEATABLE (0)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, table, PG_SAMPLE_ROWS, table])
        found, sampled, rows = cursor.fetchone()
    return bool(sampled) and found * rows / sampled > 2 * PG_LIST_MAX
