// The Node `ws` baseline for Switchboard's benchmarks: one server, default `ws` settings.
// A socket on /echo gets every frame back; a socket on /broadcast is a subscriber, and a
// frame from any subscriber goes to all of them. Prints `listening on ws://HOST:PORT/` first.
import { WebSocketServer, WebSocket } from 'ws';

const host = process.argv[2] ?? '127.0.0.1';
const port = Number(process.argv[3] ?? 0);
const subscribers = new Set();
const wss = new WebSocketServer({ host, port });

wss.on('connection', (socket, request) => {
  socket.on('error', () => {});
  if (request.url === '/broadcast') {
    subscribers.add(socket);
    socket.on('close', () => subscribers.delete(socket));
    socket.on('message', (data, isBinary) => {
      for (const peer of subscribers) {
        if (peer.readyState === WebSocket.OPEN) peer.send(data, { binary: isBinary });
      }
    });
  } else {
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  }
});

wss.on('listening', () => {
  const { address, port: bound } = wss.address();
  process.stdout.write(`listening on ws://${address}:${bound}/\n`);
});

for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
