"""`td run WORKFLOW`: start a workflow through a running td as Dispatch does, and follow it.

It shows each status change and each artifact as it appears, with a live progress line on a
terminal, and exits 0 on Completed and 1 on Failed.
"""

import asyncio
import itertools
import json
import os
import random
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from td.dispatch import MAX_ID
from td.duration import format_duration, parse_duration
from td.flags import Flag, FlagError, HelpRequested, format_usage, parse_flags


def _parse_param(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise ValueError("expected key=value, for example breed=hound")
    return key, value


def _parse_positive_duration(text: str) -> timedelta:
    duration = parse_duration(text)
    if duration <= timedelta(0):
        raise ValueError("must be more than 0s")
    return duration


def _parse_server(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{text!r} is not an http(s) URL: use one like http://localhost:8888")
    return text


FLAGS = (
    Flag(
        "param",
        "a workflow parameter as key=value; repeat it for more",
        parse=_parse_param,
        repeated=True,
        placeholder="key=value",
        from_env=False,
    ),
    Flag(
        "server",
        "URL of td, or of its workflow API",
        default="http://localhost:8888/workflow/",
        parse=_parse_server,
        placeholder="URL",
    ),
    Flag(
        "poll",
        "time between polls, as a Go duration",
        default="1s",
        parse=_parse_positive_duration,
        placeholder="duration",
    ),
    Flag(
        "timeout",
        "give up when the instance has not finished after this long",
        default="10m",
        parse=_parse_positive_duration,
        placeholder="duration",
    ),
)
USAGE_HELP = """
Starts WORKFLOW with a fresh instance id, as Dispatch does, and follows it until it ends.
Exits 0 when it completes, 1 when it fails, when td cannot be reached or responds with 503
for a minute, and 2 on a usage error.
TD_AUTH, when set, is sent as the Authorization header.
"""
FINAL = ("Completed", "Failed")
# Seconds to keep retrying while td responds with 503, for example while Temporal is down.
UNAVAILABLE_LIMIT = 60.0
# td's responses are a few kilobytes; a larger one does not come from td.
MAX_ANSWER_SIZE = 1024 * 1024
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=30)
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class RunError(Exception):
    """td responded with an error, or could not be reached."""


def run_main(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> int:
    """Run `td run` with the arguments after `run`; return the exit code."""
    environ = os.environ if environ is None else environ
    usage = format_usage("td run", FLAGS, synopsis="WORKFLOW [flags]") + USAGE_HELP
    workflow, flag_arguments = (
        (argv[0], argv[1:]) if argv and not argv[0].startswith("-") else ("", argv)
    )
    try:
        result = parse_flags(FLAGS, flag_arguments, environ)
        if not workflow:
            raise FlagError("the workflow to run is missing, for example: td run random_dog")
        if result.args:
            raise FlagError(f"unexpected argument: {result.args[0]}")
    except HelpRequested:
        sys.stdout.write(usage)
        return 0
    except FlagError as error:
        sys.stderr.write(f"td run: {error}\n{usage}")
        return 2

    values = result.values
    runner = Runner(
        server=_workflow_url(values["server"]),
        workflow=workflow,
        params=dict(values["param"]),
        poll=values["poll"],
        timeout=values["timeout"],
        authorization=environ.get("TD_AUTH") or None,
        out=sys.stdout,
    )
    try:
        return asyncio.run(runner.run())
    except RunError as error:
        runner.clear_progress()
        print(_printable(f"td run: {error}"), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        runner.clear_progress()
        return 130
    except BrokenPipeError:
        # The reader of the output went away, as `td run ... | head -1` does: stop quietly, and
        # keep Python from reporting the pipe once more when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _workflow_url(server: str) -> str:
    """Accept td's base URL as well as the workflow API's: http://host:8888 means its /workflow/."""
    parts = urlsplit(server)
    if parts.path in ("", "/"):
        return urlunsplit(parts._replace(path="/workflow/"))
    return server


class Runner:
    """Starts one instance and follows it, writing what happens to `out`."""

    def __init__(
        self,
        *,
        server: str,
        workflow: str,
        params: dict[str, str],
        poll: timedelta,
        timeout: timedelta,
        authorization: str | None,
        out: TextIO,
    ) -> None:
        self.server = server
        self.workflow = workflow
        self.params = params
        self.poll = poll.total_seconds()
        self.timeout = timeout.total_seconds()
        self.headers = {"Content-Type": "application/json"}
        if authorization:
            self.headers["Authorization"] = authorization
        self.out = out
        self.live = out.isatty()
        self._progress_shown = False

    async def run(self) -> int:
        started = time.monotonic()
        async with aiohttp.ClientSession(headers=self.headers) as session:
            instance_id, answer = await self._start(session)
            self._line(f"Started {answer.get('resource_id')}: {answer.get('weblink', '')}")
            shown_status: str | None = None
            shown_artifacts: set[str] = set()
            spinner = itertools.cycle(SPINNER)
            next_poll = 0.0
            while True:
                status = str(answer["status"])
                artifacts = answer.get("artifacts")
                # Artifacts first: the step that added them happened before the status change.
                for artifact in artifacts if isinstance(artifacts, list) else []:
                    if not isinstance(artifact, dict):
                        continue
                    resource_id = str(artifact.get("resource_id"))
                    if resource_id not in shown_artifacts:
                        shown_artifacts.add(resource_id)
                        self._line(f"{artifact.get('name')}: {artifact.get('weblink')}")
                if status != shown_status and status not in FINAL:
                    self._line(status)
                    shown_status = status
                elapsed = time.monotonic() - started
                if status in FINAL:
                    took = format_duration(timedelta(seconds=round(elapsed, 1)))
                    if status == "Failed":
                        self._line(f"Failed after {took}: {answer.get('error', 'no reason given')}")
                        return 1
                    self._line(f"Completed in {took}")
                    return 0
                if elapsed > self.timeout:
                    raise RunError(
                        f"{answer.get('resource_id')} has not finished after "
                        f"{format_duration(timedelta(seconds=self.timeout))}"
                    )

                next_poll = time.monotonic() + self.poll
                while self.live and time.monotonic() < next_poll:
                    self._progress(
                        f"{next(spinner)} {status} {elapsed:.0f}s, {len(shown_artifacts)} artifacts"
                    )
                    await asyncio.sleep(0.1)
                    elapsed = time.monotonic() - started
                if not self.live:
                    await asyncio.sleep(self.poll)
                answer = await self._follow(session, instance_id)

    async def _warn_about_params(self, session: aiohttp.ClientSession) -> None:
        """Warn about params that the workflow does not declare, which td would ignore."""
        catalogue_url = urlunsplit(urlsplit(self.server)._replace(path="/workflows", query=""))
        try:
            async with session.get(catalogue_url, timeout=REQUEST_TIMEOUT) as response:
                body = await _read_limited(response)
                ok = response.status == 200 and len(body) <= MAX_ANSWER_SIZE
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        if not ok:
            # An older td, or one behind a proxy that serves only /workflow: start anyway.
            return
        catalogue = _decode_answer(body)
        workflows = catalogue.get("workflows") if isinstance(catalogue, dict) else None
        for workflow in workflows if isinstance(workflows, list) else []:
            if not isinstance(workflow, dict) or workflow.get("id") != self.workflow:
                continue
            parameters = workflow.get("parameters")
            declared = [
                str(param.get("name"))
                for param in (parameters if isinstance(parameters, list) else [])
                if isinstance(param, dict)
            ]
            for name in sorted(set(self.params) - set(declared)):
                warning = (
                    f"td run: warning: {self.workflow} has no parameter {name!r}, so td ignores "
                    f"it; its parameters: {', '.join(declared) or 'none'}"
                )
                print(_printable(warning), file=sys.stderr)

    async def _start(self, session: aiohttp.ClientSession) -> tuple[int, dict[str, Any]]:
        await self._warn_about_params(session)
        # A fresh instance id, as Dispatch's would be; an id that exists already answers 200.
        for _ in range(5):
            instance_id = random.randint(1, MAX_ID)
            body = {
                "workflow_id": self.workflow,
                "params": {"workflowInstanceId": instance_id, **self.params},
            }
            status, answer = await self._request(session, "POST", json=body)
            if status == 201:
                return instance_id, answer
            if status != 200:
                raise RunError(
                    f"td responded with HTTP {status} to POST: {answer.get('error', answer)}"
                )
        raise RunError("five random instance ids were all taken; try again")

    async def _follow(self, session: aiohttp.ClientSession, instance_id: int) -> dict[str, Any]:
        query = [
            ("workflow_id", self.workflow),
            ("tags", f"workflowId:{self.workflow}"),
            ("tags", f"workflowInstanceId:{instance_id}"),
        ]
        _, answer = await self._request(session, "GET", params=query)
        return answer

    async def _request(
        self, session: aiohttp.ClientSession, method: str, **arguments: Any
    ) -> tuple[int, dict[str, Any]]:
        """Send a request; wait and retry on 503 for a while, raise RunError on any other error."""
        deadline = time.monotonic() + min(self.timeout, UNAVAILABLE_LIMIT)
        while True:
            try:
                async with session.request(
                    method, self.server, timeout=REQUEST_TIMEOUT, **arguments
                ) as response:
                    status = response.status
                    retry_after = response.headers.get("Retry-After", "")
                    body = await _read_limited(response)
            except (aiohttp.ClientError, TimeoutError) as error:
                reason = str(error) or f"no response within {REQUEST_TIMEOUT.total:.0f}s"
                raise RunError(f"cannot reach td at {self.server}: {reason}") from None
            if len(body) > MAX_ANSWER_SIZE:
                raise RunError(f"td responded with HTTP {status} and a body over 1 MiB")
            answer = _decode_answer(body)

            left = deadline - time.monotonic()
            if status == 503 and left > 0:
                # At least the poll interval, so that Retry-After: 0 does not flood td, and at
                # most the time left.
                seconds = (
                    int(retry_after[:6]) if retry_after.isascii() and retry_after.isdigit() else 0
                )
                delay = min(max(seconds, self.poll), left)
                self._line(
                    f"td run: td responded with HTTP 503 ({answer.get('error')}); "
                    f"retrying in {delay:.0f}s, for {left:.0f}s more"
                )
                await asyncio.sleep(delay)
                continue
            if status >= 400 and not (status == 404 and answer.get("status") == "Failed"):
                hint = ""
                if status == 401:
                    hint = " (set TD_AUTH to the accepted Authorization header value)"
                raise RunError(
                    f"td responded with HTTP {status} to {method}: "
                    f"{answer.get('error', answer)}{hint}"
                )
            if not isinstance(answer, dict) or "status" not in answer:
                raise RunError(
                    f"td responded with HTTP {status} to {method} without a status: {answer}"
                )
            return status, answer

    def _line(self, text: str) -> None:
        self.clear_progress()
        print(_printable(text), file=self.out, flush=True)

    def _progress(self, text: str) -> None:
        self.out.write(f"\r\033[K{_printable(text)}")
        self.out.flush()
        self._progress_shown = True

    def clear_progress(self) -> None:
        if self._progress_shown:
            self.out.write("\r\033[K")
            self.out.flush()
            self._progress_shown = False


async def _read_limited(response: aiohttp.ClientResponse) -> bytes:
    """Read a body up to one byte past MAX_ANSWER_SIZE, so the caller can see it is too large."""
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > MAX_ANSWER_SIZE:
            break
    return bytes(body)


def _decode_answer(body: bytes) -> dict[str, Any]:
    """Decode a response body; anything but a JSON object becomes {"error": <its start>}."""
    text = body.decode("utf-8", "replace")
    try:
        answer = json.loads(text)
    except (ValueError, RecursionError):
        return {"error": text[:200]}
    return answer if isinstance(answer, dict) else {"error": repr(answer)[:200]}


def _printable(text: str) -> str:
    """Return `text` with control characters escaped, so that a server cannot drive the terminal."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
