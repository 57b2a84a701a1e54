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

The sample counts each column apart: the walk tests only the columns where the term is
common, and the table's other columns are searched by their indexes (_pg_own).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache, reduce
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
PG_VERDICT_SECONDS = 60.0  # how long a process reuses a sample's verdict (see _pg_common)
PG_VERDICTS = 1024
_verdicts: OrderedDict[tuple[Any, ...], tuple[float, frozenset[str]]] = OrderedDict()
_verdicts_lock = threading.Lock()
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
        return _pg_own(term, using, searched)
    count = _fts_count(term, using, searched)
    if count is None or count > LIST_MAX:
        return searched.contains(term)  # tested row by row while walking the list
    if count == 0:
        return None
    return _from_fts(term, searched, drive=count <= DRIVE_MAX)


def _related(term: str, using: str, field: str, searched: Searched) -> Q | None:
    manager = searched.model._default_manager
    if connections[using].vendor == "postgresql":
        ids = _pg_ids(term, using, searched, _pg_common(term, using, searched))
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


def _pg_own(term: str, using: str, searched: Searched) -> Q | None:
    """A table's own columns on PostgreSQL (see the module's docstring). When the sample finds
    the term common in some columns only, the walk tests just those, and the rows whose other
    columns contain it are found once by their trigram indexes (a subquery, which PostgreSQL
    hashes): the e-mail search for "ines." (3,300 of 200,000 orders) tested all three columns
    of the 4,000 orders walked, 4-5 ms; now the e-mail alone, ~2.5 ms."""
    common = _pg_common(term, using, searched)
    walked = Searched(searched.model, tuple(c for c in searched.columns if c in common))
    rare = Searched(searched.model, tuple(c for c in searched.columns if c not in common))
    if not rare.columns:
        return searched.contains(term)  # tested row by row while walking the list
    if walked.columns:
        found = searched.model._default_manager.filter(rare.contains(term)).values("pk")
        return walked.contains(term) | Q(pk__in=found)
    ids = _pg_ids(term, using, rare, common)
    if ids is None:
        return searched.contains(term)
    return Q(pk__in=ids) if ids else None


def _pg_ids(term: str, using: str, searched: Searched, common: set[str]) -> list[Any] | None:
    """The ids of the rows that contain `term` on PostgreSQL, or None when there are more than
    PG_LIST_MAX or no trigram index can find them: a term too short, a column without one, a
    term without a letter or digit (pg_trgm takes its trigrams from words only, and would
    read the whole index: a part search for three quotes read 0.3 s at 200,000 orders), or
    a column that the sample found it common in (`common`, see _pg_common)."""
    if not _pg_indexed(term, searched) or common:
        return None
    connection = connections[using]
    wheres = [_pg_contains_sql(connection, searched.model, c) for c in searched.columns]
    table = connection.ops.quote_name(searched.model._meta.db_table)
    column = searched.model._meta.pk.column
    assert column is not None
    pk = connection.ops.quote_name(column)
    sql = f"SELECT {pk} FROM {table} WHERE {' OR '.join(wheres)} LIMIT %s"  # noqa: S608
    with connection.cursor() as cursor:  # names from the models; the term is a parameter
        cursor.execute(sql, [*[_like(connection, term)] * len(wheres), PG_LIST_MAX + 1])
        ids = [row[0] for row in cursor.fetchall()]
    return None if len(ids) > PG_LIST_MAX else ids


def _pg_indexed(term: str, searched: Searched) -> bool:
    """Whether the trigram indexes of `searched` can find `term` (see _pg_ids)."""
    indexed = PG_TRIGRAM_INDEXED.get(searched.model._meta.db_table, set())
    if len(term) < MIN_CHARS or not set(searched.columns) <= indexed:
        return False
    return any(c.isalnum() for c in term)


def _pg_common(term: str, using: str, searched: Searched) -> set[str]:
    """The columns where a sample of the table (about PG_SAMPLE_ROWS rows, ~1 ms) finds `term`
    in more than twice PG_LIST_MAX rows; none if the indexes cannot find the term. The ids of
    a term that common are not needed, and the trigram index pays for every match before
    the LIMIT cuts them short ("band": 60,000 parts, 8 ms; more as the table grows), while
    the sample costs the same at any size.

    The sample is of whole pages (TABLESAMPLE SYSTEM), the same ones every time for a table
    (REPEATABLE): a rare term whose rows share a few pages is, if the sample hits them, taken
    for a common one and tested on the walk, as before this existed. A table that was never
    analyzed is not sampled.

    A verdict is kept for PG_VERDICT_SECONDS by the process (at most PG_VERDICTS of them): the
    next page of a search, another ordering or filter with the same term, asks the same
    question. It only picks the plan, so one a minute old costs time at worst, never rows."""
    if not _pg_indexed(term, searched):
        return set()
    key = (using, searched.model._meta.db_table, searched.columns, term)
    now = time.monotonic()
    with _verdicts_lock:
        kept = _verdicts.get(key)
    if kept is not None and now - kept[0] < PG_VERDICT_SECONDS:
        return set(kept[1])
    common = _pg_sample(term, using, searched)
    with _verdicts_lock:
        _verdicts[key] = (now, frozenset(common))
        _verdicts.move_to_end(key)
        while len(_verdicts) > PG_VERDICTS:
            _verdicts.popitem(last=False)
    return common


def _pg_sample(term: str, using: str, searched: Searched) -> set[str]:
    connection = connections[using]
    counts = [
        f"count(*) FILTER (WHERE {_pg_contains_sql(connection, searched.model, c)})"
        for c in searched.columns
    ]
    table = searched.model._meta.db_table
    size = "(SELECT reltuples FROM pg_class WHERE oid = %s::regclass)"
    share = "CASE WHEN n < 1 THEN 0 ELSE LEAST(100, 100.0 * %s / n) END"  # reltuples: -1 if unknown
    percent = f"(SELECT {share} FROM {size} s(n))"  # noqa: S608
    sql = (  # names from the models; the term is a parameter
        f"SELECT {', '.join(counts)}, count(*), {size} "  # noqa: S608
        f"FROM {connection.ops.quote_name(table)} TABLESAMPLE SYSTEM ({percent}) REPEATABLE (0)"
    )
    with connection.cursor() as cursor:
        like = _like(connection, term)
        cursor.execute(sql, [*[like] * len(counts), table, PG_SAMPLE_ROWS, table])
        *found, sampled, rows = cursor.fetchone()
    if not sampled:
        return set()
    limit = 2 * PG_LIST_MAX
    return {c for c, n in zip(searched.columns, found, strict=True) if n * rows / sampled > limit}


def _pg_contains_sql(connection: Any, model: type[Model], column: str) -> str:
    """The SQL of `column__icontains=…` with its pattern as the one parameter, as the ORM
    writes it (on the same expression as the trigram index), compiled once: the sample and
    the listing are sent on every search, and compiling their filters took ~0.4 ms."""
    return _compiled_contains(connection.alias, model, column)


@cache
def _compiled_contains(using: str, model: type[Model], column: str) -> str:
    connection = connections[using]
    query = model._default_manager.filter(**{f"{column}__icontains": "x"}).query
    sql, params = query.get_compiler(connection=connection).compile(query.where)
    assert list(params) == [_like(connection, "x")], params  # the pattern is the only one
    return str(sql)


def _like(connection: Any, term: str) -> str:
    """The parameter of `icontains` for `term`: LIKE's own characters escaped."""
    return f"%{connection.ops.prep_for_like_query(term)}%"
