"""A FastAPI backend shaped like the ones memsoak is made for: /health, a
WebSocket collaboration endpoint and HTTP endpoints for AI agents.

    uvicorn backend.server:app --port 8000
"""

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from pydantic import BaseModel

from .collab import ConnectionManager

app = FastAPI()
manager = ConnectionManager()


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
