"""fabflow seed --orders N [--space KEY] [--org NAME] [--batch 2000] [--seed 1]

Fills a space with realistic orders, fast, for scale testing the web app and the API: each
order has 1-3 products of 1-3 parts, a customer, a status, a creation time in the last 365
days, a deadline (~60%), tags (~20%), manufacturing data on its parts and one `order.created`
event. No assets and no flows, so nothing touches the file system or the workers.

Speed: rows are built in memory as model instances and written one transaction per batch of
orders (`--batch`), per table one `executemany` of a prepared INSERT on SQLite or one `COPY`
on PostgreSQL (`Inserter`). `created_at` is
`auto_now_add` (and `Order.updated_at` is `auto_now`), and Django's `pre_save` overwrites such
fields with "now" on every insert, `bulk_create` included. A `bulk_update` afterwards would
write every row twice (a slow `CASE WHEN` update per batch) and patching the fields'
`auto_now_add` flags changes process-wide state, so the inserter adapts each value with the
field's own `get_db_prep_save` (what `bulk_create` does) but skips `pre_save`: every row is
written once, with the timestamps set on it. It also skips Django's compilation of each
multi-row statement, about a third of the CPU time of `bulk_create` on SQLite; on PostgreSQL,
`COPY` is about 3x faster than multi-row INSERTs. Measured on a busy 2-core machine: 200,000
orders in about 160 s on SQLite and 170 s on PostgreSQL (1,200-1,500 orders/s).

Repeatable: the same `--seed` on the same starting data gives the same orders (third-party
ids, customers, products, values, statuses, tags; times relative to now). Third-party ids
continue after the space's highest `WEB-<number>`, so another run adds orders without
collisions; it also draws different data, since the random generator is seeded with the
seed and that starting number.

Primary keys are time-ordered UUIDs (version 7, from each order's creation time and random
bits) rather than the models' random version 4. With random keys every row lands on a random
page of each id and foreign-key index, so once the database outgrows the page cache each
batch rewrites most of those indexes (200,000 orders on SQLite: 308 s, slowing from 2100 to
650 orders/s); with time-ordered keys inserts stay on a few pages (132 s, a steady 1500/s).
They are valid UUIDs for the API and the web app; only the index layout differs from data
that arrived through the API.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_slug
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model
from django.db.models.functions import Length
from django.utils import timezone

from fabflow.accounts.models import Organization, Space
from fabflow.accounts.services import create_organization, create_space
from fabflow.orders.kinds import EventKind
from fabflow.orders.models import Order, OrderEvent, OrderStatus, Part, Product

DEFAULT_ORG = "Seed Manufacturing"
DEFAULT_SPACE = "seed-space"
ID_PREFIX = "WEB-"
ACTOR = "seed"
DAY_S = 86400
SPAN_S = 365 * DAY_S
SQLITE_CACHE_KIB = -262144  # negative: KiB, so 256 MiB


@dataclass(frozen=True)
class Technology:
    name: str
    machines: tuple[str, ...]
    layer_mm: tuple[float, ...]


SLS = Technology("SLS", ("EOS P396 #1", "EOS P396 #2", "Formlabs Fuse 1+ #3"), (0.1, 0.12))
MJF = Technology("MJF", ("HP MJF 5200 #1", "HP MJF 5200 #2"), (0.08,))
FDM = Technology("FDM", ("Prusa MK4 #07", "Prusa MK4 #12", "Bambu X1C #03"), (0.1, 0.2, 0.28))
SLA = Technology("SLA", ("Formlabs Form 3 #4", "Formlabs Form 4 #1"), (0.025, 0.05))
DMLS = Technology("DMLS", ("EOS M290 #1",), (0.03, 0.04))
WAX = Technology("wax-print", ("Solidscape S500 #2", "Asiga MAX #5"), (0.025,))


@dataclass(frozen=True)
class Catalog:
    """One kind of product a shop sells, with what it may be made of and cost."""

    name: str
    slug: str
    parts: tuple[str, ...]
    materials: tuple[tuple[str, Technology], ...]
    sizes: tuple[str | int, ...]
    cents: tuple[int, int]
    colors: tuple[str, ...] = ("black", "white", "grey")
    finishes: tuple[str, ...] = ("raw", "dyed", "polished")
    units: tuple[int, ...] = (1,)
    grams: tuple[float, float] = (2.0, 40.0)


CATALOG: tuple[Catalog, ...] = (
    Catalog(
        "Comfort ring",
        "ring",
        ("band", "setting", "stone"),
        (("silver", WAX), ("gold", WAX), ("steel", DMLS), ("titanium", DMLS), ("PA12", SLS)),
        tuple(range(14, 23)),
        (2900, 34900),
        colors=("natural", "rose", "black"),
        finishes=("polished", "brushed", "hammered"),
        grams=(1.5, 9.0),
    ),
    Catalog(
        "Engraved signet ring",
        "signet",
        ("band", "face"),
        (("silver", WAX), ("gold", WAX), ("bronze", WAX)),
        tuple(range(16, 24)),
        (8900, 42000),
        colors=("natural", "oxidised"),
        finishes=("polished", "matte"),
        grams=(4.0, 14.0),
    ),
    Catalog(
        "Wrist brace",
        "brace",
        ("shell", "liner", "strap"),
        (("PA12", SLS), ("PA11", MJF), ("TPU", MJF)),
        ("XS", "S", "M", "L", "XL"),
        (12000, 38000),
        colors=("white", "black", "skin", "blue"),
        finishes=("raw", "dyed", "vapour-smoothed"),
        grams=(40.0, 160.0),
    ),
    Catalog(
        "Ankle-foot orthosis",
        "afo",
        ("shell", "hinge", "padding"),
        (("PA12", SLS), ("PA11", MJF)),
        ("S", "M", "L", "XL"),
        (29000, 89000),
        colors=("white", "black", "skin"),
        finishes=("raw", "dyed"),
        grams=(120.0, 420.0),
    ),
    Catalog(
        "Custom insole",
        "insole",
        ("base", "top cover", "heel cup"),
        (("TPU", MJF), ("PA12", SLS), ("EVA-TPU", FDM)),
        tuple(range(35, 48)),
        (6000, 18000),
        colors=("black", "grey", "blue"),
        finishes=("raw", "textile-covered"),
        units=(1, 1, 1, 2),
        grams=(35.0, 110.0),
    ),
    Catalog(
        "Pendant",
        "pendant",
        ("pendant", "bail", "chain"),
        (("silver", WAX), ("gold", WAX), ("brass", WAX)),
        ("40 cm", "45 cm", "50 cm"),
        (3900, 24900),
        colors=("natural", "rose", "black"),
        finishes=("polished", "brushed"),
        grams=(2.0, 12.0),
    ),
    Catalog(
        "Stud earrings",
        "earrings",
        ("stud", "back"),
        (("silver", WAX), ("gold", WAX), ("titanium", DMLS)),
        ("6 mm", "8 mm", "10 mm"),
        (2500, 15900),
        colors=("natural", "rose"),
        finishes=("polished", "matte"),
        units=(2,),
        grams=(0.5, 3.0),
    ),
    Catalog(
        "Eyewear frame",
        "eyewear",
        ("front", "temple left", "temple right"),
        (("PA12", SLS), ("PA11", MJF)),
        ("48-18", "50-19", "52-20", "54-18"),
        (14900, 39000),
        colors=("black", "tortoise", "crystal", "navy"),
        finishes=("dyed", "polished", "matte"),
        grams=(12.0, 28.0),
    ),
    Catalog(
        "Phone case",
        "case",
        ("case", "grip"),
        (("TPU", MJF), ("PA12", SLS), ("PETG", FDM)),
        ("iPhone 15", "iPhone 15 Pro", "Pixel 8", "Galaxy S24"),
        (1990, 4990),
        colors=("black", "white", "sage", "coral"),
        finishes=("raw", "dyed"),
        units=(1, 1, 1, 2, 3),
        grams=(18.0, 35.0),
    ),
    Catalog(
        "Figurine",
        "figurine",
        ("body", "base", "accessory"),
        (("resin", SLA), ("PLA", FDM), ("PA12", SLS)),
        ("8 cm", "12 cm", "18 cm", "25 cm"),
        (2400, 14900),
        colors=("grey", "full colour", "white"),
        finishes=("raw", "primed", "painted"),
        units=(1, 1, 2, 4),
        grams=(10.0, 240.0),
    ),
    Catalog(
        "Hearing aid shell",
        "hearing",
        ("shell", "faceplate"),
        (("biocompatible resin", SLA),),
        ("left", "right"),
        (9000, 26000),
        colors=("beige", "clear", "brown"),
        finishes=("lacquered",),
        units=(1, 1, 2),
        grams=(0.8, 2.5),
    ),
)

FIRST_NAMES = (
    "Ann Bram Chloe Daan Emma Finn Grace Hugo Ines Jonas Kato Lars Mila Noah Olivia Pieter "
    "Quinten Rosa Sam Tess Umar Vera Wout Xena Yara Zeno Lucas Sofia Mateo Amelie Luca Nora "
    "Elias Julia Leon Mia Oscar Hanna Felix Lea Arthur Louise Jules Marie Victor Camille "
    "Aiko Kenji Priya Arjun Fatima Omar Chen Wei Ana Diego Ingrid Sven Aoife Cian Zofia Piotr"
).split()
LAST_NAMES = (
    "Peeters Janssens Maes Jacobs Mertens Willems Claes Goossens Wouters Desmet Dubois "
    "Lambert Martin Bernard Durand Moreau Laurent Müller Schmidt Schneider Fischer Weber "
    "Meyer Wagner Becker Rossi Russo Ferrari Esposito Garcia Fernandez Lopez Martinez Smith "
    "Jones Taylor Brown Williams Wilson Nowak Kowalski Jensen Nielsen Hansen Johansson "
    "Andersson Tanaka Sato Suzuki Kumar Singh Haddad Nguyen Tran Murphy Kelly O'Brien Silva"
).split()
MAIL_DOMAINS = (
    "example.com",
    "example.org",
    "example.net",
    "mail.example",
    "inbox.example",
    "post.example",
)
COMPANIES = (
    "Orthoteam Antwerp",
    "Podiatry Plus",
    "Goldsmith Verbeke",
    "Studio Facet",
    "MedTech Ghent",
    "OptiCraft",
    "Atelier Lumen",
)
CITIES = (
    ("Antwerp", "2000", "BE"),
    ("Ghent", "9000", "BE"),
    ("Brussels", "1000", "BE"),
    ("Leuven", "3000", "BE"),
    ("Amsterdam", "1012 AB", "NL"),
    ("Rotterdam", "3011 AD", "NL"),
    ("Lille", "59000", "FR"),
    ("Paris", "75011", "FR"),
    ("Cologne", "50667", "DE"),
    ("Berlin", "10115", "DE"),
    ("Milan", "20121", "IT"),
    ("Madrid", "28004", "ES"),
    ("Dublin", "D02 X285", "IE"),
    ("Copenhagen", "1050", "DK"),
)
STREETS = (
    "Meir",
    "Kerkstraat",
    "Stationsstraat",
    "Rue de la Paix",
    "Hauptstraße",
    "Via Roma",
    "Calle Mayor",
    "Main Street",
    "Dorpsstraat",
    "Nørregade",
)
CHANNELS = ("web", "web", "web", "app", "marketplace", "b2b portal")
LOCALES = {"BE": "nl-BE", "NL": "nl-NL", "FR": "fr-FR", "DE": "de-DE", "IT": "it-IT"}
LOCALES |= {"ES": "es-ES", "IE": "en-IE", "DK": "da-DK"}
TAG_SETS = (("vip",), ("rush",), ("gift",), ("vip", "rush"), ("gift", "rush"), ("vip", "gift"))
TAG_WEIGHTS = (35, 25, 20, 8, 7, 5)
# Orders of the last few days are often still running; older ones are mostly done.
RECENT_S = 3 * DAY_S
RECENT_STATUS = (
    (OrderStatus.CREATED, OrderStatus.IN_PROGRESS, OrderStatus.SUCCESS, OrderStatus.UNHEALTHY),
    (25, 45, 25, 5),
)
OLDER_STATUS = (
    (
        OrderStatus.SUCCESS,
        OrderStatus.IN_PROGRESS,
        OrderStatus.CREATED,
        OrderStatus.UNHEALTHY,
        OrderStatus.FAILURE,
    ),
    (86, 4, 2, 3, 5),
)


@dataclass
class Batch:
    orders: list[Order] = field(default_factory=list)
    products: list[Product] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)
    events: list[OrderEvent] = field(default_factory=list)


@contextmanager
def _sqlite_cache(conn: BaseDatabaseWrapper) -> Iterator[None]:
    """On SQLite, a 256 MiB page cache while seeding, then the previous size again.

    With the default 2 MiB, once the database outgrows the cache, inserts into the indexes
    that are not in time order (by name, value, deadline) read their pages back from disk.
    """
    if conn.vendor != "sqlite":
        yield
        return
    with conn.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        previous = int(cursor.fetchone()[0])
        cursor.execute(f"PRAGMA cache_size = {SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        with conn.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {previous}")


class Inserter:
    """`INSERT` of model instances, without `pre_save` and without the ORM's SQL compiler.

    Each value is adapted by its field's `get_db_prep_save`, as `bulk_create` does, so UUIDs,
    datetimes, decimals and JSON are stored exactly as the ORM stores them. What it skips is
    `pre_save` (which would overwrite `auto_now(_add)` fields with "now") and Django's
    compilation of every statement. PostgreSQL gets the rows through `COPY ... FROM STDIN`
    (psycopg 3), other databases (SQLite) through one `executemany` of a prepared INSERT,
    which SQLite runs in C row after row. Every concrete column is written except
    database-generated ones (auto-increment ids), so fields added to a model later are
    inserted with their Python defaults.
    """

    def __init__(self, conn: BaseDatabaseWrapper, model: type[Model]) -> None:
        meta = model._meta
        self.conn = conn
        self.fields = [
            f
            for f in meta.local_concrete_fields
            if not f.db_returning and not getattr(f, "generated", False)
        ]
        quote = conn.ops.quote_name
        # Only names from the model's metadata, quoted by the backend; values are parameters.
        target = (
            f"{quote(meta.db_table)} ({', '.join(quote(cast(str, f.column)) for f in self.fields)})"
        )
        self.copy = conn.vendor == "postgresql"
        if self.copy:
            self.sql = f"COPY {target} FROM STDIN"
        else:
            values = ", ".join(["%s"] * len(self.fields))
            self.sql = f"INSERT INTO {target} VALUES ({values})"  # noqa: S608

    def insert(self, objs: list[Any]) -> None:
        conn, fields = self.conn, self.fields
        rows = [
            tuple(f.get_db_prep_save(getattr(obj, f.attname), conn) for f in fields) for obj in objs
        ]
        if not self.copy:
            with conn.cursor() as cursor:
                cursor.executemany(self.sql, rows)
            return
        conn.ensure_connection()
        raw: Any = conn.connection  # psycopg 3, inside the current transaction
        with raw.cursor() as cursor, cursor.copy(self.sql) as copy:
            for row in rows:
                copy.write_row(row)


def _time_ordered_id(created: datetime) -> uuid.UUID:
    """A UUIDv7 (RFC 9562): the creation time in milliseconds, then 74 random bits."""
    ms = int(created.timestamp() * 1000)
    tail = uuid.uuid4().int & ((1 << 80) - 1) & ~(0xF << 76)
    return uuid.UUID(int=(ms << 80) | (0x7 << 76) | tail)


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


ASCII = str.maketrans({"ü": "ue", "ø": "o", "'": "", " ": ""})


def _ascii(text: str) -> str:
    return text.translate(ASCII).lower()


class Generator:
    """Builds the rows of orders numbered `start`, `start + 1`, ... for one space."""

    def __init__(self, space: Space, *, seed: int, start: int, total: int, now: datetime) -> None:
        self.space = space
        self.start = start
        self.total = total
        self.now = now
        self.rng = random.Random(f"fabflow-seed:{seed}:{start}")

    def order_number(self, index: int) -> str:
        return f"{ID_PREFIX}{self.start + index:06d}"

    def batch(self, first: int, count: int) -> Batch:
        batch = Batch()
        for index in range(first, first + count):
            self._order(batch, index)
        return batch

    def _order(self, batch: Batch, index: int) -> None:
        rng = self.rng
        # Evenly spread over the last 365 days, oldest first, so higher numbers are newer.
        age_s = (self.total - index - rng.random()) * SPAN_S / self.total
        created = self.now - timedelta(seconds=age_s)
        statuses, weights = RECENT_STATUS if age_s < RECENT_S else OLDER_STATUS
        status = rng.choices(statuses, weights)[0]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{_ascii(first)}.{_ascii(last)}{rng.randint(1, 99)}@{rng.choice(MAIL_DOMAINS)}"
        info: dict[str, str] = {"name": f"{first} {last}", "email": email}
        if rng.random() < 0.4:
            info["phone"] = (
                f"+32 4{rng.randint(60, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} "
                f"{rng.randint(10, 99)}"
            )
        if rng.random() < 0.1:
            info["company"] = rng.choice(COMPANIES)
        city, postcode, country = rng.choice(CITIES)
        address = {
            "addressType": "shipping",
            "purpose": "",
            "data": {
                "name": info["name"],
                "street": f"{rng.choice(STREETS)} {rng.randint(1, 240)}",
                "postalCode": postcode,
                "city": city,
                "country": country,
            },
        }
        tags = list(rng.choices(TAG_SETS, TAG_WEIGHTS)[0]) if rng.random() < 0.2 else []
        deadline = None
        if rng.random() < 0.6:
            deadline = created + timedelta(days=rng.randint(3, 28), hours=rng.choice((12, 17)))
        updated = min(created + timedelta(seconds=rng.randint(60, 14 * DAY_S)), self.now)
        if status == OrderStatus.CREATED:
            updated = created
        number = self.order_number(index)
        order = Order(
            id=_time_ordered_id(created),
            organization_id=self.space.organization_id,
            space_id=self.space.pk,
            name=number,
            third_party_order_id=number,
            status=status,
            currency="EUR",
            deadline=deadline,
            tags=tags,
            tag_index="".join(f"|{t}" for t in tags) + ("|" if tags else ""),
            customer_email=email,
            customer_info=info,
            addresses=[address],
            data={"channel": rng.choice(CHANNELS), "locale": LOCALES.get(country, "en-GB")},
            created_at=created,
            updated_at=updated,
        )
        total_cents = 0
        n_parts = 0
        n_products = rng.choice((1, 1, 1, 2, 2, 3))
        for position in range(n_products):
            product, cents, parts = self._product(order, position, created)
            total_cents += cents
            n_parts += len(parts)
            batch.products.append(product)
            batch.parts.extend(parts)
        order.value = _money(total_cents)
        batch.orders.append(order)
        batch.events.append(
            OrderEvent(
                order_id=order.pk,
                kind=EventKind.ORDER_CREATED,
                message=f"Order {number} created",
                data={"products": n_products, "parts": n_parts, "assets": 0},
                actor=ACTOR,
                created_at=created,
            )
        )

    def _product(
        self, order: Order, position: int, created: datetime
    ) -> tuple[Product, int, list[Part]]:
        rng = self.rng
        item = rng.choice(CATALOG)
        material, tech = rng.choice(item.materials)
        size = rng.choice(item.sizes)
        color = rng.choice(item.colors)
        finish = rng.choice(item.finishes)
        units = rng.choice(item.units)
        unit_cents = rng.randint(*item.cents)
        product = Product(
            id=_time_ordered_id(created),
            organization_id=order.organization_id,
            order_id=order.pk,
            position=position,
            name=item.name,
            configuration_id=f"cfg-{item.slug}-{rng.getrandbits(32):08x}",
            configuration={"size": size, "material": material, "color": color, "finish": finish},
            units=units,
            unit_value=_money(unit_cents),
            created_at=created,
        )
        parts = []
        for part_position, part_name in enumerate(item.parts[: rng.randint(1, 3)]):
            grams = round(rng.uniform(*item.grams), 1)
            parts.append(
                Part(
                    id=_time_ordered_id(created),
                    organization_id=order.organization_id,
                    order_id=order.pk,
                    product_id=product.pk,
                    position=part_position,
                    name=part_name,
                    data={"material": material, "color": color},
                    manufacturing_data={
                        "printTimeS": int(grams * rng.uniform(120, 600)) + rng.randint(300, 1800),
                        "filamentG": grams,
                        "machine": rng.choice(tech.machines),
                        "technology": tech.name,
                        "layerHeightMm": rng.choice(tech.layer_mm),
                        "buildJob": f"JOB-{created:%y%m%d}-{rng.randint(1, 12):02d}",
                    },
                    created_at=created,
                )
            )
        return product, units * unit_cents, parts


def next_number(space: Space) -> int:
    """One past the highest `WEB-<digits>` third-party id of the space (1 when none)."""
    last = (
        Order.objects.filter(space=space, third_party_order_id__regex=rf"^{ID_PREFIX}[0-9]+$")
        .annotate(length=Length("third_party_order_id"))
        .order_by("-length", "-third_party_order_id")
        .values_list("third_party_order_id", flat=True)
        .first()
    )
    return int(last.removeprefix(ID_PREFIX)) + 1 if last else 1


class Command(BaseCommand):
    help = "Seed a space with many realistic orders (bulk inserts) for scale testing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--orders", type=int, default=1000, help="how many (default 1000)")
        parser.add_argument(
            "--space", default=DEFAULT_SPACE, help=f"space key (default {DEFAULT_SPACE})"
        )
        parser.add_argument(
            "--org", default=None, help=f"organization of a new space (default {DEFAULT_ORG!r})"
        )
        parser.add_argument(
            "--batch", type=int, default=2000, help="orders per transaction (default 2000)"
        )
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")

    def handle(self, *args: object, **options: Any) -> None:
        self.verbosity = int(options["verbosity"])
        total: int = options["orders"]
        batch_size: int = options["batch"]
        if total < 1:
            raise CommandError("--orders must be at least 1")
        if batch_size < 1:
            raise CommandError("--batch must be at least 1")
        space = self._space(options["space"], options["org"])
        start = next_number(space)
        started = time.perf_counter()
        generator = Generator(
            space, seed=options["seed"], start=start, total=total, now=timezone.now()
        )
        self._log(
            f"Seeding {total} orders into space {space.key} "
            f"({generator.order_number(0)} to {generator.order_number(total - 1)})"
        )
        conn = connections[DEFAULT_DB_ALIAS]  # not the proxy: it is consulted for every value
        inserters = [Inserter(conn, m) for m in (Order, Product, Part, OrderEvent)]
        counts = [0, 0, 0]
        with _sqlite_cache(conn):
            for first in range(0, total, batch_size):
                batch = generator.batch(first, min(batch_size, total - first))
                rows: tuple[list[Any], ...] = (
                    batch.orders,
                    batch.products,
                    batch.parts,
                    batch.events,
                )
                with transaction.atomic():
                    for inserter, objs in zip(inserters, rows, strict=True):
                        inserter.insert(objs)
                counts[0] += len(batch.orders)
                counts[1] += len(batch.products)
                counts[2] += len(batch.parts)
                elapsed = time.perf_counter() - started
                self._log(f"  {counts[0]:>9}/{total} orders  {counts[0] / elapsed:8.0f} orders/s")
        elapsed = time.perf_counter() - started
        # Fresh statistics let the query planner pick the list indexes for the new data.
        with conn.cursor() as cursor:
            cursor.execute("ANALYZE")
        self.stdout.write(
            f"Seeded {counts[0]} orders, {counts[1]} products, {counts[2]} parts into space "
            f"{space.key} ({conn.vendor}) in {elapsed:.1f} s: "
            f"{counts[0] / elapsed:.0f} orders/s"
        )
        self._log(
            f"Next: fabflow createkey --space {space.key} (an API key); fabflow createuser "
            f"--org {space.organization.name!r} --email E --password P --admin (a login)"
        )

    def _space(self, key: str, org_name: str | None) -> Space:
        space = Space.objects.select_related("organization").filter(key=key).first()
        if space is not None:
            if org_name is not None and space.organization.name != org_name:
                raise CommandError(
                    f"space {key!r} belongs to organization {space.organization.name!r}"
                )
            return space
        try:
            validate_slug(key)
        except ValidationError as exc:
            raise CommandError("the space key may hold letters, digits, - and _ only") from exc
        with transaction.atomic():
            org = Organization.objects.filter(name=org_name or DEFAULT_ORG).first()
            if org is None:
                org = create_organization(name=org_name or DEFAULT_ORG)
            space = create_space(organization=org, key=key)
        self._log(f"Created space {key} in organization {org.name!r}")
        return space

    def _log(self, message: str) -> None:
        if self.verbosity >= 1:
            self.stdout.write(message)
