"""fabflow seed --orders N [--space KEY] [--org NAME] [--batch 2000] [--seed 1]: scale test data.

Orders of the last 365 days with 1-3 products of 1-3 parts, a customer, an address, a status,
deadlines and tags on some, and an `order.created` event; no assets, no flows. Written through
intake's multi-row insert, a transaction per `--batch` orders. The same `--seed` gives the same
orders; third-party ids go on after the space's highest `WEB-<number>`, which also seeds the draw.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_slug
from django.db import connection, transaction
from django.db.models.functions import Length
from django.utils import timezone

from fabflow.accounts.models import Organization, Space
from fabflow.accounts.services import create_organization, create_space
from fabflow.orders.inserts import insert_rows
from fabflow.orders.kinds import EventKind
from fabflow.orders.models import Order, OrderEvent, OrderStatus, Part, Product

DEFAULT_ORG, DEFAULT_SPACE, PREFIX = "Seed Manufacturing", "seed-space", "WEB-"
DAY_S = 86400
# Rows per INSERT: one statement shape, which psycopg converts once and PostgreSQL prepares
# once; the longest statements `insert_rows` would make are parsed anew every time (half the
# speed on PostgreSQL). 40 rows stay within SQLite's 999 parameters too.
ROWS = 40

# technology: machines; layer heights (mm); colours; finishes
TECHNOLOGIES = {
    "wax-print": ("Solidscape S500 #2,Asiga MAX #5", "0.025", "natural,rose,black", "polished"),
    "DMLS": ("EOS M290 #1", "0.03 0.04", "natural,black", "polished,brushed,hammered"),
    "SLS": ("EOS P396 #1,EOS P396 #2,Fuse 1+ #3", "0.1 0.12", "white,black,grey,blue", "raw,dyed"),
    "MJF": ("HP MJF 5200 #1,HP MJF 5200 #2", "0.08", "black,grey,skin", "dyed,vapour-smoothed"),
    "FDM": ("Prusa MK4 #07,Prusa MK4 #12,Bambu X1C #03", "0.1 0.2 0.28", "black,sage,coral", "raw"),
    "SLA": ("Formlabs Form 3 #4,Formlabs Form 4 #1", "0.025 0.05", "grey,clear,beige", "primed"),
}
# product|parts|material:technology,...|sizes (a..b: numbers)|euros|grams|units (weighted)
CATALOG = [
    line.split("|")
    for line in """
