"""random_dog: post two random dog pictures from dog.ceo to the incident, a step delay apart."""

from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
from temporalio import activity, workflow

from td.config import Config
from td.dispatch import Artifact
from td.upstream import check_link, final_error, get_json
from td.workflows.base import (
    Param,
    Picture,
    WorkflowDefinition,
    WorkflowInput,
    run_picture_steps,
)


class DogActivities:
    """Activities that call the dog.ceo API at the configured base URL."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self._session = session
        self._base_url = base_url

    @activity.defn(name="fetch_dog_image")
    async def fetch_dog_image(self, breed: str | None) -> Picture:
        """Fetch one random image of `breed` (`hound` or `hound/afghan`), or of any breed."""
        path = f"/breed/{breed}/images/random" if breed else "/breeds/image/random"
        status, body = await get_json(self._session, self._base_url + path, service="dog.ceo")

        # dog.ceo answers {"status": "success", "message": "<image URL>"}, or on an error with
        # {"status": "error", "message": "Breed not found ...", "code": 404}.
        if not isinstance(body, dict) or "status" not in body:
            raise final_error(
                f"dog.ceo responded with HTTP {status} and an unexpected body: {body!r:.200}",
                "UpstreamError",
            )
        message = body.get("message")
        if body["status"] != "success":
            if status == 404 or body.get("code") == 404:
                what = f"breed {breed!r}" if breed else "the random image service"
                raise final_error(f"dog.ceo: {what} not found: {message}", "NotFound")
            raise final_error(f"dog.ceo responded with HTTP {status}: {message}", "UpstreamError")
        image = check_link(message, "dog.ceo")

        what = f"A random {breed.replace('/', ' ')}" if breed else "A random dog"
        return Picture(weblink=image, description=f"{what} from dog.ceo")


@workflow.defn(name="random_dog")
class RandomDog:
    """Wait, fetch a dog picture from dog.ceo, add it as an artifact; twice."""

    @workflow.run
    async def run(self, workflow_input: WorkflowInput) -> list[Artifact]:
        breed = workflow_input.params.get("breed")
        return await run_picture_steps(
            workflow_input,
            DogActivities.fetch_dog_image,
            breed,
            label="Dog",
            resource_type="dog.ceo-image",
        )


def _make_activities(
    session: aiohttp.ClientSession, config: Config
) -> Sequence[Callable[..., Any]]:
    return [DogActivities(session, config.dog_api).fetch_dog_image]


DEFINITION = WorkflowDefinition(
    id="random_dog",
    description="Posts two random dog pictures from dog.ceo, one step delay apart.",
    workflow=RandomDog,
    make_activities=_make_activities,
    site="https://dog.ceo/",
    params=(
        Param(
            name="breed",
            description="dog.ceo breed, optionally with a sub-breed: hound or hound/afghan. "
            "Any breed when left out.",
            pattern=r"[a-z]+(/[a-z]+)?",
            pattern_help="use a dog.ceo breed in lower case, like hound or hound/afghan",
            max_length=64,
        ),
    ),
)
