"""Entry script for the single-file binary: PyInstaller freezes this file, which only calls td."""

import os
import signal
import sys
from pathlib import Path

from td.cli import main


def stop_with_launcher() -> None:
    """End td when the binary's launcher process dies, on Linux.

    A one-file binary runs as two processes: PyInstaller's launcher, whose pid a supervisor or a
    shell holds, and td in its child. If SIGKILL ends the launcher, td would otherwise serve on,
    orphaned, holding its ports.
    """
    frozen_one_file = getattr(sys, "frozen", False) and Path(sys._MEIPASS).name.startswith("_MEI")
    if not (frozen_one_file and sys.platform.startswith("linux")):
        return
    import ctypes

    launcher = os.getppid()
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    # The launcher may have died before prctl took effect.
    if os.getppid() != launcher:
        sys.exit(1)


if __name__ == "__main__":
    stop_with_launcher()
    sys.exit(main())
