/**
 * A Switchboard process in JavaScript (Node.js, the `ws` package): connect to a node's
 * process socket and *be* a process.
 *
 * The calls mirror the Rust `process_lib`, names included, so one manual serves every
 * language: a process is an async function of its own address that loops on
 * `await_message()` and answers with `send_ws_push`, `Request` and `Response`. `run` reads
 * `SWITCHBOARD_URL` and `SWITCHBOARD_TOKEN` from the environment (a node that runs the
 * program from a `[[process]]` entry sets both):
 *
 * ```js
 * import * as sp from './switchboard-process.mjs';
 *
 * sp.run(async (our) => {
 *   for (;;) {
 *     const message = await sp.await_message();
 *     const event = message.json();
 *     if (event.WebSocketPush) {
 *       const { channel_id, message_type } = event.WebSocketPush;
 *       sp.send_ws_push(our.node, channel_id, message_type, sp.get_blob() ?? new sp.LazyLoadBlob());
 *     }
 *   }
 * });
 * ```
 *
 * - `run(process, { url, token })`: connects, runs `await process(our)` as that process and
 *   exits the program: 0 when `process` returns or on SIGTERM/SIGINT (the socket is closed
 *   with 1000), 1 when the node refuses the hello or closes the connection.
 *   `serve(process, { url, token })` is the same as a promise of `process`'s result that
 *   rejects with `Refused` / `Closed`.
 * - `await await_message()`: the next `Message` (`kind` `"Request"` or `"Response"`,
 *   `source`, `body` (a Buffer), `expects_response`, `blob`, `is_request()`, `json()`,
 *   `text()`). A request of ours with `expects_response` that the node could not deliver
 *   rejects here with `SendError` (`kind`: `Offline`, `MailboxFull`, `Timeout`).
 * - `get_blob()`: the blob (`LazyLoadBlob`: `bytes`, `mime`) of the message being handled,
 *   or `null`. `our()`: this process's `Address` (`node`, `process`).
 * - `send_ws_push(node, channel_id, message_type, blob)`: pushes a frame (`message_type`
 *   `"Text"`, `"Binary"`, `"Ping"`, `"Pong"`, `"Close"`; `blob` a `LazyLoadBlob`, Buffer,
 *   Uint8Array or string). Never waits. Throws `HttpServerError` (`kind` as process_lib
 *   names it) for what is known at once: a text frame that is not UTF-8
 *   (`MalformedRequest`), a ping over 125 bytes (`WsPingPongTooLong`), a channel the node
 *   refused before (`SlowConsumer` once, then `WsChannelNotFound`), or a socket too far
 *   behind (`SlowConsumer`). `send_ws_push_many(node, channel_ids, message_type, blob)`
 *   returns the `[channel_id, kind]` pairs refused at once. `close_ws_channel(id)`.
 * - `Request.to(address).body(b).blob(blob).expects_response(secs).send()`;
 *   `await Request.to(address).body(b).send_and_await_response(secs)` resolves to the
 *   answer's `Message` (other messages wait for `await_message`) or rejects with
 *   `SendError`. `new Response().body(b).blob(blob).send()` answers the current request.
 * - `await bind_ws_path(path, authenticated = true)`, `unbind_ws_path`, `bind_http_path`,
 *   `unbind_http_path`.
 *
 * The wire is the README's "Processes outside the node": a JSON text frame per message,
 * followed by one binary frame with the blob's bytes when the header has a `blob` field.
 * The pure helpers (`encode_body`, `decode_body`, `push_header`, `send_header`, `Framing`)
 * hold no socket.
 */

import WebSocket from 'ws';

/** Messages that may wait for the process; past this the socket is paused. */
const MAILBOX = 4096;
/** Bytes that may wait to be written; past this a send fails at once. */
const OUTBOX_BYTES = 16 << 20;
const BIND_TIMEOUT = 5;
const HTTP_SERVER = 'http-server:distro:sys';
const MESSAGE_TYPES = new Set(['Text', 'Binary', 'Ping', 'Pong', 'Close']);
const utf8 = new TextDecoder('utf-8', { fatal: true });

