"""fabflow createspace --org NAME --key KEY [--name N]"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_slug

from fabflow.accounts.models import Organization, Space
from fabflow.accounts.services import create_space


class Command(BaseCommand):
    help = "Create a space in an organization."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True)
        parser.add_argument("--key", required=True)
        parser.add_argument("--name", default="")

    def handle(self, *args: object, **options: str) -> None:
        org = Organization.objects.filter(name=options["org"]).first()
        if org is None:
            raise CommandError(f"no organization {options['org']!r}")
        try:
            validate_slug(options["key"])
        except ValidationError as exc:
            raise CommandError("the key may hold letters, digits, - and _ only") from exc
        if Space.objects.filter(key=options["key"]).exists():
            raise CommandError(f"space {options['key']!r} already exists")
        space = create_space(organization=org, key=options["key"], name=options["name"])
        self.stdout.write(str(space.id))
