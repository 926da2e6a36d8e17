"""Checks that an answer of td is one that Dispatch's workflow sync job can act on.

The rules follow Dispatch's WorkflowInstanceUpdate model and its sync job: `artifacts` must be
present in every JSON answer; `status` is one of Dispatch's case-sensitive values; each artifact
has a name of at least 3 non-blank characters, a resource id of its own, and no empty evergreen
owner, which Dispatch would reject as an invalid e-mail address.
"""

from datetime import datetime
from typing import Any

STATUSES = ("Created", "Running", "Completed", "Failed")
ARTIFACT_FIELDS = (
    "name",
    "description",
    "weblink",
    "resource_id",
    "resource_type",
    "created_at",
    "updated_at",
)
INSTANCE_FIELDS = ("weblink", "resource_id", "resource_type", "created_at", "updated_at")


def check_answer(body: Any, *, complete: bool = True) -> None:
    """Assert that `body` follows Dispatch's rules; `complete` requires every instance field too."""
    assert isinstance(body, dict), body
    assert isinstance(body.get("artifacts"), list), f"artifacts missing or not a list: {body}"
    if "status" in body:
        assert body["status"] in STATUSES, body["status"]
    if complete:
        assert body.get("status") in STATUSES, body
        for field in INSTANCE_FIELDS:
            assert isinstance(body.get(field), str), f"{field} missing: {body}"
            assert body[field], f"{field} empty: {body}"
        _check_timestamp(body["created_at"])
        _check_timestamp(body["updated_at"])
    for artifact in body["artifacts"]:
        check_artifact(artifact)
    resource_ids = [artifact["resource_id"] for artifact in body["artifacts"]]
    assert len(resource_ids) == len(set(resource_ids)), f"duplicate resource ids: {resource_ids}"


def check_artifact(artifact: dict[str, Any]) -> None:
    for field in ARTIFACT_FIELDS:
        assert isinstance(artifact.get(field), str), f"artifact {field} missing: {artifact}"
    assert len(artifact["name"].strip()) >= 3, artifact["name"]
    assert artifact["weblink"].startswith(("http://", "https://")), artifact["weblink"]
    assert not artifact.get("evergreen_owner"), artifact
    assert artifact.get("evergreen", False) is False, artifact
    _check_timestamp(artifact["created_at"])
    _check_timestamp(artifact["updated_at"])


def check_progression(statuses: list[str]) -> None:
    """Assert that a series of polled statuses only moves forward."""
    order = {"Created": 0, "Running": 1, "Completed": 2, "Failed": 2}
    ranks = [order[status] for status in statuses]
    assert ranks == sorted(ranks), f"status moved backwards: {statuses}"
    assert not ({"Completed", "Failed"} <= set(statuses)), statuses


def _check_timestamp(value: str) -> None:
    assert value.endswith("Z"), value
    datetime.fromisoformat(value.replace("Z", "+00:00"))
