"""fabflow reencryptconnections: encrypts every connection's credentials with the first key."""

from django.core.management.base import BaseCommand, CommandError

from fabflow.connectors.services import reencrypt_connections


class Command(BaseCommand):
    help = (
        "Save every connection's credentials again, encrypted with the first key of "
        "FABFLOW_FIELD_KEYS: the last step of a key rotation (docs/security.md)."
    )

    def handle(self, *args: object, **options: object) -> None:
        saved, unreadable = reencrypt_connections()
        self.stdout.write(f"re-encrypted {saved} connection(s)")
        if unreadable:
            raise CommandError(
                f"{len(unreadable)} connection(s) no key opens, left as they were: "
                + ", ".join(unreadable)
            )
