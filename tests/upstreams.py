"""Stand-in servers for dog.ceo and the Unsplash API that answer with the real response shapes.

Each records the requests it got, and a test can queue faults (a status, a delay, a body that
is not JSON) that the next requests get before the normal answers resume.
"""

import asyncio
import itertools
from collections.abc import Mapping
from typing import Any

import attrs
from aiohttp import web

DOG_BREEDS = {"hound": ["afghan", "basset", "blood"], "akita": [], "pug": []}
UNSPLASH_KEY = "test-access-key"


@attrs.define
class Fault:
    """One answer that replaces the normal one: an HTTP status and body, after a delay."""

    status: int = 500
    body: Any = attrs.field(factory=lambda: {"errors": ["Internal error"]})
    delay: float = 0.0
    headers: Mapping[str, str] = attrs.field(factory=dict)
    raw: bytes | None = None


@attrs.define
class StandIn:
    """A running stand-in server: its base URL, the requests it saw and its queued faults."""

    base_url: str = ""
    requests: list[web.Request] = attrs.field(factory=list)
    faults: list[Fault] = attrs.field(factory=list)

    async def next_fault(self) -> web.Response | None:
        if not self.faults:
            return None
        fault = self.faults.pop(0)
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.raw is not None:
            return web.Response(status=fault.status, body=fault.raw, headers=fault.headers)
        return web.json_response(fault.body, status=fault.status, headers=fault.headers)


def dog_app(state: StandIn) -> web.Application:
    """dog.ceo's API: /breeds/image/random, /breed/{breed}/images/random and sub-breeds."""
    counter = itertools.count(1)

    def image(breed: str, sub: str | None = None) -> web.Response:
        folder = f"{breed}-{sub}" if sub else breed
        number = next(counter)
        url = f"https://images.dog.ceo/breeds/{folder}/n0200{number:04d}.jpg"
        return web.json_response({"message": url, "status": "success"})

    def not_found(message: str) -> web.Response:
        body = {"status": "error", "message": message, "code": 404}
        return web.json_response(body, status=404)

    async def random_any(request: web.Request) -> web.Response:
        state.requests.append(request)
        return await state.next_fault() or image("hound", "afghan")

    async def random_breed(request: web.Request) -> web.Response:
        state.requests.append(request)
        if fault := await state.next_fault():
            return fault
        breed = request.match_info["breed"]
        if breed not in DOG_BREEDS:
            return not_found("Breed not found (main breed does not exist)")
        return image(breed)

    async def random_sub_breed(request: web.Request) -> web.Response:
        state.requests.append(request)
        if fault := await state.next_fault():
            return fault
        breed, sub = request.match_info["breed"], request.match_info["sub"]
        if breed not in DOG_BREEDS:
            return not_found("Breed not found (main breed does not exist)")
        if sub not in DOG_BREEDS[breed]:
            return not_found("Breed not found (sub breed does not exist)")
        return image(breed, sub)

    app = web.Application()
    app.router.add_get("/api/breeds/image/random", random_any)
    app.router.add_get("/api/breed/{breed}/images/random", random_breed)
    app.router.add_get("/api/breed/{breed}/{sub}/images/random", random_sub_breed)
    return app


def unsplash_app(state: StandIn) -> web.Application:
    """The Unsplash API's GET /photos/random, with its authorization and error answers."""
    counter = itertools.count(1)

    async def random_photo(request: web.Request) -> web.Response:
        state.requests.append(request)
        if fault := await state.next_fault():
            return fault
        if request.headers.get("Authorization") != f"Client-ID {UNSPLASH_KEY}":
            return web.json_response(
                {"errors": ["OAuth error: The access token is invalid"]}, status=401
            )
        query = request.query.get("query", "")
        if query == "nothing-matches":
            return web.json_response({"errors": ["No photos found."]}, status=404)
        number = next(counter)
        photo_id = f"Ph0to{number:03d}"
        return web.json_response(
            {
                "id": photo_id,
                "created_at": "2024-05-01T10:00:00Z",
                "width": 4000,
                "height": 3000,
                "description": None,
                "alt_description": f"a photo about {query or 'anything'}",
                "urls": {
                    "raw": f"https://images.unsplash.com/photo-{photo_id}?ixid=x",
                    "full": f"https://images.unsplash.com/photo-{photo_id}?q=85",
                    "regular": f"https://images.unsplash.com/photo-{photo_id}?w=1080",
                    "small": f"https://images.unsplash.com/photo-{photo_id}?w=400",
                    "thumb": f"https://images.unsplash.com/photo-{photo_id}?w=200",
                },
                "links": {
                    "self": f"https://api.unsplash.com/photos/{photo_id}",
                    "html": f"https://unsplash.com/photos/{photo_id}",
                    "download": f"https://unsplash.com/photos/{photo_id}/download",
                    "download_location": f"https://api.unsplash.com/photos/{photo_id}/download",
                },
                "user": {
                    "id": "u1",
                    "username": "jane",
                    "name": "Jane Doe",
                    "links": {"html": "https://unsplash.com/@jane"},
                },
            },
            headers={"X-Ratelimit-Limit": "50", "X-Ratelimit-Remaining": "49"},
        )

    app = web.Application()
    app.router.add_get("/photos/random", random_photo)
    return app


async def start(app: web.Application, state: StandIn, path: str = "") -> web.AppRunner:
    """Serve `app` on a free loopback port and set `state.base_url`."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.base_url = f"http://127.0.0.1:{port}{path}"
    return runner


async def main() -> None:
    """Run both stand-ins until interrupted, for trying td by hand."""
    dog, unsplash = StandIn(), StandIn()
    runners = [
        await start(dog_app(dog), dog, "/api"),
        await start(unsplash_app(unsplash), unsplash),
    ]
    print(f"-dog-api={dog.base_url} -unsplash-api={unsplash.base_url}", flush=True)
    print(f"UNSPLASH_ACCESS_KEY={UNSPLASH_KEY}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        for runner in runners:
            await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
