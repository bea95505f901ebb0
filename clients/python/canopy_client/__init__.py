"""Python client for `canopyd`, Canopy's gRPC inference daemon (service `canopy.v1.Canopy`).

    from canopy_client import CanopyClient
    with CanopyClient("/run/canopy/canopy.sock") as client:
        for event in client.generate("Once upon a time", max_tokens=32, temperature=0):
            ...
        print(client.chat([{"role": "user", "content": "Hi"}]).text)
"""

from ._proto.canopy.v1 import canopy_pb2 as pb
from .client import (
    Branch,
    CanopyClient,
    CanopyError,
    GenerateStream,
    SampleFinished,
    SampleResult,
    Summary,
    Token,
    build_request,
)

__all__ = [
    "Branch", "CanopyClient", "CanopyError", "GenerateStream", "SampleFinished", "SampleResult", "Summary",
    "Token", "build_request", "pb",
]
__version__ = "0.1.0"
