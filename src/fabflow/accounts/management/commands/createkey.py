"""fabflow createkey --space KEY [--name N]: prints only the new secret key."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fabflow.accounts.models import Space
from fabflow.accounts.services import create_secret_key


class Command(BaseCommand):
    help = "Create a secret key for a space and print it (it is shown only this once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--space", required=True)
        parser.add_argument("--name", default="")

    def handle(self, *args: object, **options: str) -> None:
        space = Space.objects.filter(key=options["space"]).first()
        if space is None:
            raise CommandError(f"no space {options['space']!r}")
        _key, plain = create_secret_key(space=space, name=options["name"])
        self.stdout.write(plain)
