// switchboard.js — the browser client for a Switchboard node. An ES module, no build step.
//
//   import { Client } from '/switchboard.js';
//   const client = new Client({ process: 'chat:chat:sys', onMessage: (data) => ..., onState: (s) => ... });
//   client.start();
//   client.sendJson({ type: 'say', text: 'hi' });
//
// It registers with the node (an empty token relies on the login cookie, which a page cannot
// read), hands on every frame (text as a string, binary as an ArrayBuffer), and when the
// socket is lost it reconnects with exponential backoff and full jitter, registers again,
// and sends `resume(lastSeenId)` so the process can send what was missed. Frames sent while
// disconnected wait and go out on the new socket. Refusals that will not change (a bad
// token, an unknown process) end the client instead.
//
// A node that runs as several instances is given as several URLs (`urls`): the client opens
// to the first and, each time a socket is lost or cannot open, tries the next one round the
// list after the backoff's wait, so a dead instance is asked once per round. A URL that
// refuses for good is left out until the client registers again; a refusal by every URL
// ends the client.

/** Error codes after which trying again cannot help. */
const FATAL = new Set(['unauthorized', 'no_such_process', 'encryption_required', 'malformed_register']);

/** The node's WebSocket URL for the page's own origin. */
export function nodeUrl(loc = window.location) {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/`;
}

/** The largest message id a frame carries: its `id`, or the ids of its `messages`. */
export function idsOf(value) {
  if (!value || typeof value !== 'object') return 0;
  let max = Number.isInteger(value.id) ? value.id : 0;
  if (Array.isArray(value.messages)) {
    for (const m of value.messages) if (m && Number.isInteger(m.id) && m.id > max) max = m.id;
  }
  return max;
}

/** A random wait for attempt `n` (from 1): between 0 and min(max, initial × 2^(n-1)) ms. */
export function backoffDelay(n, { initial = 250, max = 10000 } = {}) {
  const ceiling = Math.min(max, initial * 2 ** Math.min(n - 1, 30));
  return Math.random() * ceiling;
}

/** The URL after `at` round a list of `count`, leaving out the indexes in `refused`. */
export function nextUrl(at, count, refused = new Set()) {
  for (let step = 1; step <= count; step += 1) {
    const next = (at + step) % count;
    if (!refused.has(next)) return next;
  }
  return at;
}

export class Client {
  /**
   * @param {object} o
   * @param {string} o.process          target process, `name:package:publisher`
   * @param {string} [o.url]            node URL (default: this page's node)
   * @param {string[]} [o.urls]         several URLs of one node (its instances), instead of `url`
   * @param {string} [o.token]          token; empty uses the login cookie
   * @param {{initial:number,max:number}} [o.backoff]  reconnection backoff, in ms
   * @param {(data: string|ArrayBuffer) => void} [o.onMessage]
   * @param {(state: string, detail: object) => void} [o.onState]
   *        'connecting' | 'connected' | 'disconnected' | 'reconnecting' | 'closed'
   * @param {(lastSeenId: number, reconnected: boolean) => (string|object|Array|null)} [o.resume]
   *        the frame(s) to send after each registration, to pick up what was missed
   */
  constructor(o) {
    this.process = o.process;
    this.urls = o.urls && o.urls.length ? [...o.urls] : [o.url || nodeUrl()];
    // The URL in use (or tried last), and those that refused for good since the last
    // registration.
    this.at = 0;
    this.url = this.urls[0];
    this.refused = new Set();
    this.token = o.token || '';
    this.backoff = { initial: 250, max: 10000, ...(o.backoff || {}) };
    this.onMessage = o.onMessage || (() => {});
    this.onState = o.onState || (() => {});
    this.resume = o.resume || null;
    this.state = 'idle';
    this.channelId = null;
    this.lastSeenId = 0;
    this.attempt = 0;
    this.registrations = 0;
    this.queue = [];
    this.ws = null;
    this.timer = null;
    this.closedByUs = false;
    this.held = false;
  }

  /** Opens the first connection. */
  start() {
    this.closedByUs = false;
    this.open();
    return this;
  }

  setState(state, detail = {}) {
    this.state = state;
    this.onState(state, detail);
  }

  open() {
    const url = this.urls[this.at];
    this.url = url;
    this.setState(this.registrations ? 'reconnecting' : 'connecting', { attempt: this.attempt, url });
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    let registered = false;
    let explained = null;
    ws.onopen = () => {
      ws.send(JSON.stringify({ auth_token: this.token, target_process: this.process, encrypted: false }));
    };
    ws.onmessage = (event) => {
      if (!registered) {
        const reply = parse(event.data);
        if (reply && Number.isInteger(reply.channel_id)) {
          registered = true;
          this.registered(reply.channel_id);
        } else if (reply && reply.error) {
          explained = reply.error;
        }
        return;
      }
      if (typeof event.data === 'string') {
        const value = parse(event.data);
        if (value && value.error && value.error.code && !value.type) {
          // The gateway's error frame: it comes right before a close, which it explains.
          explained = value.error;
        }
        const id = idsOf(value);
        if (id > this.lastSeenId) this.lastSeenId = id;
      }
      this.onMessage(event.data);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      const detail = { code: event.code, reason: event.reason, error: explained, url };
      if (this.closedByUs) return this.setState('closed', detail);
      if (explained && FATAL.has(explained.code)) {
        // A refusal for good ends the client once every URL has said so; a socket closed
        // for good after registering ends it at once.
        if (registered) return this.setState('closed', detail);
        this.refused.add(this.at);
        if (this.refused.size >= this.urls.length) return this.setState('closed', detail);
      }
      this.setState('disconnected', detail);
      this.scheduleReconnect();
    };
  }

  registered(channelId) {
    this.channelId = channelId;
    const reconnected = this.registrations > 0;
    this.registrations += 1;
    this.attempt = 0;
    this.refused.clear();
    this.setState('connected', { channelId, reconnected, url: this.url });
    if (this.resume) {
      const frames = [].concat(this.resume(this.lastSeenId, reconnected) ?? []);
      for (const frame of frames) this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
    }
    const waiting = this.queue;
    this.queue = [];
    for (const data of waiting) this.ws.send(data);
  }

  scheduleReconnect() {
    if (this.held || this.closedByUs) return;
    this.attempt += 1;
    this.at = nextUrl(this.at, this.urls.length, this.refused);
    const delay = backoffDelay(this.attempt, this.backoff);
    this.setState('reconnecting', { attempt: this.attempt, delay, url: this.urls[this.at] });
    this.timer = setTimeout(() => {
      this.timer = null;
      this.open();
    }, delay);
  }

  /** Sends a string, an ArrayBuffer or a typed array; waits for the connection if needed. */
  send(data) {
    if (this.ws && this.state === 'connected' && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(data);
    } else {
      this.queue.push(data);
    }
  }

  /** Sends `value` as JSON text. */
  sendJson(value) {
    this.send(JSON.stringify(value));
  }

  /** Closes for good. */
  close() {
    this.closedByUs = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
    else this.setState('closed', {});
  }

  /** Test hook: cuts the socket as a network failure would; with `hold`, reconnection waits
   *  for `release()`. */
  cut({ hold = false } = {}) {
    this.held = hold;
    if (this.ws) this.ws.close(4000, 'cut');
  }

  /** Test hook: lets a held reconnection go ahead. */
  release() {
    this.held = false;
    if (!this.ws && !this.timer && !this.closedByUs) this.scheduleReconnect();
  }
}

function parse(data) {
  if (typeof data !== 'string') return null;
  try {
    return JSON.parse(data);
  } catch {
    return null;
  }
}