// ------------------------------------------------------------------------------ types

/** `node@name:package:publisher`. */
export class Address {
  constructor(node, process) {
    this.node = node;
    this.process = process;
  }

  static parse(text) {
    const at = text.indexOf('@');
    const process = text.slice(at + 1);
    if (at <= 0 || process.split(':').length !== 3) {
      throw new TypeError(`not an address (node@name:package:publisher): ${JSON.stringify(text)}`);
    }
    return new Address(text.slice(0, at), process);
  }

  toString() {
    return `${this.node}@${this.process}`;
  }
}

/** A message's payload: its bytes and, when known, its MIME type. */
export class LazyLoadBlob {
  constructor(bytes = Buffer.alloc(0), mime = null) {
    this.bytes = toBuffer(bytes);
    this.mime = mime;
  }
}

/** A message as `await_message` returns it. */
export class Message {
  constructor(kind, source, body, expects_response = null, blob = null) {
    this.kind = kind;
    this.source = source;
    this.body = body;
    this.expects_response = expects_response;
    this.blob = blob;
  }

  is_request() {
    return this.kind === 'Request';
  }

  text() {
    return this.body.toString('utf-8');
  }

  json() {
    return JSON.parse(this.text());
  }
}

/** A message that was not delivered (or not answered in time), handed back. */
export class SendError extends Error {
  constructor(kind, target, body, blob) {
    super(`message to ${target} not delivered: ${kind}`);
    this.kind = kind;
    this.target = target;
    this.body = body;
    this.blob = blob;
  }
}

/** http-server refused an action; `kind` is process_lib's name for why. */
export class HttpServerError extends Error {
  constructor(kind) {
    super(kind);
    this.kind = kind;
  }
}

/** The process could not run, or stopped running, over the socket. */
export class RemoteError extends Error {}

/** The node refused the hello: its error code and sentence, and the close code. */
export class Refused extends RemoteError {
  constructor(code, message, close_code) {
    super(`the node refused: ${code}: ${message}`);
    this.code = code;
    this.reason = message;
    this.close_code = close_code;
  }
}

/** The connection ended while the process ran. */
export class Closed extends RemoteError {
  constructor(code, reason) {
    super(`the connection to the node closed (${code}): ${reason}`);
    this.code = code;
    this.reason = reason;
  }
}

// ------------------------------------------------------------------------------ the wire

function toBuffer(data) {
  if (Buffer.isBuffer(data)) return data;
  if (typeof data === 'string') return Buffer.from(data, 'utf-8');
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError('bytes must be a Buffer, a Uint8Array, an ArrayBuffer or a string');
}

function toBlob(blob) {
  if (blob === null || blob === undefined) return null;
  return blob instanceof LazyLoadBlob ? blob : new LazyLoadBlob(blob);
}

