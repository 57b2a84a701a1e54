"""The authentication backend of logins and sessions: Django's ModelBackend, whose session
user comes with what every page reads (accounts.selectors.session_user)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.backends import ModelBackend

from fabflow.accounts.models import User
from fabflow.accounts.selectors import session_user


class UserBackend(ModelBackend):
    def get_user(self, user_id: Any) -> User | None:
        user = session_user(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None

    async def aget_user(self, user_id: Any) -> User | None:
        return await sync_to_async(self.get_user)(user_id)
