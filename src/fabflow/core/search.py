"""Text search declared once per model: its indexes, its SQLite FTS5 table and its filter.

A model names the columns that its list's search (`q`, meaning `icontains`) looks into: its
own, and a related row's through a foreign key (`"order__name"`, which must be searched in
`Order`'s own declaration):

    PRODUCT_SEARCH = TextSearch("product", "name", "configuration_id", "order__name")

    class Product(Model):
        search = PRODUCT_SEARCH
        class Meta:
            indexes = [*PRODUCT_SEARCH.indexes]

On PostgreSQL that makes a pg_trgm GIN index on the expression `icontains` compiles to
(`TrigramIndex`, in `Meta.indexes`, so migrations see it); on SQLite, where `LIKE '%…%'` has no
index, an FTS5 trigram table `<table>_search` kept by triggers, made after every `migrate`
(`repair_fts`) and watched by a system check (`check_fts`). The filter asks each searched
table's index how many rows contain the term: few, and their ids go into the query; many (or a
term the index cannot find), and the list's sort index is walked, testing each row. Every row
found is checked with `icontains`, so a search finds exactly what `icontains` finds.
docs/search.md explains the plan, its limits and its figures.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from functools import reduce
from operator import or_
from typing import Any

from django.apps import AppConfig, apps
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core import checks
from django.db import connections, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.models import BooleanField, Exists, Model, OuterRef, Q, QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Upper

MIN_CHARS = 3  # the trigram indexes cannot find shorter strings
LIST_MAX = 1000  # the most ids of one table that a search passes as a list


class TrigramIndex(GinIndex):
    """A pg_trgm GIN index, made on PostgreSQL only: elsewhere its SQL is a comment, so that
    one `Meta.indexes` migrates on every database."""

    def create_sql(self, model: Any, schema_editor: Any, using: str = "", **kwargs: Any) -> Any:
        if schema_editor.connection.vendor != "postgresql":
            return f"-- {self.name}: a PostgreSQL index"
        return super().create_sql(model, schema_editor, using=using, **kwargs)

    def remove_sql(self, model: Any, schema_editor: Any, **kwargs: Any) -> Any:
        if schema_editor.connection.vendor != "postgresql":
            return f"-- {self.name}: a PostgreSQL index"
        return super().remove_sql(model, schema_editor, **kwargs)


class TextSearch:
    """The columns that a model's list searches: its own, and `fk__column` of related rows."""

    def __init__(self, name: str, *paths: str) -> None:
        self.name = name
        self.own = tuple(p for p in paths if "__" not in p)
        self.related: dict[str, tuple[str, ...]] = {}
        for fk, _, column in (p.partition("__") for p in paths if "__" in p):
            self.related[fk] = (*self.related.get(fk, ()), column)
        # What a walk of a sort index tests, in the order declared: with these as the
        # index's INCLUDE columns, PostgreSQL walks it without reading the table.
        self.columns = tuple(dict.fromkeys(p.partition("__")[0] for p in paths))
        self.model: type[Model] | None = None

    @property
    def indexes(self) -> list[TrigramIndex]:
        """The index that serves `column__icontains` (`UPPER(column::text) LIKE …`)."""
        uppers = (Upper(Cast(c, output_field=TextField())) for c in self.own)
        ops = (OpClass(u, name="gin_trgm_ops") for u in uppers)
        return [TrigramIndex(*ops, name=f"{self.name}_search")]

    def contribute_to_class(self, cls: type[Model], name: str) -> None:
        """Binds the declaration to its model (Django calls this for a class attribute)."""
        self.model = cls
        setattr(cls, name, self)

    def filter(self, qs: QuerySet[Any], term: str) -> QuerySet[Any]:
        """The rows of `qs` whose searched columns contain `term` (`icontains`)."""
        assert self.model is not None, "declare the search as an attribute of its model"
        found = [_searched(term, qs.db, None, self.model, self.own)]
        for fk, columns in self.related.items():
            related = self.model._meta.get_field(fk).related_model
            found.append(_searched(term, qs.db, fk, related, columns))
        kept = [q for q in found if q is not None]
        return qs.filter(reduce(or_, kept) if kept else Q(pk__in=[]))


def _searched(
    term: str, using: str, fk: str | None, model: Any, columns: tuple[str, ...]
) -> Q | None:
    """Rows whose own `columns` contain `term` (fk None), or whose related row through `fk`
    does; None when no row of `model` does."""
    contains = reduce(or_, (Q(**{f"{c}__icontains": term}) for c in columns))
    ids = _listed(term, using, model, columns, contains)
    if ids is None:  # tested on the walk; a related row by its primary key
        if fk is None:
            return contains
        return Q(Exists(model._default_manager.filter(contains, pk=OuterRef(fk))))
    return Q(**{f"{fk or 'pk'}__in": ids}) if ids else None


def _listed(
    term: str, using: str, model: Any, columns: tuple[str, ...], contains: Q
) -> list[Any] | None:
    """The ids of `model`'s rows containing `term`, found by its index; None when there are
    more than LIST_MAX or the index cannot find the term."""
    vendor = connections[using].vendor
    rows = model._default_manager.using(using).filter(contains).order_by()
    if len(term) < MIN_CHARS:
        return None
    if vendor == "postgresql":
        if not any(c.isalnum() for c in term):
            return None  # no trigram to look up: the index would be read whole
        # A GIN index finds every match before a LIMIT can stop it (60,000 parts contain
        # "band": 5 ms, growing with the table): the planner's estimate tells a common term.
        if _estimated_rows(rows.values("pk")) > LIST_MAX:
            return None
    elif vendor == "sqlite":
        # SQLite reads a subquery whole before it tests a row against it, so the matches
        # are counted first (the FTS table yields them one by one, and the count stops).
        fts, match = fts_table(model), _fts_match(columns, term)
        with connections[using].cursor() as cursor:  # the table's name comes from the model
            cursor.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM {fts} WHERE {fts} MATCH %s LIMIT %s)",  # noqa: S608
                [match, LIST_MAX + 1],
            )
            count = cursor.fetchone()[0]
        if count == 0:
            return []
        if count > LIST_MAX:
            return None
        # Names from the model; the term is a parameter.
        rowids = f"rowid IN (SELECT rowid FROM {fts} WHERE {fts} MATCH %s)"  # noqa: S608
        rows = rows.filter(RawSQL(rowids, [match], output_field=BooleanField()))  # noqa: S611
    else:
        return None
    ids = list(rows.values_list("pk", flat=True)[: LIST_MAX + 1])
    return ids if len(ids) <= LIST_MAX else None


