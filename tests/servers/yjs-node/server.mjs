// A Yjs collaboration server for memsoak's tests: y-websocket's node
// server (@y/websocket-server), one document per URL path, on
// HOST:PORT. With LEAK=1 it keeps every message it receives, in memory,
// forever, with a 64 KiB record of each: an update log without compaction,
// the way a Yjs backend leaks (the record makes the leak steady whatever
// the edits' size, so a minute tells it from V8's own steps).
import http from 'http'
import { WebSocketServer } from 'ws'
import { setupWSConnection } from '@y/websocket-server/utils'

const host = process.env.HOST || '127.0.0.1'
const port = parseInt(process.env.PORT || '1234', 10)
const leak = process.env.LEAK === '1'
const kept = []

const server = http.createServer((_request, response) => {
  response.writeHead(200, { 'Content-Type': 'text/plain' })
  response.end('ok')
})
const wss = new WebSocketServer({ noServer: true })
wss.on('connection', (conn, request) => {
  if (leak) {
    conn.on('message', message => kept.push({ message: Buffer.from(message), record: Buffer.alloc(65536, 1) }))
  }
  setupWSConnection(conn, request)
})
server.on('upgrade', (request, socket, head) => {
  wss.handleUpgrade(request, socket, head, ws => wss.emit('connection', ws, request))
})
server.listen(port, host, () => console.log(`running at ${host}:${port}`))
