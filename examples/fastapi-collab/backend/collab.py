"""The collaboration endpoint's connection manager: every edit received on
/collab/{doc_id} is broadcast to the document's other clients.

With COLLAB_LEAK=1 the manager also keeps every broadcast edit, parsed, in
an undo history that nothing ever trims: the leak memsoak's example finds
by file and line.
"""

import json
import os
from collections import defaultdict

from fastapi import WebSocket

LEAK = os.environ.get("COLLAB_LEAK") == "1"


class ConnectionManager:
    def __init__(self):
        self.documents: dict[str, set[WebSocket]] = defaultdict(set)
        self.history: dict[str, list[dict]] = defaultdict(list)

    async def connect(self, doc_id: str, ws: WebSocket):
        await ws.accept()
        self.documents[doc_id].add(ws)

    def disconnect(self, doc_id: str, ws: WebSocket):
        clients = self.documents.get(doc_id)
        if clients is not None:
            clients.discard(ws)
            if not clients:
                del self.documents[doc_id]

    async def broadcast(self, doc_id: str, sender: WebSocket, text: str):
        if LEAK:
            self.history[doc_id].append(json.loads(text))  # the planted leak
        for ws in list(self.documents.get(doc_id, ())):
            if ws is not sender:
                try:
                    await ws.send_text(text)
                except Exception:
                    self.disconnect(doc_id, ws)
