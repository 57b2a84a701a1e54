"""Forms of the users and keys pages."""

from __future__ import annotations

from typing import Any

from django import forms

from fabflow.accounts.models import Organization, Space, User


def parse_tags(text: str) -> list[str]:
    """Comma-separated tags: trimmed, without empties or duplicates, in order."""
    seen: list[str] = []
    for tag in (t.strip() for t in text.split(",")):
        if tag and tag.lower() not in {s.lower() for s in seen}:
            seen.append(tag[:50])
    return seen[:50]


class UserForm(forms.Form):
    role = forms.ChoiceField(choices=User.Role.choices)
    tags = forms.CharField(
        required=False, max_length=1000, help_text="Comma-separated, e.g. vip, rush"
    )

    def clean_tags(self) -> list[str]:
        return parse_tags(self.cleaned_data["tags"])


class InviteForm(UserForm):
    email = forms.EmailField()

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email=email).exists():
            raise forms.ValidationError("A user with this e-mail already exists.")
        return email


class KeyForm(forms.Form):
    space = forms.ModelChoiceField(queryset=Space.objects.none())
    name = forms.CharField(max_length=200, required=False)

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        spaces = Space.objects.filter(organization=organization).order_by("key")
        self.fields["space"].queryset = spaces  # type: ignore[attr-defined]
