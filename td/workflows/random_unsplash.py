"""random_unsplash: post two random Unsplash photos to the incident, a step delay apart."""

from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
from temporalio import activity, workflow

from td.config import Config
from td.dispatch import Artifact
from td.upstream import check_link, clean_text, final_error, get_json
from td.workflows.base import (
    Param,
    Picture,
    WorkflowDefinition,
    WorkflowInput,
    run_picture_steps,
)

ACCESS_KEY_VARIABLE = "UNSPLASH_ACCESS_KEY"


class UnsplashActivities:
    """Activities that call the Unsplash API with the configured access key."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, access_key: str | None):
        self._session = session
        self._base_url = base_url
        self._access_key = access_key

    @activity.defn(name="fetch_unsplash_photo")
    async def fetch_unsplash_photo(self, term: str | None) -> Picture:
        """Fetch one random photo, matching `term` when given, from GET /photos/random."""
        if not self._access_key:
            raise final_error(
                f"{ACCESS_KEY_VARIABLE} is not set: set it to an Unsplash API access key "
                "and restart td",
                "MissingAccessKey",
            )

        status, body = await get_json(
            self._session,
            self._base_url + "/photos/random",
            service="Unsplash",
            # aiohttp URL-encodes the term.
            params={"query": term} if term else None,
            headers={"Authorization": f"Client-ID {self._access_key}", "Accept-Version": "v1"},
        )

        if status != 200:
            # Unsplash answers errors as {"errors": ["..."]}: 401 for a bad access key,
            # 403 when the hourly rate limit is used up, 404 when no photo matches.
            errors = body.get("errors") if isinstance(body, dict) else None
            detail = "; ".join(map(str, errors)) if isinstance(errors, list) else f"{body!r:.200}"
            if status == 401:
                raise final_error(
                    f"Unsplash rejected the access key in {ACCESS_KEY_VARIABLE}: {detail}",
                    "AccessKeyRejected",
                )
            if status == 403:
                raise final_error(f"Unsplash rate limit exceeded: {detail}", "RateLimited")
            if status == 404:
                raise final_error(f"Unsplash found no photo for {term!r}: {detail}", "NotFound")
            raise final_error(f"Unsplash responded with HTTP {status}: {detail}", "UpstreamError")

        return _picture_from_photo(body)


def _picture_from_photo(photo: Any) -> Picture:
    try:
        image = check_link(photo["urls"]["regular"], "Unsplash")
        page = check_link(photo["links"]["html"], "Unsplash")
        photographer = clean_text(photo["user"]["name"], 200)
        photographer_page = check_link(photo["user"]["links"]["html"], "Unsplash")
    except (KeyError, TypeError):
        raise final_error(
            f"Unsplash sent a photo without urls, links or user: {photo!r:.200}", "UpstreamError"
        ) from None

    caption = clean_text(photo.get("description") or photo.get("alt_description") or "A photo", 500)
    # Unsplash's guidelines ask to credit the photographer and Unsplash, with links to both.
    description = f"{caption}. Photo by {photographer} ({photographer_page}) on Unsplash ({page})"
    return Picture(weblink=image, description=description)


@workflow.defn(name="random_unsplash")
class RandomUnsplash:
    """Wait, fetch a photo from Unsplash, add it as an artifact; twice."""

    @workflow.run
    async def run(self, workflow_input: WorkflowInput) -> list[Artifact]:
        term = workflow_input.params.get("term")
        return await run_picture_steps(
            workflow_input,
            UnsplashActivities.fetch_unsplash_photo,
            term,
            label="Photo",
            resource_type="unsplash-photo",
        )


def _make_activities(
    session: aiohttp.ClientSession, config: Config
) -> Sequence[Callable[..., Any]]:
    activities = UnsplashActivities(session, config.unsplash_api, config.unsplash_access_key)
    return [activities.fetch_unsplash_photo]


DEFINITION = WorkflowDefinition(
    id="random_unsplash",
    description="Posts two random photos from Unsplash, one step delay apart. "
    f"The worker needs {ACCESS_KEY_VARIABLE}.",
    workflow=RandomUnsplash,
    make_activities=_make_activities,
    site="https://unsplash.com/",
    params=(
        Param(
            name="term",
            description="Search term the photos must match, like love or mountains. "
            "Any photo when left out.",
            max_length=100,
        ),
    ),
)