Comfort ring|band,setting,stone|silver:wax-print,gold:wax-print,titanium:DMLS|14..22|29-349|1.5-9|1
Signet ring|band,face|silver:wax-print,gold:wax-print,bronze:wax-print|16..23|89-420|4-14|1
Wrist brace|shell,liner,strap|PA12:SLS,PA11:MJF,TPU:MJF|XS,S,M,L,XL|120-380|40-160|1
Ankle-foot orthosis|shell,hinge,padding|PA12:SLS,PA11:MJF|S,M,L,XL|290-890|120-420|1
Custom insole|base,top cover,heel cup|TPU:MJF,PA12:SLS,EVA-TPU:FDM|35..47|60-180|35-110|1 1 2
Pendant|pendant,bail,chain|silver:wax-print,gold:wax-print,brass:wax-print|40,45,50|39-249|2-12|1
Stud earrings|stud,back|silver:wax-print,gold:wax-print,titanium:DMLS|6 mm,8 mm|25-159|0.5-3|2
Eyewear frame|front,temple left,temple right|PA12:SLS,PA11:MJF|48-18,50-19,52-20|149-390|12-28|1
Phone case|case,grip|TPU:MJF,PA12:SLS,PETG:FDM|iPhone 15,Pixel 8,Galaxy S24|20-50|18-35|1 1 2 3
Figurine|body,base,accessory|resin:SLA,PLA:FDM,PA12:SLS|8 cm,12 cm,18 cm|24-149|10-240|1 1 2 4
Hearing aid shell|shell,faceplate|biocompatible resin:SLA|left,right|90-260|0.8-2.5|1 1 2
""".strip().splitlines()
]
FIRST = (
    "Ann Bram Chloe Daan Emma Finn Grace Hugo Ines Jonas Lars Mila Noah Olivia Pieter Rosa Sam "
    "Tess Umar Vera Wout Yara Lucas Sofia Mateo Luca Nora Elias Julia Leon Aiko Kenji Priya Arjun "
    "Fatima Omar Chen Wei Ana Diego Ingrid Sven Aoife Cian Zofia Piotr"
).split()
LAST = (
    "Peeters Janssens Maes Jacobs Mertens Willems Claes Wouters Desmet Dubois Lambert Martin "
    "Durand Moreau Muller Schmidt Fischer Weber Rossi Russo Garcia Lopez Smith Jones Taylor "
    "Brown Nowak Kowalski Jensen Hansen Tanaka Sato Kumar Singh Haddad Nguyen Murphy Kelly Silva"
).split()
COMPANIES = "Orthoteam Antwerp,Podiatry Plus,Goldsmith Verbeke,Studio Facet,OptiCraft".split(",")
CITIES = [
    city.split(":")
    for city in (
        "Antwerp:2000:BE,Ghent:9000:BE,Brussels:1000:BE,Leuven:3000:BE,Amsterdam:1012 AB:NL,"
        "Lille:59000:FR,Paris:75011:FR,Cologne:50667:DE,Berlin:10115:DE,Milan:20121:IT,"
        "Madrid:28004:ES,Dublin:D02 X285:IE,Copenhagen:1050:DK"
    ).split(",")
]
STREETS = "Meir,Kerkstraat,Rue de la Paix,Hauptstraße,Via Roma,Calle Mayor,Main Street".split(",")
CHANNELS = ("web", "web", "web", "app", "marketplace", "b2b portal")
LOCALES = {"BE": "nl-BE", "NL": "nl-NL", "FR": "fr-FR", "DE": "de-DE", "IT": "it-IT"}
TAGS = (["vip"], ["rush"], ["gift"], ["vip", "rush"], ["gift", "rush"]), (35, 25, 20, 10, 10)
S = OrderStatus
# Orders of the last three days are often still running; older ones are mostly done.
RECENT = (S.CREATED, S.IN_PROGRESS, S.SUCCESS, S.UNHEALTHY), (25, 45, 25, 5)
OLDER = (S.SUCCESS, S.IN_PROGRESS, S.CREATED, S.UNHEALTHY, S.FAILURE), (86, 4, 2, 3, 5)


def time_ordered_id(created: datetime) -> uuid.UUID:
    """A UUIDv7 (RFC 9562) of `created`: new rows land on the last pages of each index instead
    of random ones (200,000 orders on SQLite: 132 s instead of 308 s with random keys)."""
    tail = uuid.uuid4().int & ((1 << 80) - 1) & ~(0xF << 76)
    return uuid.UUID(int=(int(created.timestamp() * 1000) << 80) | (0x7 << 76) | tail)


class Generator:
    """Builds the rows of orders numbered `start`, `start + 1`, ... for one space."""

    def __init__(self, space: Space, *, seed: int, start: int, total: int) -> None:
        self.space, self.start, self.total, self.now = space, start, total, timezone.now()
        self.rng = random.Random(f"fabflow-seed:{seed}:{start}")

    def batch(self, first: int, count: int) -> list[list[Any]]:
        rows: list[list[Any]] = [[], [], [], []]  # orders, products, parts, events
        for index in range(first, first + count):
            self._order(rows, index)
        return rows

    def _order(self, rows: list[list[Any]], index: int) -> None:
        rng, number = self.rng, f"{PREFIX}{self.start + index:06d}"
        # Evenly spread over the last 365 days, oldest first, so higher numbers are newer.
        age_s = (self.total - index - rng.random()) * 365 * DAY_S / self.total
        created = self.now - timedelta(seconds=age_s)
        status = rng.choices(*(RECENT if age_s < 3 * DAY_S else OLDER))[0]
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first}.{last}{rng.randint(1, 99)}@example.com".lower()
        info = {"name": f"{first} {last}", "email": email}
        if rng.random() < 0.4:
            info["phone"] = f"+32 4{rng.randint(60, 99)} {rng.randint(100000, 999999)}"
        if rng.random() < 0.1:
            info["company"] = rng.choice(COMPANIES)
        city, postcode, country = rng.choice(CITIES)
        street = f"{rng.choice(STREETS)} {rng.randint(1, 240)}"
        place = {"name": info["name"], "street": street, "postalCode": postcode, "city": city}
        tags = rng.choices(*TAGS)[0] if rng.random() < 0.2 else []
        deadline = None
        if rng.random() < 0.6:
            deadline = created + timedelta(days=rng.randint(3, 28), hours=rng.choice((12, 17)))
        updated = min(created + timedelta(seconds=rng.randint(60, 14 * DAY_S)), self.now)
        order = Order(
            id=time_ordered_id(created),
            organization_id=self.space.organization_id,
            space_id=self.space.pk,
            name=number,
            third_party_order_id=number,
            status=status,
            deadline=deadline,
            tags=tags,
            tag_index="".join(f"|{t}" for t in tags) + ("|" if tags else ""),
            customer_email=email,
            customer_info=info,
            addresses=[{"addressType": "shipping", "data": {**place, "country": country}}],
            data={"channel": rng.choice(CHANNELS), "locale": LOCALES.get(country, "en-GB")},
            created_at=created,
            updated_at=created if status == S.CREATED else updated,
        )
        products = [self._product(order, p) for p in range(rng.choice((1, 1, 1, 2, 2, 3)))]
        parts = [part for _, part_rows in products for part in part_rows]
        order.value = sum((p.units * p.unit_value for p, _ in products), Decimal("0.00"))
        rows[0].append(order)
        rows[1].extend(p for p, _ in products)
        rows[2].extend(parts)
        counts = {"products": len(products), "parts": len(parts), "assets": 0}
        rows[3].append(
            OrderEvent(
                order_id=order.pk,
                kind=EventKind.ORDER_CREATED,
                message=f"Order {number} created",
                data=counts,
                actor="seed",
                created_at=created,
            )
        )

    def _product(self, order: Order, position: int) -> tuple[Product, list[Part]]:
        rng, created = self.rng, order.created_at
        name, part_names, materials, sizes, euros, grams, units = rng.choice(CATALOG)
        material, tech = rng.choice(materials.split(",")).split(":")
        machines, layers, colours, finishes = TECHNOLOGIES[tech]
        low, _, high = sizes.partition("..")  # a range of numbers, or a list of sizes
        size = rng.randint(int(low), int(high)) if high else rng.choice(sizes.split(","))
        colour = rng.choice(colours.split(","))
        configuration = {"size": size, "material": material, "colour": colour}
        own = dict(organization_id=order.organization_id, order_id=order.pk, created_at=created)
        product = Product(
            id=time_ordered_id(created),
            position=position,
            name=name,
            configuration_id=f"cfg-{rng.getrandbits(32):08x}",
            configuration={**configuration, "finish": rng.choice(finishes.split(","))},
            units=int(rng.choice(units.split())),
            unit_value=Decimal(rng.randint(*(int(e) * 100 for e in euros.split("-")))) / 100,
            **own,
        )
        parts = []
        for index, part_name in enumerate(part_names.split(",")[: rng.randint(1, 3)]):
            weight = round(rng.uniform(*map(float, grams.split("-"))), 1)
            manufacturing = {
                "printTimeS": int(weight * rng.uniform(120, 600)) + rng.randint(300, 1800),
                "filamentG": weight,
                "machine": rng.choice(machines.split(",")),
                "technology": tech,
                "layerHeightMm": float(rng.choice(layers.split())),
                "buildJob": f"JOB-{created:%y%m%d}-{rng.randint(1, 12):02d}",
            }
            part = Part(
                id=time_ordered_id(created),
                product_id=product.pk,
                position=index,
                name=part_name,
                data={"material": material, "colour": colour},
                manufacturing_data=manufacturing,
                **own,
            )
            parts.append(part)
        return product, parts


@contextmanager
def seeding() -> Iterator[None]:
    """On SQLite, 256 MiB of page cache while seeding: the indexes not in time order (name,
    value, deadline) outgrow the default 2 MiB, and every insert would read their pages from
    disk. The former size is given back (bench/pages.py measures on the same connection)."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        cache_size = int(cursor.fetchone()[0])
        cursor.execute("PRAGMA cache_size = -262144")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {cache_size}")


