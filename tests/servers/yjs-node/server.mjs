// A Yjs collaboration server for memsoak's tests: y-websocket's node
// server (@y/websocket-server), one document per URL path, on
// HOST:PORT. With LEAK=1 it keeps every message it receives, in memory,
// forever: an update log without compaction, the way a Yjs backend leaks.
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
    conn.on('message', message => kept.push(Buffer.from(message)))
  }
  setupWSConnection(conn, request)
})
server.on('upgrade', (request, socket, head) => {
  wss.handleUpgrade(request, socket, head, ws => wss.emit('connection', ws, request))
})
server.listen(port, host, () => console.log(`running at ${host}:${port}`))
