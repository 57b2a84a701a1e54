"""Flow definition validation: shape, keys, handlers, task graph, timeouts, templates, JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from fabflow.flows.definition import (
    DefinitionError,
    DefinitionInvalid,
    entry_tasks,
    flow_json_schema,
    parse_definition_json,
    parse_flow,
    validate_definition,
)
from fabflow.flows.handlers.payloads import BUILTIN_PAYLOADS

FLOWS_MD_EXAMPLE = r"""
[
  {"key": "confirm", "name": "Customer confirmation", "taskDefinitions": [
    {"key": "task-key-2", "handlerKey": "asset-email",
     "payload": {"filter": "^\\s*(.*\\.[zZ][iI][pP])\\s*$",
                 "recipients": ["{customerEmail}", "ops@shop.example"],
                 "subject": "Your files", "body": "Dear {customerInfo.name},<br>{assetOverview}",
                 "needConfirmation": true},
     "timeoutDuration": 86400000,
     "next": [{"taskDefinitionKey": "task-key-3", "trigger": "success"}]},
    {"key": "task-key-3", "handlerKey": "consume-rest-api",
     "payload": {"uri": "https://connector.example/export", "sendsFeedback": true},
     "timeoutDuration": 3600000, "next": []}
  ]}
]
"""
ROOTS = (
    "known roots: order, orderUrl, customerEmail, customerInfo, data, addresses, products, "
    "assetOverview, confirmationUrl"
)
HANDLERS = (
    "known handlers: asset-email, consume-rest-api, generate-production-files, manual-task, "
    "send-email, slice, wait"
)
DOTTED = ": expected a dotted name such as {order.name}; write '{{' and '}}' for literal braces"
NO_ENTRY = "no entry task: every task of the stage is the target of a next entry"
T0 = (0, "taskDefinitions", 0)
T1 = (0, "taskDefinitions", 1)


def task(key: str, *targets: str | tuple[str, str], **fields: Any) -> dict[str, Any]:
    """A wait task; a target is a key (trigger success) or a (key, trigger) pair."""
    pairs = [(target, "success") if isinstance(target, str) else target for target in targets]
    next_ = [{"taskDefinitionKey": key_, "trigger": trigger} for key_, trigger in pairs]
    return {"key": key, "handlerKey": "wait", "payload": {"durationMs": 1000}, "next": next_,
            **fields}  # fmt: skip


def stage(key: str, *tasks: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "name": f"Stage {key}", "taskDefinitions": list(tasks)}


def errors_of(raw: object) -> list[tuple[tuple[str | int, ...], str]]:
    return [(error.loc, error.msg) for error in validate_definition(raw)]


def test_flows_md_example_is_valid() -> None:
    # given the example of docs/flows.md / when validated / then there is no error
    assert validate_definition(json.loads(FLOWS_MD_EXAMPLE)) == []


def test_parse_flow_returns_the_model_of_a_valid_definition() -> None:
    # given a valid definition / when parsed / then the models carry its content
    flow = parse_flow(json.loads(FLOWS_MD_EXAMPLE))
    first = flow.root[0].taskDefinitions[0]
    assert (flow.root[0].key, first.key) == ("confirm", "task-key-2")
    assert first.timeoutDuration == 86400000
    assert [(n.taskDefinitionKey, n.trigger) for n in first.next] == [("task-key-3", "success")]


def test_parse_flow_raises_with_every_error() -> None:
    # given a definition with two errors / when parsed / then both are on the exception
    raw = [stage("s", task("a", "zz", timeoutDuration=-5))]
    with pytest.raises(DefinitionInvalid) as raised:
        parse_flow(raw)
    assert raised.value.errors == [
        DefinitionError((*T0, "timeoutDuration"), "must not be negative"),
        DefinitionError((*T0, "next", 0, "taskDefinitionKey"), "unknown task 'zz'"),
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"key": "s"}, [((), "must be an array")]),
        ([5], [((0,), "must be an object")]),
        ([{**stage("s", task("a")), "color": "red"}], [((0, "color"), "unknown field")]),
        ([{"key": "s", "taskDefinitions": [task("a")]}], [((0, "name"), "field required")]),
        ([stage("s", "a")], [(T0, "must be an object")]),  # type: ignore[arg-type]
        ([stage("s", {**task("a"), "retries": 3})], [((*T0, "retries"), "unknown field")]),
        ([stage("s", {**task("a"), "payload": []})], [((*T0, "payload"), "must be an object")]),
        ([stage("s", {**task("a"), "next": {}})], [((*T0, "next"), "must be an array")]),
        ([stage("s", task("a", ("b", "done")), task("b"))],
         [((*T0, "next", 0, "trigger"), "Input should be 'success', 'failure' or 'timeout'")]),
        ([stage("s", task("a", timeoutDuration="1000"))],
         [((*T0, "timeoutDuration"), "Input should be a valid integer")]),
        ([stage("s", task("a", timeoutDuration=1.5))],
         [((*T0, "timeoutDuration"), "Input should be a valid integer")]),
        ([stage("", task("a"))], [((0, "key"), "String should have at least 1 character")]),
    ],
)  # fmt: skip
def test_shape_errors_are_reported_at_their_path(raw: object, expected: list[Any]) -> None:
    # given a definition of the wrong shape / when validated / then the errors name the path
    assert errors_of(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([], [((), "a flow needs at least one stage")]),
        ([stage("s")], [((0, "taskDefinitions"), "a stage needs at least one task definition")]),
    ],
)
def test_empty_flows_and_stages_are_refused(raw: object, expected: list[Any]) -> None:
    # given an empty flow or stage / when validated / then it is refused
    assert errors_of(raw) == expected


def test_stage_keys_are_unique() -> None:
    # given two stages with the same key / when validated / then the second is named
    assert errors_of([stage("s", task("a")), stage("s", task("b"))]) == [
        ((1, "key"), "duplicate stage key 's'")
    ]


@pytest.mark.parametrize(
    ("raw", "loc"),
    [
        ([stage("s", task("a"), task("a"))], (*T1, "key")),
        ([stage("s", task("a")), stage("t", task("a"))], (1, "taskDefinitions", 0, "key")),
    ],
)
def test_task_keys_are_unique_in_the_whole_flow(raw: object, loc: tuple[Any, ...]) -> None:
    # given a task key used twice, in one stage or in two / when validated / then refused
    assert errors_of(raw) == [(loc, "duplicate task key 'a': task keys are unique in the flow")]


def test_unknown_handlers_are_refused() -> None:
    # given a task with a handler nobody registered / when validated / then refused
    raw = [stage("s", {**task("a"), "handlerKey": "print-3d"})]
    assert errors_of(raw) == [((*T0, "handlerKey"), f"unknown handler 'print-3d'; {HANDLERS}")]


class _PluginPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    printer: str


def test_handlers_passed_in_are_known() -> None:
    # given a plugin handler's payload model / when validated with it / then its payload is used
    raw = [stage("s", {**task("a"), "handlerKey": "print-3d", "payload": {"printers": "x"}})]
    errors = validate_definition(raw, {"print-3d": _PluginPayload})
    assert [(e.loc, e.msg) for e in errors] == [
        ((*T0, "payload", "printer"), "field required"),
        ((*T0, "payload", "printers"), "unknown field"),
    ]


def test_payload_errors_are_reported_under_the_payload() -> None:
    # given a wait task without duration / when validated / then the error is under payload
    raw = [stage("s", {**task("a"), "payload": {"durationMs": -1}})]
    assert errors_of(raw) == [
        ((*T0, "payload", "durationMs"), "Input should be greater than or equal to 0")
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([stage("s", task("a", "zz"))],
         [((*T0, "next", 0, "taskDefinitionKey"), "unknown task 'zz'")]),
        ([stage("s", task("a")), stage("t", task("b", "a"))],
         [((1, "taskDefinitions", 0, "next", 0, "taskDefinitionKey"),
           "task 'a' is in another stage; next must stay within the stage")]),
        ([stage("s", task("a", "b", "b"), task("b"))],
         [((*T0, "next", 1), "duplicate next entry")]),
    ],
)  # fmt: skip
def test_next_entries_point_to_distinct_tasks_of_the_same_stage(
    raw: object, expected: list[Any]
) -> None:
    # given a next entry to an unknown task, another stage, or repeated / when validated / then
    assert errors_of(raw) == expected


def test_next_may_name_one_task_for_several_triggers() -> None:
    # given success and timeout both starting the same task / when validated / then it is fine
    assert errors_of([stage("s", task("a", "b", ("b", "timeout")), task("b"))]) == []


@pytest.mark.parametrize(
    ("tasks", "expected"),
    [
        ([task("a"), task("b", "b")], [((*T1, "next", 0), "cycle: b -> b")]),
        ([task("a", "b"), task("b", "c"), task("c", ("b", "failure"))],
         [((0, "taskDefinitions", 2, "next", 0), "cycle: b -> c -> b")]),
        ([task("a", "b"), task("b", "a")],
         [((*T1, "next", 0), "cycle: a -> b -> a"), ((0, "taskDefinitions"), NO_ENTRY)]),
        ([task("a", "b", "c"), task("b", "c"), task("c")], []),
    ],
)  # fmt: skip
def test_cycles_are_reported_at_the_closing_next_entry(
    tasks: list[dict[str, Any]], expected: list[Any]
) -> None:
    # given a stage whose next entries may loop / when validated / then each loop is named
    assert errors_of([stage("s", *tasks)]) == expected


@pytest.mark.parametrize("timeout", [None, 0, 1, 30 * 24 * 3600 * 1000])
def test_timeouts_up_to_thirty_days_are_valid(timeout: int | None) -> None:
    # given a timeout that is absent, zero or at most 30 days / when validated / then valid
    assert errors_of([stage("s", task("a", timeoutDuration=timeout))]) == []


@pytest.mark.parametrize(
    ("timeout", "message"),
    [
        (-1, "must not be negative"),
        (30 * 24 * 3600 * 1000 + 1, "must be at most 30 days (2592000000 ms)"),
        (10**15, "must be at most 30 days (2592000000 ms)"),
        (True, "Input should be a valid integer"),
    ],
)
def test_negative_or_absurd_timeouts_are_refused(timeout: object, message: str) -> None:
    # given a timeout out of range / when validated / then refused at timeoutDuration
    raw = [stage("s", task("a", timeoutDuration=timeout))]
    assert errors_of(raw) == [((*T0, "timeoutDuration"), message)]


def _email(**payload: Any) -> list[dict[str, Any]]:
    body = {"recipient": "ops@shop.example", "subject": "Order", "body": "Hello", **payload}
    return [stage("s", {**task("a"), "handlerKey": "send-email", "payload": body})]


@pytest.mark.parametrize(
    "payload",
    [
        {"subject": "Order {order.name} ({order.thirdPartyOrderId})"},
        {"body": "{orderUrl} {customerEmail} {customerInfo.name} {data.x.y} {addresses}"},
        {"body": "{products} {assetOverview} {confirmationUrl} {order}"},
        {"body": "CSS: p {{ color: red }}"},
        {"recipient": "{customerEmail}", "cc": ["{data.cc}"], "bcc": ["{customerInfo.email}"]},
    ],
)
def test_templates_over_known_roots_are_valid(payload: dict[str, Any]) -> None:
    # given templates referencing only known roots / when validated / then valid
    assert errors_of(_email(**payload)) == []


@pytest.mark.parametrize(
    ("payload", "loc", "message"),
    [
        ({"subject": "{customer.name}"}, ("subject",),
         f"unknown template root 'customer' in {{customer.name}}; {ROOTS}"),
        ({"body": "Hi {user}"}, ("body",), f"unknown template root 'user' in {{user}}; {ROOTS}"),
        ({"cc": ["a@b.example", "{x.mail}"]}, ("cc", 1),
         f"unknown template root 'x' in {{x.mail}}; {ROOTS}"),
        ({"body": "{order.value:>10}"}, ("body",),
         "invalid placeholder {order.value:>10}: format specs and conversions are not supported"),
        ({"body": "{0}"}, ("body",), "invalid placeholder {0}" + DOTTED),
        ({"body": "{order.__class__()}"}, ("body",),
         "invalid placeholder {order.__class__()}" + DOTTED),
        ({"body": "p { color: red }"}, ("body",), "invalid placeholder { color: red }" + DOTTED),
        ({"body": "50% off}"}, ("body",),
         "single '}' at position 7; write '}}' for a literal brace"),
    ],
)  # fmt: skip
def test_templates_must_be_dotted_paths_over_known_roots(
    payload: dict[str, Any], loc: tuple[Any, ...], message: str
) -> None:
    # given a template that is invalid or names an unknown root / when validated / then refused
    assert errors_of(_email(**payload)) == [((*T0, "payload", *loc), message)]


def test_template_errors_in_header_values_name_the_header() -> None:
    # given a connector header templated over an unknown root / when validated / then refused
    payload = {"uri": "https://x.example/{data.path}", "headers": {"X-Token": "{secret.token}"}}
    raw = [stage("s", {**task("a"), "handlerKey": "consume-rest-api", "payload": payload})]
    assert errors_of(raw) == [
        ((*T0, "payload", "headers", "X-Token"),
         f"unknown template root 'secret' in {{secret.token}}; {ROOTS}"),
    ]  # fmt: skip


def test_every_error_is_reported_at_once() -> None:
    # given a definition with errors of every kind in different places
    raw = [
        stage("s", {**task("a", "b"), "extra": 1}, task("b", "a"), task("c", "zz")),
        stage("s", {**task("d"), "handlerKey": "nope"}),
        *_email(subject="{who}", cc="x"),
    ]
    raw[2]["key"] = "t"
    raw[2]["taskDefinitions"][0]["key"] = "c"
    # when validated / then every one of them is listed
    assert errors_of(raw) == [
        ((0, "taskDefinitions", 0, "extra"), "unknown field"),
        ((1, "key"), "duplicate stage key 's'"),
        ((2, "taskDefinitions", 0, "key"),
         "duplicate task key 'c': task keys are unique in the flow"),
        ((1, "taskDefinitions", 0, "handlerKey"), f"unknown handler 'nope'; {HANDLERS}"),
        ((2, "taskDefinitions", 0, "payload", "cc"), "must be an array"),
        ((2, "taskDefinitions", 0, "payload", "subject"),
         f"unknown template root 'who' in {{who}}; {ROOTS}"),
        ((0, "taskDefinitions", 2, "next", 0, "taskDefinitionKey"), "unknown task 'zz'"),
        ((0, "taskDefinitions", 1, "next", 0), "cycle: a -> b -> a"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("tasks", "expected"),
    [
        ([task("a")], ["a"]),
        ([task("a", "c"), task("b", ("c", "failure")), task("c")], ["a", "b"]),
        ([task("a", "b"), task("b", ("c", "timeout")), task("c")], ["a"]),
    ],
)
def test_entry_tasks_are_those_no_next_entry_points_to(
    tasks: list[dict[str, Any]], expected: list[str]
) -> None:
    # given a valid stage / when its entry tasks are asked / then they come in definition order
    flow = parse_flow([stage("s", *tasks)])
    assert entry_tasks(flow.root[0]) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1, "a": 2}', [(("a",), "duplicate key")]),
        ('[{"key": "s", "x": {"k": 1, "k": 2, "k": 3}, "key": "t"}]',
         [((0, "key"), "duplicate key"), ((0, "x", "k"), "duplicate key")]),
        ("[1, 2", [((), "invalid JSON: Expecting ',' delimiter: line 1 column 6 (char 5)")]),
        ("[NaN]", [((), "invalid JSON: NaN is not valid JSON")]),
        ('{"a": -Infinity}', [((), "invalid JSON: -Infinity is not valid JSON")]),
        ("[" * 70 + "]" * 70, [((0,) * 65, "nesting deeper than 64 levels")]),
        ('[{"a": [1, {"b": 2}]}]', []),
    ],
)  # fmt: skip
def test_parse_definition_json_reports_text_errors_at_their_path(
    text: str, expected: list[Any]
) -> None:
    # given JSON text / when parsed / then duplicate keys and unreadable text are reported
    _, errors = parse_definition_json(text)
    assert [(error.loc, error.msg) for error in errors] == expected


def test_parse_definition_json_returns_plain_values() -> None:
    # given the docs/flows.md example / when parsed / then the value equals json.loads and is valid
    value, errors = parse_definition_json(FLOWS_MD_EXAMPLE)
    assert (value, errors) == (json.loads(FLOWS_MD_EXAMPLE), [])
    assert type(value[0]) is dict


def test_flow_json_schema_titles_stages_as_iflowstage() -> None:
    # given the schema / when the stage definition is looked up / then its title is IFlowStage
    schema = flow_json_schema()
    assert schema["items"] == {"$ref": "#/$defs/FlowStage"}
    assert schema["$defs"]["FlowStage"]["title"] == "IFlowStage"


def test_flow_json_schema_chooses_the_payload_schema_by_handler() -> None:
    # given the schema / when the task definition is looked up / then each handler has a branch
    task_schema = flow_json_schema()["$defs"]["TaskDefinition"]
    branches = {
        branch["if"]["properties"]["handlerKey"]["const"]: branch["then"]["properties"]["payload"]
        for branch in task_schema["allOf"]
    }
    assert branches["wait"] == {"$ref": "#/$defs/WaitPayload"}
    assert (
        sorted(branches)
        == sorted(BUILTIN_PAYLOADS)
        == task_schema["properties"]["handlerKey"]["enum"]
    )


@pytest.mark.parametrize(
    ("payload", "valid"),
    [
        ({"durationMs": 5}, True),
        ({"durationMs": 5, "color": "red"}, False),
        ({"durationMs": "5"}, False),
    ],
)
def test_flow_json_schema_validates_payloads_like_the_models(
    payload: dict[str, Any], valid: bool
) -> None:
    # given a JSON schema validator / when a definition is checked against the schema / then
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    validator = jsonschema_rs.Draft202012Validator(flow_json_schema())
    assert validator.is_valid([stage("s", {**task("a"), "payload": payload})]) is valid
    assert validator.is_valid(json.loads(FLOWS_MD_EXAMPLE))
