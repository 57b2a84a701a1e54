"""Which version of a model an order renders (production/selectors.py: version_for_order)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from fabflow.production import selectors, services
from fabflow.production.models import ModelVersion
from tests.factories import Tenant


def test_an_order_keeps_the_version_it_started_with(tenant: Tenant) -> None:
    # given a model saved, then changed after an order arrived
    first = services.create_model(space=tenant.space, name="ring", kind="openscad", source="a=1;")
    model = first.version.model
    order_created_at = timezone.now()
    second = services.save_version(model=model, source="a=2;")
    # the versions' times, as if written minutes apart
    ModelVersion.objects.filter(pk=first.version.pk).update(
        created_at=order_created_at - timedelta(minutes=5)
    )
    ModelVersion.objects.filter(pk=second.version.pk).update(
        created_at=order_created_at + timedelta(minutes=5)
    )
    key = tenant.space.key
    # then the order renders version 1, a later order version 2
    found = selectors.version_for_order(key, "ring", order_created_at)
    assert found is not None and found.number == 1 and found.source == "a=1;"
    later = selectors.version_for_order(key, "ring", order_created_at + timedelta(minutes=6))
    assert later is not None and later.number == 2
    # and an order older than the model renders its first version
    older = selectors.version_for_order(key, "ring", order_created_at - timedelta(days=1))
    assert older is not None and older.number == 1


def test_no_model_of_that_name_in_the_space(tenant: Tenant, other_tenant: Tenant) -> None:
    services.create_model(space=tenant.space, name="ring", kind="openscad", source="a=1;")
    now = timezone.now()
    assert selectors.version_for_order(tenant.space.key, "bangle", now) is None
    assert selectors.version_for_order(other_tenant.space.key, "ring", now) is None
