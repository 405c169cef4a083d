"""policy: which mode a studio starts in, and who a request is served as."""

from __future__ import annotations

import threading

import pytest

from ganstudio.policy import Policy, current_visitor, visible_to, visiting


@pytest.mark.parametrize(("environment", "public"), [
    ({}, False),
    ({"SPACE_ID": "someone/studio"}, True),
    ({"SPACE_ID": "someone/studio", "GANSTUDIO_PUBLIC": "0"}, False),
    ({"GANSTUDIO_PUBLIC": "1"}, True),
])
def test_a_space_is_public_unless_told_otherwise(monkeypatch, environment, public):
    for name in ("SPACE_ID", "GANSTUDIO_PUBLIC", "GANSTUDIO_MAX_USER_MODELS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert Policy.from_environment().public is public
    assert Policy.from_environment(public=True).public and not Policy.from_environment(public=False).public


def test_the_model_cap_can_be_set_for_either_mode(monkeypatch):
    monkeypatch.setenv("GANSTUDIO_MAX_USER_MODELS", "7")
    assert Policy.from_environment(public=True).max_user_models == 7
    assert Policy.from_environment(public=False).max_user_models == 7


def test_a_visitor_is_set_for_one_block_and_one_thread_only():
    seen = []
    with visiting("alice"):
        thread = threading.Thread(target=lambda: seen.append(current_visitor()))
        thread.start()
        thread.join()
        assert current_visitor() == "alice"
    assert current_visitor() is None and seen == [None]
    assert visible_to("", "alice") and visible_to("alice", "alice") and visible_to("bob", None)
    assert not visible_to("bob", "alice")
