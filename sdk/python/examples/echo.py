"""An echo process in Python: every frame a client sends comes back to it.

Run it as a [[process]] of a node (which sets SWITCHBOARD_URL and SWITCHBOARD_TOKEN), or
by hand with a token from `switchboard token --process echo:echo:py`:

    SWITCHBOARD_TOKEN=$(switchboard token --process echo:echo:py) python3 sdk/python/examples/echo.py
"""

import json
import pathlib
import sys

# The SDK is one file beside this folder; a program of your own would install or vendor it.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import switchboard_process as sp  # noqa: E402


async def echo(our):
    print(f"echo running as {our}", flush=True)
    while True:
        message = await sp.await_message()
        if not message.is_request():
            continue
        event = json.loads(message.body)
        push = event.get("WebSocketPush") if isinstance(event, dict) else None
        if push is None:
            continue
        blob = sp.get_blob() or sp.LazyLoadBlob()
        try:
            sp.send_ws_push(our.node, push["channel_id"], push["message_type"], blob)
        except sp.HttpServerError as error:
            # The client went away or stopped reading: nothing to echo to.
            print(f"channel {push['channel_id']}: {error.kind}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sp.run(echo)
