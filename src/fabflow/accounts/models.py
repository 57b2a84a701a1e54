"""Organizations, users, spaces and secret keys: who may see and do what."""

from __future__ import annotations

import base64
import secrets
import zoneinfo

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Value
from django.db.models.functions import Lower
from django.utils import timezone

from fabflow.core.models import UUIDModel

# IANA zone names (`Europe/Berlin`) this system's zone data knows.
TIME_ZONES = sorted(zoneinfo.available_timezones())


class Organization(UUIDModel):
    """A customer company; every object belongs to exactly one."""

    name = models.CharField(max_length=200, unique=True)
    # Its people's times are shown in this zone unless they chose their own.
    time_zone = models.CharField(max_length=64, default="UTC")

    def __str__(self) -> str:
        return self.name


class UserManager(BaseUserManager["User"]):
    """E-mail logins compare without case: `Ann@Example.com` is `ann@example.com`."""

    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        """The stored form of an address: trimmed, in lower case (both parts: no mail server
        we send to treats the local part's case as meaningful, and people type it either way)."""
        return (email or "").strip().lower()

    def get_by_natural_key(self, username: str | None) -> User:
        # LOWER on both sides, as the unique index user_email_ci_unique indexes it.
        return self.alias(email_lower=Lower("email")).get(
            email_lower=Lower(Value(username or "", output_field=models.EmailField()))
        )

    def create_user(self, email: str, password: str | None = None, **fields: object) -> User:
        user = self.model(email=self.normalize_email(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: object) -> User:
        fields.update(is_staff=True, is_superuser=True, role=User.Role.ADMIN)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person with an e-mail login in one organization, with a role and tags."""

    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    email = models.EmailField(unique=True)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, null=True, blank=True, related_name="users"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    tags = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # Empty: the organization's zone.
    time_zone = models.CharField(max_length=64, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"

    class Meta:
        constraints = [
            # Two accounts whose addresses differ only in case would share one login.
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = UserManager.normalize_email(self.email)

    @property
    def is_org_admin(self) -> bool:
        return self.role == self.Role.ADMIN

    @property
    def time_zone_name(self) -> str:
        """The zone the web app shows this person's times in."""
        return self.time_zone or (self.organization.time_zone if self.organization else "UTC")


def new_signing_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class Space(UUIDModel):
    """A product space of an organization; orders, flows and secret keys belong to one."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="spaces")
    key = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    signing_secret = models.CharField(max_length=100, default=new_signing_secret)
    # The secret before the last rotation; it signs too until the grace period ends.
    previous_signing_secret = models.CharField(max_length=100, blank=True)
    signing_secret_rotated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.key


class SecretKey(UUIDModel):
    """A space's API key, stored as a SHA-256 hash; the prefix identifies it in lists."""

    space = models.ForeignKey(Space, on_delete=models.PROTECT, related_name="secret_keys")
    name = models.CharField(max_length=200, blank=True)
    prefix = models.CharField(max_length=32, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.space.key})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class TablePreference(models.Model):
    """Which columns of a web table a user has hidden and shown; a column that is in neither
    (one added after they chose) takes its default."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="table_preferences")
    table = models.CharField(max_length=50)
    hidden_columns = models.JSONField(default=list)
    shown_columns = models.JSONField(default=list)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "table"], name="table_pref_unique")]

    def __str__(self) -> str:
        return f"{self.user} {self.table}"
