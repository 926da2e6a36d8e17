"""Dispatch's Generic Workflow payloads in td.dispatch: the requests of three Dispatch generations
and the WorkflowInstanceUpdate response as Dispatch reads it."""

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from td.dispatch import (
    MAX_ID,
    MAX_PARAM_NAME_LENGTH,
    MAX_PARAM_VALUE_LENGTH,
    MAX_PARAMS,
    Artifact,
    InvalidRequest,
    WorkflowInstanceStatus,
    WorkflowInstanceUpdate,
    converter,
    format_timestamp,
    parse_follow_request,
    parse_id,
    parse_start_request,
)

EXTERNAL_REF = (
    "https://dispatch.example/default/incidents/dispatch-default-default-32?project=default"
)
CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
UPDATED = datetime(2026, 1, 2, 3, 5, 6, tzinfo=UTC)


def start_body_2021():
    """A POST body from Dispatch 2021-2022."""
    return {
        "workflow_id": "random_dog",
        "params": {
            "incident_id": 32,
            "incident_name": "dispatch-default-default-32",
            "instance_id": 43,
            "breed": "hound",
        },
    }


def start_body_2022():
    """A POST body from Dispatch 2022 onward."""
    return {
        "workflow_id": "random_dog",
        "params": {
            "externalRef": EXTERNAL_REF,
            "workflowInstanceId": 43,
            "term": "love",
        },
    }


def start_body(**params):
    return {"workflow_id": "random_dog", "params": params}


def test_start_2021_body():
    request = parse_start_request(start_body_2021())

    assert request.workflow_id == "random_dog"
    assert request.instance_id == 43
    assert request.incident_id == 32
    assert request.incident_name == "dispatch-default-default-32"
    assert request.external_ref is None
    assert request.params == {"breed": "hound"}


def test_start_2022_body():
    request = parse_start_request(start_body_2022())

    assert request.workflow_id == "random_dog"
    assert request.instance_id == 43
    assert request.external_ref == EXTERNAL_REF
    assert request.incident_id is None
    assert request.incident_name is None
    assert request.params == {"term": "love"}


@pytest.mark.parametrize(
    "params",
    [
        {"workflowInstanceId": 43},
        {"workflowInstanceId": "43"},
        {"instance_id": 43},
        {"instance_id": "43"},
        {"workflowInstanceId": 43, "instance_id": "43"},
        {"workflowInstanceId": None, "instance_id": 43},
    ],
)
def test_start_instance_id_forms(params):
    assert parse_start_request(start_body(**params)).instance_id == 43


def test_start_incident_id_string():
    request = parse_start_request(start_body(instance_id=43, incident_id="32"))

    assert request.incident_id == 32


def test_start_without_user_params():
    assert parse_start_request(start_body(workflowInstanceId=43)).params == {}


def test_start_user_params_keep_types():
    body = start_body(workflowInstanceId=43, count=3, enabled=True, note=None, term="love")

    assert parse_start_request(body).params == {
        "count": 3,
        "enabled": True,
        "note": None,
        "term": "love",
    }


def test_start_params_at_limits():
    params = {f"key{i}": "x" * MAX_PARAM_VALUE_LENGTH for i in range(MAX_PARAMS - 1)}
    params["k" * MAX_PARAM_NAME_LENGTH] = "x"
    del params["key0"]
    params["workflowInstanceId"] = 43

    assert len(parse_start_request(start_body(**params)).params) == MAX_PARAMS - 1


def test_start_too_many_params():
    params = {f"key{i}": "x" for i in range(MAX_PARAMS)}

    with pytest.raises(InvalidRequest) as caught:
        parse_start_request(start_body(workflowInstanceId=43, **params))

    assert caught.value.field == "params"


def test_start_long_param_name():
    params = {"k" * (MAX_PARAM_NAME_LENGTH + 1): "x"}

    with pytest.raises(InvalidRequest) as caught:
        parse_start_request(start_body(workflowInstanceId=43, **params))

    assert caught.value.field == "params"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"term": "x" * (MAX_PARAM_VALUE_LENGTH + 1)}, "params.term"),
        ({"tags": ["a"]}, "params.tags"),
        ({"nested": {"k": "v"}}, "params.nested"),
        ({"externalRef": "x" * (MAX_PARAM_VALUE_LENGTH + 1)}, "params.externalRef"),
    ],
)
def test_start_param_value_rejected(params, field):
    with pytest.raises(InvalidRequest) as caught:
        parse_start_request(start_body(workflowInstanceId=43, **params))

    assert caught.value.field == field


