"""Idempotency-Key on POST /orders: replay, mismatch, and concurrent duplicates."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from fabflow.orders.models import IdempotencyKey, Order
from tests.factories import ApiClient, Tenant, make_tenant, order_body


def post(api: ApiClient, body: dict[str, Any], key: str) -> Any:
    return api.post("/api/v1/orders", body, headers={"Idempotency-Key": key})


def test_retry_with_same_key_and_body_replays_the_first_response(api: ApiClient) -> None:
    first = post(api, order_body(), "k-1")
    second = post(api, order_body(), "k-1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert Order.objects.count() == 1


def test_replay_ignores_key_order_and_whitespace_of_the_body(api: ApiClient) -> None:
    body = order_body()
    first = post(api, body, "k-2")
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2)
    second = api.post("/api/v1/orders", raw=reordered, headers={"Idempotency-Key": "k-2"})
    assert second.status_code == 201
    assert second.json()["id"] == first.json()["id"]


def test_same_key_with_another_body_is_422(api: ApiClient) -> None:
    post(api, order_body(), "k-3")
    response = post(api, order_body(tags=["changed"]), "k-3")
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert Order.objects.count() == 1


def test_keys_are_scoped_to_the_space(api: ApiClient, other_tenant: Tenant) -> None:
    post(api, order_body(), "shared-key")
    other = ApiClient(other_tenant.secret)
    response = post(other, order_body(), "shared-key")
    assert response.status_code == 201
    assert Order.objects.count() == 2


def test_a_failed_request_releases_the_key(api: ApiClient) -> None:
    post(api, order_body("USED"), "k-4a")
    # a conflicting thirdPartyOrderId fails the request...
    assert post(api, order_body("USED"), "k-4b").status_code == 409
    # ...and the key is free again for a corrected retry with another body
    assert post(api, order_body("FRESH"), "k-4b").status_code == 201


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="advisory locks: PostgreSQL")
def test_a_request_in_progress_with_the_key_is_409_at_once(tenant: Tenant) -> None:
    # given another session whose transaction holds the key (a request still being processed)
    import psycopg

    from fabflow.orders.idempotency import Claim, lock_number

    api = ApiClient(tenant.secret)
    other = psycopg.connect(**connection.get_connection_params())
    try:
        with other.transaction():
            number = lock_number(Claim(tenant.space, "busy", "-"))
            taken = other.execute("SELECT pg_try_advisory_xact_lock(%s)", [number]).fetchone()
            assert taken == (True,)
            # when the same key arrives
            response = post(api, order_body(), "busy")
    finally:
        other.close()
    # then it is 409 with Retry-After, and nothing was written
    assert response.status_code == 409
    assert response["Retry-After"] == "1"
    assert Order.objects.count() == 0
    assert IdempotencyKey.objects.count() == 0


def test_a_claim_left_in_progress_by_an_older_version_is_taken_over(
    api: ApiClient, tenant: Tenant
) -> None:
    # given a claim committed by a version that claimed first (ADR 0001) and then crashed
    from fabflow.orders.idempotency import request_hash
    from fabflow.orders.schemas import OrderIn

    digest = request_hash(OrderIn.model_validate(order_body()).model_dump(mode="json"))
    IdempotencyKey.objects.create(
        space=tenant.space, key="crashed", request_hash=digest, locked_at=timezone.now()
    )
    # when the request is retried, then it is served and recorded once
    assert post(api, order_body(), "crashed").status_code == 201
    assert Order.objects.count() == 1
    assert IdempotencyKey.objects.get().state == IdempotencyKey.State.DONE


def test_a_keyed_order_and_its_response_are_written_in_one_transaction(api: ApiClient) -> None:
    # given a request whose order cannot be written (a conflicting thirdPartyOrderId)
    post(api, order_body("TAKEN"), "k-first")
    # when it is sent with a new key, then nothing of it stays: no claim row to release
    assert post(api, order_body("TAKEN"), "k-second").status_code == 409
    assert list(IdempotencyKey.objects.values_list("key", "state")) == [("k-first", "done")]


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\tkey", "ключ"])
def test_invalid_keys_are_422(api: ApiClient, key: str) -> None:
    response = post(api, order_body(), key)
    assert response.status_code == 422
    assert Order.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_creates_with_one_key_make_one_order(live_server: Any) -> None:
    # given a real threaded server and one body
    tenant = make_tenant("Concurrent", "conc-space")
    data = json.dumps(order_body("RACE-1")).encode()

    def send(_: int) -> tuple[int, str]:
        request = urllib.request.Request(
            f"{live_server.url}/api/v1/orders",
            data=data,
            method="POST",
            headers={
                "Authorization": f"Bearer {tenant.secret}",
                "Idempotency-Key": "race",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())["id"]
        except urllib.error.HTTPError as exc:
            return exc.code, ""

    # when 20 clients send it at once
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(send, range(20)))
    # then exactly one order exists, successes all name it, the rest are 409
    assert Order.objects.count() == 1
    order_id = str(Order.objects.get().id)
    assert {code for code, _ in results} <= {201, 409}
    assert {oid for code, oid in results if code == 201} == {order_id}
    assert any(code == 201 for code, _ in results)


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_with_one_third_party_id_make_one_order(live_server: Any) -> None:
    tenant = make_tenant("Concurrent2", "conc-space-2")
    data = json.dumps(order_body("RACE-2")).encode()

    def send(_: int) -> int:
        request = urllib.request.Request(
            f"{live_server.url}/api/v1/orders",
            data=data,
            method="POST",
            headers={
                "Authorization": f"Bearer {tenant.secret}",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = list(pool.map(send, range(10)))
    assert sorted(codes) == [201] + [409] * 9
    assert Order.objects.count() == 1
