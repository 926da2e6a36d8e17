"""The catalogue and the OpenAPI description, checked by openapi-spec-validator and Schemathesis."""

import asyncio
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from openapi_spec_validator import validate

from td.openapi import openapi_document
from td.workflows import load_definitions
from tests.processes import DISPATCH_HEADERS, TD

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")


def test_document_is_valid_openapi():
    document = openapi_document(load_definitions())

    validate(document)
    assert document["openapi"] == "3.1.0"
    assert {"/workflow", "/workflow/", "/workflows", "/healthz", "/readyz"} <= set(
        document["paths"]
    )


def test_document_has_every_request_shape():
    schemas = openapi_document(load_definitions())["components"]["schemas"]

    assert "workflowInstanceId" in schemas["Params2022"]["properties"]
    assert "externalRef" in schemas["Params2022"]["properties"]
    assert "instance_id" in schemas["Params2021"]["properties"]
    assert "incident_name" in schemas["Params2021"]["properties"]
    assert schemas["Params2022"]["properties"]["breed"]["pattern"].startswith("^(|")
    assert schemas["WorkflowInstanceUpdate"]["properties"]["status"]["enum"] == [
        "Created",
        "Running",
        "Completed",
        "Failed",
    ]


async def test_catalogue_lists_parameters(start_td, td_args, td_env):
    td = start_td([*td_args, "-worker=false"])
    await td.wait_ready()
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            td.url.replace("/workflow/", "/workflows"), headers=DISPATCH_HEADERS
        ) as response,
    ):
        body = await response.json()
    assert td.stop() == 0

    workflows = {workflow["id"]: workflow for workflow in body["workflows"]}
    # A workflow that the reader added by following the README may be listed too.
    assert {"random_dog", "random_unsplash"} <= set(workflows)
    breed = workflows["random_dog"]["parameters"][0]
    assert breed["name"] == "breed"
    assert breed["type"] == "string"
    assert breed["required"] is False
    assert breed["default"] is None
    assert "hound/afghan" in breed["description"]
    assert workflows["random_unsplash"]["parameters"][0]["name"] == "term"


def test_list_workflows_prints_catalogue(td_env):
    result = subprocess.run(
        [TD, "-list-workflows"], env=td_env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0
    assert result.stdout.startswith("random_dog\n")
    assert "  - breed (string, optional):" in result.stdout
    assert "random_unsplash" in result.stdout


@pytest.mark.parametrize(
    "selection",
    [
        # Every check but positive data acceptance, on every operation. A schema cannot say that
        # a GET needs workflow_instance_id or a workflowInstanceId tag, one of the two, so a
        # schema-valid GET may get a 400.
        ["--checks", "all", "--exclude-checks", "positive_data_acceptance"],
        ["--checks", "positive_data_acceptance", "--include-method", "POST"],
    ],
    ids=["all-checks", "positive-posts"],
)
async def test_schemathesis_finds_nothing(start_td, td_args, td_env, tmp_path, selection):
    env = {**td_env, "TD_AUTH": DISPATCH_HEADERS["Authorization"]}
    td = start_td([*td_args, "-worker=false"], env)
    await td.wait_ready()

    process = await asyncio.create_subprocess_exec(
        SCHEMATHESIS, "run", td.url.replace("/workflow/", "/openapi.json"),
        "--max-examples", "25", "--seed", "7",
        "--header", f"Authorization: {DISPATCH_HEADERS['Authorization']}",
        *selection,
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 300)
    assert td.stop() == 0

    assert process.returncode == 0, output.decode(errors="replace")[-6000:]
