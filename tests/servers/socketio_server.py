"""A Socket.IO chat server for memsoak's tests: python-socketio (ASGI)
under uvicorn. Clients join a room with a `join` event and their `chat`
events go to the room's other clients; the connect packet must carry the
token of $CHAT_TOKEN in its `auth` when that is set.

    python3 -m uvicorn --app-dir tests/servers socketio_server:app --port 8000

With LEAK=1 it keeps every chat message in a history without bound, the
way a chat backend leaks.
"""

import os

import socketio

LEAK = os.environ.get("LEAK") == "1"
TOKEN = os.environ.get("CHAT_TOKEN")
HISTORY: list = []

sio = socketio.AsyncServer(async_mode="asgi", ping_interval=5, ping_timeout=5)


@sio.event
async def connect(sid, environ, auth):
    if TOKEN and (auth or {}).get("token") != TOKEN:
        raise socketio.exceptions.ConnectionRefusedError("bad token")


@sio.on("join")
async def join(sid, data):
    await sio.enter_room(sid, data["room"])


@sio.on("chat")
async def chat(sid, data):
    if LEAK:
        HISTORY.append(dict(data, padding="x" * 1024))
    for room in sio.rooms(sid):
        if room != sid:
            await sio.emit("chat", data, room=room, skip_sid=sid)
    return "ok"


async def health(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


app = socketio.ASGIApp(sio, other_asgi_app=health)
