"""A FastAPI backend shaped like the ones memsoak is made for: /health, a
WebSocket collaboration endpoint, HTTP endpoints for AI agents, and the
collaborative editor page that is its frontend (/editor?doc=NAME).

    uvicorn backend.server:app --port 8000
"""

from pathlib import Path

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from .collab import ConnectionManager

app = FastAPI()
manager = ConnectionManager()
EDITOR = (Path(__file__).parent.parent / "frontend" / "editor.html").read_text()


@app.get("/editor", response_class=HTMLResponse)
async def editor():
    return EDITOR


@app.get("/health")
async def health():
    return {"status": "ok"}


@app.websocket("/collab/{doc_id}")
async def collab(ws: WebSocket, doc_id: str):
    await manager.connect(doc_id, ws)
    try:
        while True:
            text = await ws.receive_text()
            await manager.broadcast(doc_id, ws, text)
    except WebSocketDisconnect:
        pass
    finally:
        manager.disconnect(doc_id, ws)


class Chat(BaseModel):
    message: str


@app.post("/agent/chat")
async def chat(body: Chat):
    words = body.message.split()
    return {"reply": f"{len(words)} words received", "agent": "example"}


@app.get("/agents/health")
async def agents_health():
    return {"agents": "ok"}
