"""Every policy decision: modes, opt-out, agents, EU-protected roles, deployment refusal, opt-out messages."""

from __future__ import annotations

import json

import pytest

from bot.policy.config import AnalysisPolicy, PolicyConfigError
from bot.policy.decide import (
    Decision,
    DeploymentRefused,
    ParticipantInfo,
    check_deployment,
    decide,
    opt_out_requested,
    reason_text,
)

ALL = AnalysisPolicy(mode="all")
ROLES = AnalysisPolicy(mode="roles", roles=frozenset({"customer"}))
CONSENT = AnalysisPolicy(mode="consent")
EU = AnalysisPolicy(mode="all", jurisdiction="eu")


def person(role: str | None = None, kind: str = "standard", **attributes: str) -> ParticipantInfo:
    attrs = {key.replace("_", "."): value for key, value in attributes.items()}
    return ParticipantInfo(identity="p1", kind=kind, attributes=attrs, role=role)


def test_all_mode_analyses_everyone_but_agents() -> None:
    assert decide(person(), ALL).analyse
    assert decide(person(role="teacher"), ALL).analyse  # outside the EU no role is protected
    agent = decide(person(kind="agent"), ALL)
    assert (agent.analyse, agent.reason) == (False, "agent")


def test_roles_mode_only_listed_roles_from_explicit_role_or_attribute() -> None:
    assert decide(person(role="customer"), ROLES).analyse
    assert decide(ParticipantInfo("p", attributes={"role": "Customer"}), ROLES).analyse
    assert decide(ParticipantInfo("p", attributes={"emotion.role": "customer", "role": "x"}), ROLES).analyse
    staff = decide(person(role="agent"), ROLES)
    assert (staff.analyse, staff.reason) == (False, "role_not_analysed:agent")
    assert decide(person(), ROLES).reason == "role_not_analysed:none"
    assert staff.text == "the policy does not analyse this role (agent)"
    assert reason_text("opted out in chat") == "opted out in chat"  # free text passes through


@pytest.mark.parametrize(
    "value, analysed", [("true", True), ("YES", True), ("1", True), ("false", False), ("", False)]
)
def test_consent_mode_needs_a_true_consent_attribute(value: str, analysed: bool) -> None:
    decision = decide(ParticipantInfo("p", attributes={"emotion.consent": value}), CONSENT)
    assert decision.analyse is analysed
    assert decision.reason == (None if analysed else "no_consent")


def test_opt_out_beats_consent_and_role() -> None:
    info = ParticipantInfo(
        "p", role="customer", attributes={"emotion.consent": "true", "emotion.opt_out": "true"}
    )
    for policy in (ALL, ROLES, CONSENT):
        assert decide(info, policy) == Decision(False, "opted_out")
    by_message = ParticipantInfo("p", attributes={"emotion.consent": "true"}, opted_out=True)
    assert decide(by_message, CONSENT).reason == "opted_out"


@pytest.mark.parametrize("role", ["staff", "agent", "employee", "teacher", "student", "host", "Teacher"])
def test_eu_never_analyses_people_at_work_or_in_education(role: str) -> None:
    consenting = ParticipantInfo("p", role=role, attributes={"emotion.consent": "true"})
    for policy in (EU, AnalysisPolicy(mode="consent", jurisdiction="EU")):
        decision = decide(consenting, policy)
        assert not decision.analyse
        assert decision.reason == f"eu_ai_act_protected_role:{role.lower()}"
        assert "Art. 5(1)(f)" in (decision.text or "")
    # a customer in the EU is still analysed, and roles mode cannot re-enable a protected role
    assert decide(person(role="customer"), EU).analyse
    eu_roles = AnalysisPolicy(mode="roles", roles=frozenset({"student"}), jurisdiction="eu")
    assert decide(person(role="student"), eu_roles).reason == "eu_ai_act_protected_role:student"


@pytest.mark.parametrize("purpose", ["workplace", "education"])
def test_eu_refuses_workplace_and_education_deployments(purpose: str) -> None:
    with pytest.raises(DeploymentRefused, match=r"Art\. 5"):
        check_deployment(AnalysisPolicy(jurisdiction="eu", purpose=purpose))
    check_deployment(AnalysisPolicy(jurisdiction="us", purpose=purpose))  # elsewhere: allowed
    check_deployment(AnalysisPolicy(jurisdiction="eu", purpose="customer_service"))


def test_policy_from_env_and_bad_config() -> None:
    policy = AnalysisPolicy.from_env(
        {
            "EMOTION_BOT_ANALYSE": "Roles",
            "EMOTION_BOT_ANALYSE_ROLES": "customer, Patient",
            "EMOTION_BOT_JURISDICTION": "EU",
            "EMOTION_BOT_PURPOSE": "Education",
            "EMOTION_BOT_DELETE_ON_OPT_OUT": "false",
        }
    )
    assert policy.mode == "roles" and policy.roles == frozenset({"customer", "patient"})
    assert policy.eu and policy.purpose == "education" and not policy.delete_on_opt_out
    assert AnalysisPolicy.from_env({}) == AnalysisPolicy()
    with pytest.raises(PolicyConfigError, match="analyse mode"):
        AnalysisPolicy.from_env({"EMOTION_BOT_ANALYSE": "everybody"})
    with pytest.raises(PolicyConfigError, match="at least one role"):
        AnalysisPolicy(mode="roles", roles=frozenset())


def test_opt_out_messages() -> None:
    topic = ALL.opt_out_topic
    assert opt_out_requested(topic, b"", ALL)
    assert opt_out_requested(topic, json.dumps({"opt_out": True}).encode(), ALL)
    assert not opt_out_requested(topic, json.dumps({"opt_out": False}).encode(), ALL)
    assert opt_out_requested("lk.chat", b"  Opt Out ", ALL)
    assert opt_out_requested("lk-chat-topic", json.dumps({"id": "1", "message": "opt-out"}).encode(), ALL)
    assert not opt_out_requested("lk.chat", b"I will not opt out", ALL)
    assert not opt_out_requested("other", b"opt out", ALL)
