"""Accounts app: organizations, users, spaces and secret keys."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "fabflow.accounts"
    label = "accounts"
