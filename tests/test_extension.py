"""Adding a workflow is one module: the README's random_fox example, run end to end."""

import re
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web

import td.workflows
from tests.dispatch_rules import check_answer
from tests.harness import follow_query, new_instance_id, start_params

README = Path(__file__).parent.parent / "README.md"
MODULE = Path(td.workflows.__file__).parent / "random_fox.py"


def readme_example() -> str:
    section = README.read_text().split("## Add your own workflow", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the README's section lost its python block"
    return match.group(1)


@pytest.fixture
async def fox_api() -> AsyncIterator[str]:
    """A stand-in for randomfox.ca's GET /floof/."""
    count = 0

    async def floof(request: web.Request) -> web.Response:
        nonlocal count
        count += 1
        return web.json_response(
            {
                "image": f"https://randomfox.ca/images/{count}.jpg",
                "link": f"https://randomfox.ca/?i={count}",
            }
        )

    app = web.Application()
    app.router.add_get("/floof/", floof)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
def fox_module(fox_api, monkeypatch) -> Iterator:
    """Drop the README's module into td/workflows for the test, and take it out after.

    A reader who followed the README has the module already: the test uses it and leaves it.
    """
    monkeypatch.setenv("FOX_API", fox_api)
    sys.modules.pop("td.workflows.random_fox", None)
    if MODULE.exists():
        if MODULE.read_text() != readme_example():
            pytest.skip(f"{MODULE} differs from the README's example")
        yield MODULE
        return
    MODULE.write_text(readme_example())
    try:
        yield MODULE
    finally:
        MODULE.unlink()
        sys.modules.pop("td.workflows.random_fox", None)


async def test_new_module_runs_from_dispatch(fox_module, make_api):
    definitions = td.workflows.load_definitions()
    assert "random_fox" in definitions
    api = await make_api(definitions=definitions)
    instance_id = new_instance_id()

    status, created = await api.post("random_fox", start_params("2022", instance_id))
    answers = await api.follow(follow_query("2023", "random_fox", instance_id))

    assert status == 201
    check_answer(created)
    final = answers[-1]
    assert final["status"] == "Completed", final
    assert [artifact["name"] for artifact in final["artifacts"]] == ["Fox 1", "Fox 2"]
    assert final["artifacts"][0]["weblink"].startswith("https://randomfox.ca/images/")

    catalogue = await (await api.http.get("/workflows")).json()
    assert "random_fox" in [workflow["id"] for workflow in catalogue["workflows"]]
    document = await (await api.http.get("/openapi.json")).json()
    assert "random_fox" in document["info"]["description"]


def test_registry_skips_private_modules():
    definitions = td.workflows.load_definitions()

    assert "base" not in definitions
    assert all(not name.startswith("_") for name in definitions)