def next_number(space: Space) -> int:
    """One past the highest `WEB-<digits>` third-party id of the space (1 when none)."""
    last = (
        Order.objects.filter(space=space, third_party_order_id__regex=rf"^{PREFIX}[0-9]+$")
        .annotate(length=Length("third_party_order_id"))
        .order_by("-length", "-third_party_order_id")
        .values_list("third_party_order_id", flat=True)
        .first()
    )
    return int(last.removeprefix(PREFIX)) + 1 if last else 1


class Command(BaseCommand):
    help = "Seed a space with many realistic orders (bulk inserts) for scale testing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--orders", type=int, default=1000, help="how many (default 1000)")
        parser.add_argument("--space", default=DEFAULT_SPACE, help="space key")
        parser.add_argument("--org", default=None, help="organization of a new space")
        parser.add_argument("--batch", type=int, default=2000, help="orders per transaction")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")

    def handle(self, *args: object, **options: Any) -> None:
        total, size = options["orders"], options["batch"]
        if total < 1 or size < 1:
            raise CommandError("--orders and --batch must be at least 1")
        space = self._space(options["space"], options["org"])
        started = time.perf_counter()
        gen = Generator(space, seed=options["seed"], start=next_number(space), total=total)
        counts = [0, 0, 0]
        with seeding():
            for first in range(0, total, size):
                rows = gen.batch(first, min(size, total - first))
                with transaction.atomic():
                    for objs in rows:
                        for i in range(0, len(objs), ROWS):
                            insert_rows(objs[i : i + ROWS], stamp_times=False)
                counts = [c + len(objs) for c, objs in zip(counts, rows, strict=False)]
                rate = counts[0] / (time.perf_counter() - started)
                self._log(options, f"  {counts[0]:>9}/{total} orders  {rate:8.0f} orders/s")
        elapsed = time.perf_counter() - started
        # Fresh statistics let the query planner pick the list indexes for the new data.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        self.stdout.write(
            f"Seeded {counts[0]} orders, {counts[1]} products, {counts[2]} parts into space "
            f"{space.key} ({connection.vendor}) in {elapsed:.1f} s: {total / elapsed:.0f} orders/s"
        )

    def _space(self, key: str, org_name: str | None) -> Space:
        space = Space.objects.select_related("organization").filter(key=key).first()
        if space is not None:
            if org_name is not None and space.organization.name != org_name:
                name = space.organization.name
                raise CommandError(f"space {key!r} belongs to organization {name!r}")
            return space
        try:
            validate_slug(key)
        except ValidationError as exc:
            raise CommandError("the space key may hold letters, digits, - and _ only") from exc
        with transaction.atomic():
            org = Organization.objects.filter(name=org_name or DEFAULT_ORG).first()
            org = org or create_organization(name=org_name or DEFAULT_ORG)
            return create_space(organization=org, key=key)

    def _log(self, options: dict[str, Any], message: str) -> None:
        if options["verbosity"]:
            self.stdout.write(message)