def test_start_ignores_unknown_top_keys():
    body = start_body_2022()
    body["extra"] = "ignored"

    assert parse_start_request(body).instance_id == 43


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (None, "body"),
        ([], "body"),
        ("random_dog", "body"),
        (43, "body"),
        (True, "body"),
        ({"params": {"workflowInstanceId": 43}}, "workflow_id"),
        ({"workflow_id": None, "params": {"workflowInstanceId": 43}}, "workflow_id"),
        ({"workflow_id": "", "params": {"workflowInstanceId": 43}}, "workflow_id"),
        ({"workflow_id": 7, "params": {"workflowInstanceId": 43}}, "workflow_id"),
        ({"workflow_id": ["random_dog"], "params": {"workflowInstanceId": 43}}, "workflow_id"),
        ({"workflow_id": "random_dog"}, "params"),
        ({"workflow_id": "random_dog", "params": None}, "params"),
        ({"workflow_id": "random_dog", "params": []}, "params"),
        ({"workflow_id": "random_dog", "params": "workflowInstanceId=43"}, "params"),
        (start_body(), "params.workflowInstanceId"),
        (start_body(term="love"), "params.workflowInstanceId"),
        (start_body(workflowInstanceId="abc"), "params.workflowInstanceId"),
        (start_body(workflowInstanceId=""), "params.workflowInstanceId"),
        (start_body(workflowInstanceId=" 43"), "params.workflowInstanceId"),
        (start_body(workflowInstanceId="-1"), "params.workflowInstanceId"),
        (start_body(workflowInstanceId=0), "params.workflowInstanceId"),
        (start_body(workflowInstanceId="0"), "params.workflowInstanceId"),
        (start_body(workflowInstanceId=-1), "params.workflowInstanceId"),
        (start_body(workflowInstanceId=True), "params.workflowInstanceId"),
        (start_body(workflowInstanceId=43.5), "params.workflowInstanceId"),
        (start_body(workflowInstanceId=MAX_ID + 1), "params.workflowInstanceId"),
        (start_body(workflowInstanceId=str(MAX_ID + 1)), "params.workflowInstanceId"),
        (start_body(workflowInstanceId=[43]), "params.workflowInstanceId"),
        (start_body(instance_id="abc"), "params.instance_id"),
        (start_body(instance_id=0), "params.instance_id"),
        (start_body(workflowInstanceId=43, instance_id=44), "params.workflowInstanceId"),
        (start_body(workflowInstanceId=43, externalRef=7), "params.externalRef"),
        (start_body(workflowInstanceId=43, externalRef={}), "params.externalRef"),
        (start_body(instance_id=43, incident_id="abc"), "params.incident_id"),
        (start_body(instance_id=43, incident_id=0), "params.incident_id"),
        (start_body(instance_id=43, incident_id=False), "params.incident_id"),
        (start_body(instance_id=43, incident_name=32), "params.incident_name"),
    ],
)
def test_start_invalid_names_field(body, field):
    with pytest.raises(InvalidRequest) as caught:
        parse_start_request(body)

    assert caught.value.field == field


def test_start_conflicting_ids_message():
    with pytest.raises(InvalidRequest) as caught:
        parse_start_request(start_body(workflowInstanceId=43, instance_id=44))

    assert "43" in caught.value.message
    assert "44" in caught.value.message


def test_invalid_request_is_value_error():
    with pytest.raises(ValueError, match="workflow_id is missing"):
        parse_start_request({"params": {}})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1),
        (43, 43),
        ("43", 43),
        ("043", 43),
        (MAX_ID, MAX_ID),
        (str(MAX_ID), MAX_ID),
        # JSON has one number type: 43.0 is the integer 43, as JSON Schema's "integer" says.
        (43.0, 43),
    ],
)
def test_parse_id_valid(value, expected):
    assert parse_id(value, "id") == expected


@pytest.mark.parametrize(
    "value",
    [
        0,
        -1,
        MAX_ID + 1,
        2**63,
        True,
        False,
        1.5,
        float("inf"),
        float("nan"),
        -1.0,
        None,
        "",
        "0",
        "-1",
        "+1",
        "1.0",
        "1e3",
        " 1",
        "1 ",
        "0x10",
        "\u0661",  # ARABIC-INDIC DIGIT ONE
        str(MAX_ID + 1),
        [1],
        {"id": 1},
    ],
)
def test_parse_id_invalid(value):
    with pytest.raises(InvalidRequest) as caught:
        parse_id(value, "params.workflowInstanceId")

    assert caught.value.field == "params.workflowInstanceId"


