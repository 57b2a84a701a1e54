"""fabflow createuser --org NAME --email E --password P [--admin]"""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from fabflow.accounts.forms import parse_tags
from fabflow.accounts.models import Organization, User, UserManager
from fabflow.accounts.services import create_user


class Command(BaseCommand):
    help = "Create a user in an organization."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True)
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--admin", action="store_true", help="role admin (default member)")
        parser.add_argument("--tags", default="", help="comma-separated tags")

    def handle(self, *args: object, **options: str) -> None:
        org = Organization.objects.filter(name=options["org"]).first()
        if org is None:
            raise CommandError(f"no organization {options['org']!r}")
        email = UserManager.normalize_email(options["email"])
        if User.objects.filter(email=email).exists():
            raise CommandError(f"user {email} already exists")
        try:
            validate_password(options["password"])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        user = create_user(
            organization=org,
            email=email,
            password=options["password"],
            admin=bool(options["admin"]),
            tags=parse_tags(options["tags"]),
        )
        self.stdout.write(str(user.id))
