"""Agent mode's reading of the model's answers, and which refusal explains a
failed navigation (backends/browser/), without a browser."""

import json

import pytest

from backends.browser.agent import parse_action
from backends.browser.session import Guard
from backends.browser.steps import describe_step
from longrun.errors import BrowserStepFailed, UnsafeURL


def test_a_numbered_element_becomes_a_selector_for_that_element():
    step = parse_action(json.dumps({"action": "fill", "element": 3, "value": "Ada"}))
    assert step == {"action": "fill", "selector": '[data-lr-id="3"]', "value": "Ada"}
    assert parse_action('{"action": "click", "selector": "#go"}') == {"action": "click", "selector": "#go"}


@pytest.mark.parametrize(
    "content,step",
    [
        pytest.param(
            '{"action": "DONE", "answer": "42"}', {"action": "done", "answer": "42"}, id="done_carries_the_answer"
        ),
        pytest.param(
            '{"action": "wait_for", "ms": 999999}', {"action": "wait_for", "ms": 10_000}, id="a_pause_is_bounded"
        ),
    ],
)
def test_an_answer_becomes_its_step(content, step):
    assert parse_action(content) == step


@pytest.mark.parametrize(
    "content,why",
    [
        ("I will click the button", "not JSON"),
        ('["click"]', 'no "action"'),
        ('{"action": "hack"}', "unknown action 'hack'"),
        ('{"action": "goto"}', "lacks url"),
        ('{"action": "fill", "element": 1}', "lacks value"),
    ],
)
def test_an_answer_that_is_not_a_usable_action_says_what_is_wrong(content, why):
    with pytest.raises(BrowserStepFailed, match=why):
        parse_action(content)


def test_describe_step_names_its_target():
    assert describe_step({"action": "goto", "url": "http://a.example/"}) == "goto http://a.example/"
    assert describe_step({"action": "screenshot"}) == "screenshot"


def test_a_refused_navigation_is_explained_by_its_url_or_its_tunnels_origin():
    guard = Guard(
        refusals=[("http://localhost:8000/x", "names this machine"), ("https://10.0.0.1:443/", "a private address")]
    )
    assert guard.reason_for("http://localhost:8000/x") == "names this machine"
    assert guard.reason_for("https://10.0.0.1/login") == "a private address"
    assert guard.reason_for("http://example.com/") is None
    guard.navigation_refused("https://10.0.0.1/login")
    with pytest.raises(UnsafeURL, match=r"navigation to https://10\.0\.0\.1/login refused: a private address"):
        guard.raise_if_blocked()


def test_every_action_of_the_step_runner_has_an_input_schema_and_no_other():
    from backends.browser.steps import ACTIONS
    from tasks.inputs import STEP_SCHEMAS

    assert list(STEP_SCHEMAS) == list(ACTIONS)
