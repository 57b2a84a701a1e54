"""Every timeline kind has a label for the order page (which never shows a stored kind)."""

from __future__ import annotations

from fabflow.orders.kinds import LABELS, EventKind


def test_every_event_kind_has_a_label_of_its_own() -> None:
    assert set(LABELS) == {kind.value for kind in EventKind}
    assert len(set(LABELS.values())) == len(EventKind)
    assert LABELS[EventKind.TASK_RETRY_SCHEDULED] == "Task retry scheduled"
    assert [label for label in LABELS.values() if label in LABELS] == []