def test_parse_id_huge_digit_string():
    # 5000 digits is past Python's default limit on int() of a string, which raises ValueError.
    with pytest.raises(InvalidRequest) as caught:
        parse_id("1" * 5000, "params.workflowInstanceId")

    assert caught.value.field == "params.workflowInstanceId"


def test_follow_2021_query():
    query = {
        "workflow_id": ["random_dog"],
        "workflow_instance_id": ["43"],
        "incident_id": ["32"],
        "incident_name": ["dispatch-default-default-32"],
    }

    request = parse_follow_request(query)

    assert request.workflow_id == "random_dog"
    assert request.instance_id == 43


def test_follow_2022_query():
    query = {
        "workflow_id": ["random_dog"],
        "workflow_instance_id": ["43"],
        "tags": ["workflowInstanceId:43"],
    }

    request = parse_follow_request(query)

    assert request.workflow_id == "random_dog"
    assert request.instance_id == 43


def test_follow_2023_query():
    query = {
        "workflow_id": ["random_dog"],
        "tags": ["workflowId:random_dog", "workflowInstanceId:43"],
    }

    request = parse_follow_request(query)

    assert request.workflow_id == "random_dog"
    assert request.instance_id == 43


def test_follow_tags_only():
    request = parse_follow_request({"tags": ["workflowId:random_dog", "workflowInstanceId:43"]})

    assert request.workflow_id == "random_dog"
    assert request.instance_id == 43


def test_follow_ignores_other_tags():
    query = {
        "workflow_id": ["random_dog"],
        "tags": ["no-colon", "project:default", "workflowInstanceId:43"],
    }

    assert parse_follow_request(query).instance_id == 43


def test_follow_repeated_equal_ids():
    query = {"workflow_id": ["random_dog"], "workflow_instance_id": ["43", "43"]}

    assert parse_follow_request(query).instance_id == 43


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"workflow_instance_id": ["43"]}, "workflow_id"),
        ({"workflow_id": [], "workflow_instance_id": ["43"]}, "workflow_id"),
        ({"workflow_id": [""], "workflow_instance_id": ["43"]}, "workflow_id"),
        ({"tags": ["workflowInstanceId:43"]}, "workflow_id"),
        (
            {"workflow_id": ["random_dog"], "tags": ["workflowId:other", "workflowInstanceId:43"]},
            "workflow_id",
        ),
        (
            {"workflow_id": ["random_dog", "other"], "workflow_instance_id": ["43"]},
            "workflow_id",
        ),
        ({"workflow_id": ["random_dog"]}, "workflow_instance_id"),
        (
            {"workflow_id": ["random_dog"], "tags": ["workflowId:random_dog"]},
            "workflow_instance_id",
        ),
        (
            {
                "workflow_id": ["random_dog"],
                "workflow_instance_id": ["43"],
                "tags": ["workflowInstanceId:44"],
            },
            "workflow_instance_id",
        ),
        (
            {"workflow_id": ["random_dog"], "workflow_instance_id": ["43", "44"]},
            "workflow_instance_id",
        ),
        ({"workflow_id": ["random_dog"], "workflow_instance_id": ["abc"]}, "workflow_instance_id"),
        ({"workflow_id": ["random_dog"], "workflow_instance_id": [""]}, "workflow_instance_id"),
        ({"workflow_id": ["random_dog"], "workflow_instance_id": ["0"]}, "workflow_instance_id"),
        ({"workflow_id": ["random_dog"], "workflow_instance_id": ["-1"]}, "workflow_instance_id"),
        (
            {"workflow_id": ["random_dog"], "workflow_instance_id": [str(MAX_ID + 1)]},
            "workflow_instance_id",
        ),
        (
            {"workflow_id": ["random_dog"], "tags": ["workflowInstanceId:abc"]},
            "tags.workflowInstanceId",
        ),
    ],
)
def test_follow_invalid_names_field(query, field):
    with pytest.raises(InvalidRequest) as caught:
        parse_follow_request(query)

    assert caught.value.field == field


def test_follow_conflicting_ids_message():
    query = {
        "workflow_id": ["random_dog"],
        "workflow_instance_id": ["44"],
        "tags": ["workflowInstanceId:43"],
    }

    with pytest.raises(InvalidRequest, match="different instance ids: 43, 44"):
        parse_follow_request(query)


