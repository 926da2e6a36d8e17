"""td: serve Netflix Dispatch's Generic Workflow API and run its workflows on Temporal."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("td")
except PackageNotFoundError:  # Run from a source tree that was never installed.
    __version__ = "0+unknown"
