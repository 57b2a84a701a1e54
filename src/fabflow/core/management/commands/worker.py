"""fabflow worker: run a flow/job worker (django-tasks-db's db_worker)."""

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run a background worker; start as many as you like, on as many hosts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval",
            type=float,
            default=0.5,
            help="seconds between polls when idle (default 0.5)",
        )
        parser.add_argument("--batch", action="store_true", help="run what is due now, then exit")

    def handle(self, *args: object, interval: float, batch: bool, **options: object) -> None:
        call_command(
            "db_worker",
            queue_name="*",
            interval=interval,
            batch=batch,
            reload=False,
            verbosity=options.get("verbosity", 1),
        )
