"""fabflow signingsecret --space KEY [--rotate]: prints the space's webhook signing secret."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fabflow.accounts.models import Space
from fabflow.accounts.services import reveal_signing_secret, rotate_signing_secret


class Command(BaseCommand):
    help = (
        "Print a space's webhook signing secret; with --rotate, make a new one first (the old "
        "one keeps signing beside it for FABFLOW_SIGNING_SECRET_GRACE_SECONDS)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--space", required=True)
        parser.add_argument("--rotate", action="store_true")

    def handle(self, *args: object, **options: str) -> None:
        space = Space.objects.filter(key=options["space"]).first()
        if space is None:
            raise CommandError(f"no space {options['space']!r}")
        if options["rotate"]:
            space = rotate_signing_secret(space=space)
        self.stdout.write(reveal_signing_secret(space=space))