function isUtf8(bytes) {
  try {
    utf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** A body as the wire carries it: a string when UTF-8, else an array of byte values. */
export function encode_body(body) {
  const bytes = toBuffer(body);
  return isUtf8(bytes) ? bytes.toString('utf-8') : Array.from(bytes);
}

/** The bytes of a body read from the wire. */
export function decode_body(body) {
  return typeof body === 'string' ? Buffer.from(body, 'utf-8') : Buffer.from(body ?? []);
}

function blobHeader(blob) {
  return blob === null ? null : { mime: blob.mime ?? null };
}

/** The header of a push (one channel id) or a push-to-many (an array of them). */
export function push_header(call, node, channel_ids, message_type, blob) {
  const many = Array.isArray(channel_ids);
  const fields = {};
  if (call !== null && call !== undefined) fields.call = call;
  fields.node = node;
  if (many) fields.channel_ids = channel_ids;
  else fields.channel_id = channel_ids;
  fields.message_type = message_type;
  fields.blob = blobHeader(blob);
  return JSON.stringify(many ? { PushMany: fields } : { Push: fields });
}

/** The header of a request or response (`message` is `{Request:…}` or `{Response:…}`). */
export function send_header(id, target, message, blob, rsvp = null) {
  return JSON.stringify({
    Send: {
      id,
      target: String(target),
      rsvp: rsvp === null ? null : String(rsvp),
      message,
      blob: blobHeader(blob),
    },
  });
}

/**
 * Pairs the node's headers with the binary frames that follow them: `feed(data, isBinary)`
 * returns the header a frame completes (a `Message`'s blob bytes put in as `blob_bytes`),
 * or `null` while a blob is awaited or when the frame is dropped (logged).
 */
export class Framing {
  constructor(warn = (text) => console.error(`switchboard-process: ${text}`)) {
    this.waiting = null;
    this.warn = warn;
  }

  feed(data, isBinary) {
    if (!isBinary) {
      if (this.waiting !== null) {
        this.warn(`a message's blob did not follow it (id ${this.waiting.Message.id})`);
        this.waiting = null;
      }
      let header;
      try {
        header = JSON.parse(data.toString('utf-8'));
      } catch {
        this.warn(`the node sent a header that is not JSON: ${String(data).slice(0, 200)}`);
        return null;
      }
      if (header === null || typeof header !== 'object' || Object.keys(header).length !== 1) {
        this.warn(`the node sent a header of an unknown shape: ${String(data).slice(0, 200)}`);
        return null;
      }
      if (header.Message && header.Message.blob) {
        this.waiting = header;
        return null;
      }
      return header;
    }
    if (this.waiting === null) {
      this.warn('the node sent a blob with no header before it');
      return null;
    }
    const header = this.waiting;
    this.waiting = null;
    header.Message.blob_bytes = toBuffer(data);
    return header;
  }
}

function knownRefusal(message_type, blob) {
  if (!MESSAGE_TYPES.has(message_type)) return 'MalformedRequest';
  if ((message_type === 'Ping' || message_type === 'Pong') && blob.bytes.length > 125) {
    return 'WsPingPongTooLong';
  }
  if (message_type === 'Text' && !isUtf8(blob.bytes)) return 'MalformedRequest';
  return null;
}

// ------------------------------------------------------------------------------ the process

class Process {
  constructor(our, ws) {
    this.our = our;
    this.ws = ws;
    this.mailbox = [];
    this.receiver = null;
    this.pending = new Map();
    this.refused = new Map();
    this.current = null;
    this.nextId = 1;
    this.nextCall = 1;
    this.closed = null;
    this.paused = false;
  }

  queue(header, blob) {
    if (this.closed !== null || this.ws.bufferedAmount > OUTBOX_BYTES) return false;
    this.ws.send(header);
    if (blob !== null) this.ws.send(blob.bytes);
    return true;
  }

  refusal(node, channel_id, message_type, blob) {
    const known = knownRefusal(message_type, blob);
    if (known !== null || node !== this.our.node) return known;
    const kind = this.refused.get(channel_id) ?? null;
    // The node closed a slow consumer's channel: from now on it is not found.
    if (kind === 'SlowConsumer') this.refused.set(channel_id, 'WsChannelNotFound');
    return kind;
  }

  /** Turns a delivered message into what the author sees, remembering it as current. */
  accept(envelope) {
    const source = Address.parse(envelope.source);
    const [kind, fields] = Object.entries(envelope.message)[0];
    const body = decode_body(fields.body);
    const blob = envelope.blob
      ? new LazyLoadBlob(envelope.blob_bytes ?? Buffer.alloc(0), envelope.blob.mime ?? null)
      : null;
    let reply_to = null;
    if (kind === 'Request' && fields.expects_response !== null && fields.expects_response !== undefined) {
      reply_to = envelope.rsvp ? Address.parse(envelope.rsvp) : source;
    }
    this.current = { id: envelope.id, reply_to, blob };
    if (kind === 'Bounce') throw new SendError(fields.kind, source, body, blob);
    return new Message(kind, source, body, fields.expects_response ?? null, blob);
  }

  deliver(envelope) {
    if (this.receiver !== null) {
      const receive = this.receiver;
      this.receiver = null;
      receive(envelope);
      return;
    }
    this.mailbox.push(envelope);
    if (this.mailbox.length >= MAILBOX && !this.paused) {
      this.paused = true;
      this.ws.pause();
    }
  }

  next() {
    if (this.mailbox.length > 0) {
      const envelope = this.mailbox.shift();
      if (this.paused && this.mailbox.length < MAILBOX / 2) {
        this.paused = false;
        this.ws.resume();
      }
      return Promise.resolve(envelope);
    }
    return new Promise((resolve) => {
      this.receiver = resolve;
    });
  }

  dispatch(header) {
    const [kind, fields] = Object.entries(header)[0];
    switch (kind) {
      case 'Message': {
        const answer = !('Request' in fields.message);
        const waiter = answer ? this.pending.get(fields.id) : undefined;
        if (waiter !== undefined) {
          this.pending.delete(fields.id);
          waiter.resolve(fields);
        } else {
          this.deliver(fields);
        }
        break;
      }
      case 'PushRefused':
        for (const [channel_id, why] of fields.failed ?? []) {
          if (fields.call !== null && fields.call !== undefined) this.refused.set(channel_id, why);
          else console.error(`switchboard-process: a push to channel ${channel_id} on another node was refused: ${why}`);
        }
        break;
      case 'Undelivered':
        console.error(`switchboard-process: message ${fields.id} to ${fields.target} was not delivered: ${fields.kind}`);
        break;
      case 'error':
        console.error(`switchboard-process: the node says: ${fields.code}: ${fields.message}`);
        break;
      default:
        console.error(`switchboard-process: the node sent a header this SDK does not know: ${kind}`);
    }
  }
}

let current = null;

function context() {
  if (current === null) {
    throw new Error('no process is running: call these inside the function given to run()');
  }
  return current;
}

// ------------------------------------------------------------------------------ the API

/** This process's address. */
export function our() {
  return context().our;
}

/** The blob of the message being handled (the last one `await_message` returned). */
export function get_blob() {
  return context().current?.blob ?? null;
}

/** The next message; rejects with `SendError` for a request of ours that bounced. */
export async function await_message() {
  const process = context();
  return process.accept(await process.next());
}

/** Pushes a frame to WebSocket channel `channel_id` on `node` (usually `our().node`). */
export function send_ws_push(node, channel_id, message_type, blob) {
  const process = context();
  const payload = toBlob(blob) ?? new LazyLoadBlob();
  const kind = process.refusal(node, channel_id, message_type, payload);
  if (kind !== null) throw new HttpServerError(kind);
  const call = node === process.our.node ? process.nextCall++ : null;
  if (!process.queue(push_header(call, node, channel_id, message_type, payload), payload)) {
    throw new HttpServerError(process.closed === null ? 'SlowConsumer' : 'WsChannelNotFound');
  }
}

/** Pushes one frame to every channel in `channel_ids`; returns `[channel_id, kind]` for
 * each refused at once (empty when every push went out). */
export function send_ws_push_many(node, channel_ids, message_type, blob) {
  const process = context();
  const payload = toBlob(blob) ?? new LazyLoadBlob();
  const failed = [];
  const sending = [];
  for (const id of channel_ids) {
    const kind = process.refusal(node, id, message_type, payload);
    if (kind === null) sending.push(id);
    else failed.push([id, kind]);
  }
  if (sending.length > 0) {
    const call = node === process.our.node ? process.nextCall++ : null;
    if (!process.queue(push_header(call, node, sending, message_type, payload), payload)) {
      const kind = process.closed === null ? 'SlowConsumer' : 'WsChannelNotFound';
      for (const id of sending) failed.push([id, kind]);
    }
  }
  return failed;
}

/** Closes a channel this process owns on this node. */
export function close_ws_channel(channel_id) {
  send_ws_push(our().node, channel_id, 'Close', new LazyLoadBlob());
}

/** A request under construction: `Request.to(address).body(b).send()`. */
export class Request {
  constructor() {
    this._target = null;
    this._body = Buffer.alloc(0);
    this._blob = null;
    this._expects_response = null;
  }

  static to(target) {
    return new Request().target(target);
  }

  target(target) {
    this._target = target instanceof Address ? target : Address.parse(String(target));
    return this;
  }

  body(body) {
    this._body = toBuffer(body);
    return this;
  }

  blob(blob) {
    this._blob = toBlob(blob);
    return this;
  }

  /** The answer arrives through `await_message` (or a `SendError` on timeout). */
  expects_response(timeout_secs) {
    this._expects_response = timeout_secs;
    return this;
  }

  _send(process, id) {
    if (this._target === null) throw new TypeError('the request has no target');
    const message = {
      Request: { expects_response: this._expects_response, body: encode_body(this._body) },
    };
    if (!process.queue(send_header(id, this._target, message, this._blob), this._blob)) {
      const kind = process.closed === null ? 'MailboxFull' : 'Offline';
      throw new SendError(kind, this._target, this._body, this._blob);
    }
  }

  /** Sends the request without waiting. */
  send() {
    const process = context();
    this._send(process, process.nextId++);
  }

  /** Sends the request and waits up to `timeout_secs` for its answer. */
  async send_and_await_response(timeout_secs) {
    const process = context();
    this._expects_response = timeout_secs;
    const id = process.nextId++;
    let timer;
    const answer = new Promise((resolve, reject) => {
      process.pending.set(id, { resolve, reject });
      timer = setTimeout(() => {
        process.pending.delete(id);
        reject(new SendError('Timeout', this._target, this._body, this._blob));
      }, timeout_secs * 1000);
    });
    try {
      this._send(process, id);
      return process.accept(await answer);
    } finally {
      clearTimeout(timer);
      process.pending.delete(id);
    }
  }
}

/** An answer to the request being handled: `new Response().body(b).send()`. */
export class Response {
  constructor() {
    this._body = Buffer.alloc(0);
    this._blob = null;
  }

  body(body) {
    this._body = toBuffer(body);
    return this;
  }

  blob(blob) {
    this._blob = toBlob(blob);
    return this;
  }

  /** Sends the response to whoever waits for the current request's answer. */
  send() {
    const process = context();
    const answering = process.current;
    if (answering === null || answering.reply_to === null) {
      throw new Error('there is no request to respond to');
    }
    const message = { Response: { body: encode_body(this._body) } };
    const header = send_header(answering.id, answering.reply_to, message, this._blob);
    if (!process.queue(header, this._blob)) {
      const kind = process.closed === null ? 'MailboxFull' : 'Offline';
      throw new SendError(kind, answering.reply_to, this._body, this._blob);
    }
  }
}

async function askHttpServer(action) {
  const target = new Address(our().node, HTTP_SERVER);
  const answer = await Request.to(target).body(JSON.stringify(action)).send_and_await_response(BIND_TIMEOUT);
  const result = answer.json();
  if (result && typeof result === 'object' && 'Err' in result) throw new HttpServerError(result.Err);
}

/** Accepts WebSocket clients on `/<our process id><path>`, with no register frame. */
export function bind_ws_path(path, authenticated = true) {
  return askHttpServer({ WebSocketBind: { path, authenticated } });
}

/** Stops accepting new WebSocket clients on a path; open channels stay. */
export function unbind_ws_path(path) {
  return askHttpServer({ WebSocketUnbind: { path } });
}

/** Serves HTTP on `/<our process id><path>`: requests arrive as `{"Http":…}`. */
export function bind_http_path(path, authenticated = true) {
  return askHttpServer({ Bind: { path, authenticated } });
}

/** Stops serving HTTP on a path. */
export function unbind_http_path(path) {
  return askHttpServer({ Unbind: { path } });
}

// ------------------------------------------------------------------------------ running

/**
 * Opens the socket, says hello, and resolves to our address once the node registers us;
 * every frame after the answer goes to `onFrame`, from the same tick on, so none is missed.
 */
function connect(url, token, onFrame) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 0 });
    let refusal = null;
    let registered = false;
    ws.on('open', () => ws.send(JSON.stringify({ auth_token: token })));
    ws.on('error', (error) => {
      if (!registered) reject(new RemoteError(`cannot connect to the node at ${url}: ${error.message}`));
    });
    ws.once('message', (data, isBinary) => {
      let answer = null;
      try {
        answer = isBinary ? null : JSON.parse(data.toString('utf-8'));
      } catch {
        answer = null;
      }
      if (answer?.Registered) {
        registered = true;
        ws.on('message', onFrame);
        resolve({ ws, our: Address.parse(answer.Registered.our) });
      } else if (answer?.error) {
        refusal = answer.error;
      } else {
        reject(new RemoteError(`the node's answer is not understood: ${String(data).slice(0, 200)}`));
        ws.terminate();
      }
    });
    ws.on('close', (code, reason) => {
      if (registered) return;
      if (refusal !== null) reject(new Refused(refusal.code, refusal.message, code));
      else reject(new Closed(code, reason.toString() || 'the socket ended before the node answered'));
    });
  });
}