def make_artifact():
    return Artifact(
        name="random_dog.jpg",
        description="A random hound",
        weblink="https://images.dog.ceo/breeds/hound-afghan/n02088094_1003.jpg",
        resource_id="td-43-random_dog-0",
        resource_type="td-artifact",
        created_at=CREATED,
        updated_at=UPDATED,
    )


def make_update(**changes):
    fields = {
        "status": WorkflowInstanceStatus.RUNNING,
        "artifacts": [],
        "weblink": "http://localhost:8233/namespaces/default/workflows/td-43",
        "resource_id": "td-43",
        "resource_type": "td-workflow",
        "created_at": CREATED,
        "updated_at": UPDATED,
    }
    fields.update(changes)
    return WorkflowInstanceUpdate(**fields)


def test_update_keeps_empty_artifacts():
    assert converter.unstructure(make_update())["artifacts"] == []


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (WorkflowInstanceStatus.CREATED, "Created"),
        (WorkflowInstanceStatus.RUNNING, "Running"),
        (WorkflowInstanceStatus.COMPLETED, "Completed"),
        (WorkflowInstanceStatus.FAILED, "Failed"),
    ],
)
def test_update_status_strings(status, expected):
    data = json.loads(json.dumps(converter.unstructure(make_update(status=status))))

    assert data["status"] == expected


def test_update_timestamps_utc_seconds():
    data = converter.unstructure(make_update())

    assert data["created_at"] == "2026-01-02T03:04:05Z"
    assert data["updated_at"] == "2026-01-02T03:05:06Z"


def test_update_fields():
    data = converter.unstructure(make_update())

    assert data == {
        "status": "Running",
        "artifacts": [],
        "weblink": "http://localhost:8233/namespaces/default/workflows/td-43",
        "resource_id": "td-43",
        "resource_type": "td-workflow",
        "created_at": "2026-01-02T03:04:05Z",
        "updated_at": "2026-01-02T03:05:06Z",
    }


def test_update_omits_none_error():
    assert "error" not in converter.unstructure(make_update())


def test_update_keeps_error_text():
    update = make_update(status=WorkflowInstanceStatus.FAILED, error="dog.ceo returned 503")

    assert converter.unstructure(update)["error"] == "dog.ceo returned 503"


def test_artifact_fields():
    data = converter.unstructure(make_update(artifacts=[make_artifact()]))

    assert data["artifacts"] == [
        {
            "name": "random_dog.jpg",
            "description": "A random hound",
            "weblink": "https://images.dog.ceo/breeds/hound-afghan/n02088094_1003.jpg",
            "resource_id": "td-43-random_dog-0",
            "resource_type": "td-artifact",
            "created_at": "2026-01-02T03:04:05Z",
            "updated_at": "2026-01-02T03:05:06Z",
        }
    ]


def test_artifact_has_no_evergreen_owner():
    data = converter.unstructure(make_update(artifacts=[make_artifact()]))

    assert "evergreen_owner" not in data["artifacts"][0]


def test_update_is_json_serializable():
    data = converter.unstructure(make_update(artifacts=[make_artifact()]))

    assert json.loads(json.dumps(data)) == data


def test_update_structure_round_trip():
    update = make_update(
        status=WorkflowInstanceStatus.COMPLETED,
        artifacts=[make_artifact()],
        error="none",
    )

    assert converter.structure(converter.unstructure(update), WorkflowInstanceUpdate) == update


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05Z"),
        (datetime(2026, 1, 2, 3, 4, 5, 999999, tzinfo=UTC), "2026-01-02T03:04:05Z"),
        (
            datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
            "2026-01-02T03:04:05Z",
        ),
        (
            datetime(2026, 1, 1, 22, 4, 5, tzinfo=timezone(timedelta(hours=-5))),
            "2026-01-02T03:04:05Z",
        ),
    ],
)
def test_format_timestamp_utc(value, expected):
    assert format_timestamp(value) == expected


def test_instance_id_error_quotes_value_sent():
    with pytest.raises(InvalidRequest) as caught:
        parse_follow_request({"workflow_id": ["random_dog"], "workflow_instance_id": ["9" * 30]})

    assert caught.value.message.endswith(f"got '{'9' * 30}'")


def test_instance_id_leading_zeros_read_as_number():
    query = {"workflow_id": ["random_dog"], "workflow_instance_id": ["00000000000043"]}

    assert parse_follow_request(query).instance_id == 43
