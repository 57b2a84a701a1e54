"""fabflow createorg NAME"""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fabflow.accounts.models import Organization
from fabflow.accounts.services import create_organization


class Command(BaseCommand):
    help = "Create an organization."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")

    def handle(self, *args: object, name: str, **options: object) -> None:
        if Organization.objects.filter(name=name).exists():
            raise CommandError(f"organization {name!r} already exists")
        org = create_organization(name=name)
        self.stdout.write(str(org.id))
