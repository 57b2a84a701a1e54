"""The flow editor lists warnings beside errors: the definition stays valid and saves."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from fabflow.flows.services import create_flow
from tests.browser.conftest import Shop
from tests.browser.test_flows import manual_flow, set_editor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ASSET_MAIL = {
    "key": "files",
    "handlerKey": "asset-email",
    "payload": {
        "filter": r"\.zip$",
        "recipients": "{customerEmail}",
        "subject": "Your files",
        "body": "{assetOverview}",
        "needConfirmation": True,
    },
}
WARNING = "no {confirmationUrl}: the confirmation link is added as a button under the body"


def test_a_confirmation_body_without_its_link_is_warned_about(
    app: Page, live_server: Any, shop: Shop
) -> None:
    # given a flow in the editor
    flow = create_flow(space=shop.space, name="ring-flow", definition=manual_flow())
    app.goto(f"{live_server.url}/flows/{flow.id}")
    app.wait_for_function("() => window.fabflowEditor !== undefined")
    # when the definition gets an asset-email needing confirmation with no {confirmationUrl}
    set_editor(app, [{"key": "start", "name": "Start", "taskDefinitions": [ASSET_MAIL]}])
    # then the live validation shows a warning at the body, and the definition is valid
    warning = app.locator("#errors li.list-group-item-warning")
    expect(warning).to_have_count(1)
    expect(warning.locator("code")).to_have_text("[0].taskDefinitions[0].payload.body")
    expect(warning).to_contain_text(WARNING)
    expect(app.locator("#valid-badge")).to_have_text("valid")
    # when saved, then the new version's page shows the warning too
    with app.expect_navigation():
        app.click("#save-flow")
    expect(app.locator("h1")).to_contain_text("version 2")
    expect(app.locator("#errors li.list-group-item-warning")).to_contain_text(WARNING)
