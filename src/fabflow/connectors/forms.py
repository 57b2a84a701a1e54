"""The Connections page's form: the services check the rules, the form carries the values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.http import QueryDict

from fabflow.accounts.models import Organization, Space
from fabflow.connectors.models import ConnectionKind
from fabflow.connectors.schemas import credential_fields

CREDENTIAL_PREFIX = "credential-"
# The services name fields as the API does; the form's names for them.
FORM_FIELDS = {"name": "name", "kind": "kind", "baseUrl": "base_url", "spaceKey": "space"}


class ConnectionForm(forms.Form):
    """Create (with a space) or edit (without) a connection. Credentials are read apart, by
    kind: `credential-<name>` inputs, never rendered back with their values."""

    space = forms.ModelChoiceField(queryset=Space.objects.none(), to_field_name="key")
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=ConnectionKind.choices)
    base_url = forms.CharField(max_length=2000, label="Base URL")

    def __init__(
        self, *args: Any, organization: Organization, creating: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if creating:
            spaces = Space.objects.filter(organization=organization).order_by("key")
            self.fields["space"].queryset = spaces  # type: ignore[attr-defined]
        else:
            del self.fields["space"]
            del self.fields["kind"]  # a new kind needs new credentials: a new connection
        self.credential_errors: dict[str, str] = {}

    def credentials(self, data: QueryDict, kind: str) -> dict[str, str]:
        """The kind's credential inputs as given (empty ones too: an edit keeps those)."""
        return {name: data.get(CREDENTIAL_PREFIX + name, "") for name in credential_fields(kind)}

    def add_problems(self, problems: Sequence[tuple[Sequence[str | int], str]]) -> None:
        """A service's refusal, shown beside the fields it names."""
        for loc, reason in problems:
            path = [str(part) for part in loc[1:]]  # after "body"
            if path[:1] == ["credentials"] and len(path) > 1:
                self.credential_errors[path[1]] = reason
            elif path and FORM_FIELDS.get(path[0]) in self.fields:
                self.add_error(FORM_FIELDS[path[0]], reason)
            else:
                self.add_error(None, reason)