def _estimated_rows(rows: QuerySet[Any]) -> int:
    """PostgreSQL's estimate of how many rows `rows` has, from the statistics that ANALYZE
    keeps on the trigram index's expressions: it plans, and runs nothing."""
    return int(json.loads(rows.explain(format="json"))[0]["Plan"]["Plan Rows"])


def _fts_match(columns: tuple[str, ...], term: str) -> str:
    """The FTS5 query for `term` as a substring of `columns`: one quoted string (its quotes
    doubled), so that no character of the term is FTS5 syntax."""
    return f'{{{" ".join(columns)}}} : "{term.replace(chr(34), chr(34) * 2)}"'


def fts_table(model: Any) -> str:
    return f"{model._meta.db_table}_search"


def fts_statements(search: TextSearch) -> dict[str, str]:
    """The FTS5 table of a declaration and its triggers, by name, as SQLite keeps their SQL:
    an "external content" table (only the index), naming rows by the searched table's rowid."""
    assert search.model is not None
    table, fts, columns = search.model._meta.db_table, fts_table(search.model), search.own
    names = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in columns)
    delete = f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.rowid, {old});"  # noqa: S608
    insert = f"INSERT INTO {fts}(rowid, {names}) VALUES (new.rowid, {new});"  # noqa: S608
    return {
        # columnsize=0: no per-row token counts (they only serve ranking, which we don't use).
        fts: f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content='{table}', "
        "tokenize='trigram', columnsize=0)",
        f"{fts}_insert": f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN {insert} END",
        f"{fts}_delete": f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN {delete} END",
        # Only when a searched column changes: orders are saved often (status), renamed rarely.
        f"{fts}_update": f"CREATE TRIGGER {fts}_update AFTER UPDATE ON {table} WHEN {changed} "
        f"BEGIN {delete} {insert} END",
    }


def fts_faults(using: str, search: TextSearch) -> list[str] | None:
    """The FTS objects of `search` that are missing on SQLite database `using`, or not as
    declared; None when its table or one of its columns is not there (not migrated yet)."""
    assert search.model is not None
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT name FROM pragma_table_info(%s)", [search.model._meta.db_table])
        if not set(search.own) <= {row[0] for row in cursor.fetchall()}:
            return None
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type IN ('table', 'trigger') "
            "AND tbl_name IN (%s, %s)",
            [search.model._meta.db_table, fts_table(search.model)],
        )
        made = {name: " ".join(sql.split()) for name, sql in cursor.fetchall()}
    declared = fts_statements(search).items()
    return [name for name, sql in declared if made.get(name) != " ".join(sql.split())]


def repair_fts(sender: AppConfig, using: str, verbosity: int = 1, **kwargs: Any) -> None:
    """After `migrate` (post_migrate): makes the FTS objects of `sender`'s searched models
    that are missing or not as declared, and rebuilds their index from the table (a table
    that SQLite rebuilds loses its triggers and its rowids). A missing FTS table is made only
    once its app is migrated: a migration that made it would fail on one that exists."""
    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    for search in declared(sender.get_models()):
        faults = fts_faults(using, search)
        fts = fts_table(search.model)
        if not faults or (fts in faults and not _migrated(using, sender.label)):
            continue
        statements = fts_statements(search)
        with transaction.atomic(using=using), connection.cursor() as cursor:
            for name in faults:
                cursor.execute(f"DROP {'TABLE' if name == fts else 'TRIGGER'} IF EXISTS {name}")
                cursor.execute(statements[name])
            cursor.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")  # noqa: S608
        if verbosity:
            stdout = kwargs.get("stdout") or sys.stdout
            stdout.write(f"  Made {', '.join(faults)} and rebuilt {fts}\n")


def check_fts(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[Any]:
    """System check (tag `database`): the FTS objects that a SQLite database misses."""
    configs = app_configs or apps.get_app_configs()
    problems = []
    for using in databases or ():
        if connections[using].vendor != "sqlite":
            continue
        for search in declared(m for config in configs for m in config.get_models()):
            faults = fts_faults(using, search)
            if faults:
                problems.append(
                    checks.Warning(
                        f"The text search of database '{using}' misses {', '.join(faults)} "
                        f"(or they are not as declared): its searches miss rows.",
                        hint="Run `fabflow migrate`: after migrating, it makes the missing "
                        "search tables and triggers and rebuilds their index.",
                        obj=search.model,
                        id="search.W001",
                    )
                )
    return problems


def declared(models: Iterable[Any]) -> list[TextSearch]:
    """The search declarations of `models` (a TextSearch among their class attributes)."""
    found = (v for m in models for v in vars(m).values() if isinstance(v, TextSearch))
    return [s for s in found if s.model is not None]


def _migrated(using: str, app_label: str) -> bool:
    loader = MigrationLoader(connections[using])
    return set(loader.graph.leaf_nodes(app_label)) <= set(loader.applied_migrations or ())
