"""fabflow seed --orders N [--space KEY] [--org NAME] [--batch 2000] [--seed 1]

Fills a space with realistic orders, fast, for scale testing the web app and the API: each
order has 1-3 products of 1-3 parts, a customer, a status, a creation time in the last 365
days, a deadline (~60%), tags (~20%), manufacturing data on its parts and one `order.created`
event. No assets and no flows, so nothing touches the file system or the workers.

Speed: rows are built in memory and written with `bulk_create`, one transaction per batch of
orders. `created_at` is `auto_now_add` (and `Order.updated_at` is `auto_now`): Django's
`pre_save` overwrites them with "now" on every insert, `bulk_create` included. A
`bulk_update` afterwards would write every row twice (a slow `CASE WHEN` update), so the
command switches those four fields to plain fields while it runs (`_explicit_timestamps`) and
switches them back afterwards: each row is inserted once, with the timestamp it should have.

Repeatable: the same `--seed` on the same starting data gives the same orders (third-party
ids, customers, products, values, statuses, tags; times relative to now). Third-party ids
continue after the space's highest `WEB-<number>`, so another run adds orders without
collisions; it also draws different data, since the random generator is seeded with the
seed and that starting number. Primary keys stay random UUIDs, as in production.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_slug
from django.db import connection, transaction
from django.db.models import DateTimeField
from django.db.models.functions import Length
from django.utils import timezone

from fabflow.accounts.models import Organization, Space
from fabflow.accounts.services import create_organization, create_space
from fabflow.orders.models import Order, OrderEvent, OrderStatus, Part, Product

DEFAULT_ORG = "Seed Manufacturing"
DEFAULT_SPACE = "seed-space"
ID_PREFIX = "WEB-"
ACTOR = "seed"
DAY_S = 86400
SPAN_S = 365 * DAY_S
# Rows per INSERT statement on PostgreSQL (SQLite is capped by Django at 999 parameters).
INSERT_ROWS = 1000
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
    "Peeters Janssens Maes Jacobs Mertens Willems Claes Goossens Wouters De Smet Dubois "
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
def _explicit_timestamps() -> Iterator[None]:
    """Let `bulk_create` keep the `created_at`/`updated_at` values set on the objects.

    The flags live on the concrete models' own field instances (abstract fields are copied per
    model), so only these four fields change, in this process, while the command runs.
    """
    fields: list[DateTimeField[Any, Any]] = [
        f
        for model in (Order, Product, Part, OrderEvent)
        for f in model._meta.concrete_fields
        if isinstance(f, DateTimeField) and (f.auto_now or f.auto_now_add)
    ]
    saved = [(f, f.auto_now, f.auto_now_add) for f in fields]
    for f in fields:
        f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in saved:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


@contextmanager
def _sqlite_tuning() -> Iterator[None]:
    """On SQLite, a bigger page cache and statements of up to INSERT_ROWS rows while seeding.

    The default 2 MB cache makes every insert into the random-UUID indexes read pages back
    from disk once the database outgrows it; Django also caps a statement at 999 parameters
    (about 50 orders), although SQLite 3.32+ allows 32766 or more.
    """
    if connection.vendor != "sqlite":
        yield
        return
    connection.ensure_connection()
    raw: Any = connection.connection
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        cache_size = cursor.fetchone()[0]
        cursor.execute(f"PRAGMA cache_size = {SQLITE_CACHE_KIB}")
    features: Any = connection.features
    limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    features.max_query_params = max(features.max_query_params, limit)
    try:
        yield
    finally:
        del features.max_query_params  # back to the class attribute
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(cache_size)}")


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _ascii(text: str) -> str:
    table = str.maketrans({"ü": "ue", "ø": "o", "'": "", " ": ""})
    return text.translate(table).lower()


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
                f"+32 4{rng.randint(70, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}"
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
            organization_id=self.space.organization_id,
            space=self.space,
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
                order=order,
                kind="order.created",
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
            organization_id=order.organization_id,
            order=order,
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
                    organization_id=order.organization_id,
                    order=order,
                    product=product,
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
        counts = [0, 0, 0]
        with _explicit_timestamps(), _sqlite_tuning():
            for first in range(0, total, batch_size):
                batch = generator.batch(first, min(batch_size, total - first))
                with transaction.atomic():
                    Order.objects.bulk_create(batch.orders, batch_size=INSERT_ROWS)
                    Product.objects.bulk_create(batch.products, batch_size=INSERT_ROWS)
                    Part.objects.bulk_create(batch.parts, batch_size=INSERT_ROWS)
                    OrderEvent.objects.bulk_create(batch.events, batch_size=INSERT_ROWS)
                counts[0] += len(batch.orders)
                counts[1] += len(batch.products)
                counts[2] += len(batch.parts)
                elapsed = time.perf_counter() - started
                self._log(f"  {counts[0]:>9}/{total} orders  {counts[0] / elapsed:8.0f} orders/s")
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"Seeded {counts[0]} orders, {counts[1]} products, {counts[2]} parts into space "
            f"{space.key} ({connection.vendor}) in {elapsed:.1f} s: "
            f"{counts[0] / elapsed:.0f} orders/s"
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
