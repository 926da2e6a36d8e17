"""A minimal HTTP layer over Temporal for a follow: one aiohttp handler, one describe().

bench.compare runs this beside td, so that the cost of the HTTP hop itself (a request through
aiohttp's client and server, a second process woken on loopback) is measured apart from td's own
work. It has no routing beyond one path, no middleware, no access log and no error handling.

    python -m bench.bare PORT TEMPORAL_ADDRESS
"""

import sys

from aiohttp import web
from temporalio.client import Client

from td.converter import data_converter
from td.workflows.base import PROGRESS_MEMO, Progress

CLIENT = web.AppKey("client", Client)


async def follow(request: web.Request) -> web.Response:
    """Respond with an execution's status and the artifact links from its progress memo."""
    handle = request.app[CLIENT].get_workflow_handle(request.query["id"])
    description = await handle.describe()
    progress = await description.memo_value(PROGRESS_MEMO, None, type_hint=Progress)
    artifacts = [artifact.weblink for artifact in progress.artifacts] if progress else []
    return web.json_response({"status": description.status.name, "artifacts": artifacts})


def main() -> None:
    port, target = int(sys.argv[1]), sys.argv[2]

    async def connect(app: web.Application):
        app[CLIENT] = await Client.connect(target, data_converter=data_converter)
        yield

    app = web.Application()
    app.cleanup_ctx.append(connect)
    app.router.add_get("/follow", follow)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
