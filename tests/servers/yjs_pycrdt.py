"""A Yjs collaboration server for memsoak's tests: pycrdt-websocket (the
Python Yjs server behind Jupyter's real-time collaboration) under uvicorn,
one room per URL path.

    python3 -m uvicorn --app-dir tests/servers yjs_pycrdt:app --port 8000

With LEAK=1 it keeps every update it receives, in memory, forever: an
update log without compaction (a store that is never squashed), the way a
Yjs backend leaks.
"""

import asyncio
import os

from pycrdt.websocket import ASGIServer, WebsocketServer

LEAK = os.environ.get("LEAK") == "1"
KEPT: list[bytes] = []


def keep(message: bytes) -> bool:
    """The room's message hook: keeps the update; never skips it."""
    KEPT.append(bytes(message))
    return False


class Rooms(WebsocketServer):
    async def get_room(self, name):
        room = await super().get_room(name)
        if LEAK:
            room.on_message = keep
        return room


rooms = Rooms(auto_clean_rooms=True)
websockets = ASGIServer(rooms)


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        task = None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                task = asyncio.create_task(rooms.start())
                await rooms.started.wait()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await rooms.stop()
                if task is not None:
                    task.cancel()
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["type"] == "http":
        # A readiness answer for memsoak's --ready-url.
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})
    else:
        await websockets(scope, receive, send)