/**
 * Runs `process(our)` as the process the token names, until it returns (its result) or the
 * connection ends (rejects with `Closed`).
 */
export async function serve(process, { url, token } = {}) {
  url = url ?? globalThis.process.env.SWITCHBOARD_URL ?? 'ws://127.0.0.1:8080/process';
  token = token ?? globalThis.process.env.SWITCHBOARD_TOKEN ?? '';
  const early = [];
  let onFrame = (data, isBinary) => early.push([data, isBinary]);
  const { ws, our: address } = await connect(url, token, (data, isBinary) => onFrame(data, isBinary));
  const state = new Process(address, ws);
  current = state;
  const framing = new Framing();
  onFrame = (data, isBinary) => {
    const header = framing.feed(data, isBinary);
    if (header !== null) state.dispatch(header);
  };
  for (const [data, isBinary] of early.splice(0)) onFrame(data, isBinary);
  const closed = new Promise((resolve) => {
    ws.on('close', (code, reason) => {
      const error = new Closed(code, reason.toString() || 'the socket ended');
      state.closed = error;
      for (const waiter of state.pending.values()) waiter.reject(error);
      state.pending.clear();
      resolve(error);
    });
  });
  try {
    const ended = await Promise.race([
      Promise.resolve(process(address)).then((value) => ({ value })),
      closed.then((error) => ({ error })),
    ]);
    if ('error' in ended) throw ended.error;
    ws.close(1000, 'the process returned');
    return ended.value;
  } finally {
    current = null;
  }
}

/**
 * Runs `process` with `serve` and exits: 0 when it returned or SIGTERM/SIGINT came, 1 (with
 * the reason on stderr) when the node refused or closed the connection.
 */
export function run(process, options = {}) {
  const stop = () => {
    const ws = current?.ws;
    if (!ws) globalThis.process.exit(0);
    ws.once('close', () => globalThis.process.exit(0));
    ws.close(1000, 'the program was asked to stop');
    setTimeout(() => globalThis.process.exit(0), 2000).unref();
  };
  globalThis.process.once('SIGTERM', stop);
  globalThis.process.once('SIGINT', stop);
  serve(process, options).then(
    () => globalThis.process.exit(0),
    (error) => {
      console.error(`switchboard-process: ${error instanceof RemoteError ? error.message : error.stack}`);
      globalThis.process.exit(1);
    },
  );
}
