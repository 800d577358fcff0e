// The chat page's logic: a Client from switchboard.js registered to chat:chat:sys, speaking
// the chat's JSON mode, rendering its events, and resuming from the last message it showed.
import { Client } from '/switchboard.js';

const log = document.getElementById('log');
const me = document.getElementById('me');
const statusBadge = document.getElementById('status');
const form = document.getElementById('form');
const input = document.getElementById('input');

let myName = null;
// The name this page chose with /name, asked for again after a reconnect.
let chosenName = null;
let lastShown = 0;

function add(kind, parts) {
  const item = document.createElement('li');
  item.className = kind;
  for (const [cls, text] of parts) {
    const span = document.createElement('span');
    if (cls) span.className = cls;
    span.textContent = text;
    item.append(span);
  }
  const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.append(item);
  if (atBottom) log.scrollTop = log.scrollHeight;
  return item;
}

function time(ts) {
  return new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function people(n) {
  return n === 1 ? '1 person' : `${n} people`;
}

function showMessage(m) {
  if (!Number.isInteger(m.id) || m.id <= lastShown) return;
  lastShown = m.id;
  // A message relayed from the chat on another node names that node.
  const from = m.node ? `${m.from}@${m.node}` : m.from;
  const item = add('message', [['time', time(m.ts)], ['from', `[${from}]`], [null, `: ${m.text}`]]);
  item.dataset.id = String(m.id);
}

function render(event) {
  switch (event.type) {
    case 'hello':
      myName = event.name;
      me.textContent = myName;
      add('notice', [[null, `You are ${event.name}; ${people(event.online.length)} here: ${event.online.join(', ')}`]]);
      break;
    case 'message':
      showMessage(event);
      break;
    case 'history':
      event.messages.forEach(showMessage);
      break;
    case 'whisper': {
      const outgoing = event.from === myName && event.to !== myName;
      const label = outgoing ? `[whisper to ${event.to}]` : `[whisper from ${event.from}]`;
      add('whisper', [['time', time(event.ts)], ['from', label], [null, `: ${event.text}`]]);
      break;
    }
    case 'join':
      add('notice', [[null, `* ${event.name} joined; ${people(event.online)} here`]]);
      break;
    case 'leave':
      add('notice', [[null, `* ${event.name} left; ${people(event.online)} here`]]);
      break;
    case 'rename':
      if (event.from === myName) {
        myName = event.to;
        chosenName = event.to;
        me.textContent = myName;
      }
      add('notice', [[null, `* ${event.from} is now ${event.to}`]]);
      break;
    case 'who':
      add('notice', [[null, `${people(event.names.length)} here: ${event.names.join(', ')}`]]);
      break;
    case 'help':
      add('help', [[null, (event.unknown ? `Unknown command ${event.unknown}.\n` : '') + event.text]]);
      break;
    case 'error':
      add('error', [[null, `error: ${event.message}`]]);
      break;
  }
}

function showState(state, detail) {
  statusBadge.className = state;
  const labels = {
    connecting: 'connecting…',
    connected: 'connected',
    disconnected: 'disconnected',
    reconnecting: detail.delay != null ? `reconnecting in ${(detail.delay / 1000).toFixed(1)} s` : 'reconnecting…',
    closed: 'closed',
  };
  statusBadge.textContent = labels[state] || state;
  if (state === 'disconnected') {
    const why = detail.error ? detail.error.message : 'the connection was lost';
    add('notice', [[null, `* ${why}; reconnecting`]]);
  }
  if (state === 'closed' && detail.error) {
    add('error', [[null, `error: ${detail.error.message}`]]);
    if (detail.error.code === 'unauthorized') window.location.assign('/login?next=/chat');
  }
}

const client = new Client({
  process: 'chat:chat:sys',
  onMessage(data) {
    if (typeof data !== 'string') return;
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      return; // plain text comes only before the switch to JSON, and is repeated as events
    }
    render(event);
  },
  onState: showState,
  // The last 20 at first; after a reconnect, the name chosen before and every message
  // after the last one shown.
  resume(lastSeenId, reconnected) {
    if (!reconnected) return { type: 'history' };
    const frames = [];
    if (chosenName) frames.push({ type: 'name', name: chosenName });
    frames.push({ type: 'history', since: Math.max(lastSeenId, lastShown) });
    return frames;
  },
}).start();

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = input.value;
  if (!text.trim()) return;
  client.sendJson({ type: 'say', text });
  input.value = '';
});

// For tests and for people poking at the page from the console.
window.chat = { client, log };
