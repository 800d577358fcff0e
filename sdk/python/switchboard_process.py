"""A Switchboard process in Python: connect to a node's process socket and *be* a process.

The calls mirror the Rust ``process_lib``: a process is an async function of its own
address that loops on ``await_message()`` and answers with ``send_ws_push``, ``Request``
and ``Response``. Run it with ``run``, which reads ``SWITCHBOARD_URL`` and
``SWITCHBOARD_TOKEN`` from the environment (a node that runs the program from a
``[[process]]`` entry sets both)::

    import json
    import switchboard_process as sp

    async def echo(our):
        while True:
            message = await sp.await_message()
            event = json.loads(message.body)
            if "WebSocketPush" in event:
                push = event["WebSocketPush"]
                blob = sp.get_blob() or sp.LazyLoadBlob(b"")
                sp.send_ws_push(our.node, push["channel_id"], push["message_type"], blob)

    sp.run(echo)

What there is:

- ``run(process, url=None, token=None)``: connects, runs ``await process(our)`` as that
  process, and exits the program: 0 when ``process`` returns or on SIGTERM/SIGINT (the
  socket is closed with 1000), 1 when the node closes the connection or refuses the hello.
  ``serve(process, url, token)`` is the same as a coroutine that returns ``process``'s
  result or raises ``Refused`` / ``Closed``.
- ``await await_message()``: the next ``Message`` (``.kind`` is ``"Request"`` or
  ``"Response"``; ``.source``, ``.body`` (bytes), ``.expects_response``, ``.blob``,
  ``.is_request()``, ``.json()``). A request this process sent with ``expects_response``
  that the node could not deliver raises ``SendError`` (``.kind``: ``"Offline"``,
  ``"MailboxFull"``, ``"Timeout"``) here, as in Rust.
- ``get_blob()``: the blob (``LazyLoadBlob``: ``.bytes``, ``.mime``) of the message being
  handled, or ``None``. ``our()``: this process's ``Address`` (``.node``, ``.process``).
- ``send_ws_push(node, channel_id, message_type, blob)``: pushes a frame (``message_type``
  ``"Text"``, ``"Binary"``, ``"Ping"``, ``"Pong"`` or ``"Close"``; ``blob`` a
  ``LazyLoadBlob``, bytes or str). Never waits: the frame is queued for the socket and the
  call returns. It raises ``HttpServerError`` (``.kind`` as process_lib names it) for what
  is known at once: a text frame that is not UTF-8 (``MalformedRequest``), a ping over 125
  bytes (``WsPingPongTooLong``), a channel the node refused before (``SlowConsumer`` once,
  then ``WsChannelNotFound``), or a full outbox (``SlowConsumer``). The node's refusal of a
  push comes back later and is raised by the next push to that channel.
  ``send_ws_push_many(node, channel_ids, message_type, blob)`` pushes one frame to many
  channels and returns the ``(channel_id, kind)`` pairs refused at once.
  ``close_ws_channel(channel_id)`` closes a channel.
- ``Request.to(address).body(b).blob(blob).expects_response(secs).send()`` sends a request
  and returns at once; ``await Request.to(address).body(b).send_and_await_response(secs)``
  returns the answer's ``Message`` (other messages wait for ``await_message``) or raises
  ``SendError``. ``Response().body(b).blob(blob).send()`` answers the request being handled.
  Bodies are bytes (a str is encoded as UTF-8).
- ``await bind_ws_path(path, authenticated=True)``, ``unbind_ws_path``,
  ``bind_http_path``, ``unbind_http_path``: bind paths, as in process_lib; a refusal raises
  ``HttpServerError``.

The wire (the README's "Processes outside the node" has it in full): every message is a
JSON text frame, the header, followed by one binary frame with the blob's bytes when the
header has a ``blob`` field. The pure helpers that write and read it (``encode_body``,
``decode_body``, ``push_header``, ``send_header``, ``Framing``) carry no socket and are
tested on their own.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import signal
import sys
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Optional, Union

__all__ = [
    "Address",
    "Closed",
    "Framing",
    "HttpServerError",
    "LazyLoadBlob",
    "Message",
    "Refused",
    "RemoteError",
    "Request",
    "Response",
    "SendError",
    "await_message",
    "bind_http_path",
    "bind_ws_path",
    "close_ws_channel",
    "decode_body",
    "encode_body",
    "get_blob",
    "our",
    "push_header",
    "run",
    "send_header",
    "send_ws_push",
    "send_ws_push_many",
    "serve",
    "unbind_http_path",
    "unbind_ws_path",
]

log = logging.getLogger("switchboard_process")

# Messages that may wait for the process to read them; past this the reader stops reading
# the socket and the node's side of the mailbox fills.
MAILBOX = 4096
# Frames that may wait for the socket; past this a send fails at once.
OUTBOX = 16 * 1024
# How long a bind waits for http-server's answer, in seconds.
BIND_TIMEOUT = 5
HTTP_SERVER = "http-server:distro:sys"
MESSAGE_TYPES = ("Text", "Binary", "Ping", "Pong", "Close")

Bytes = Union[bytes, bytearray, memoryview, str]


# ----------------------------------------------------------------------------- types


@dataclass(frozen=True)
class Address:
    """``node@name:package:publisher``."""

    node: str
    process: str

    @classmethod
    def parse(cls, text: str) -> "Address":
        node, sep, process = text.partition("@")
        if not sep or not node or process.count(":") != 2:
            raise ValueError(f"not an address (node@name:package:publisher): {text!r}")
        return cls(node, process)

    def __str__(self) -> str:
        return f"{self.node}@{self.process}"


@dataclass
class LazyLoadBlob:
    """A message's payload: its bytes and, when known, its MIME type."""

    bytes: bytes = b""
    mime: Optional[str] = None


@dataclass
class Message:
    """A message as ``await_message`` returns it."""

    kind: str  # "Request" or "Response"
    source: Address
    body: bytes
    expects_response: Optional[int] = None
    blob: Optional[LazyLoadBlob] = None

    def is_request(self) -> bool:
        return self.kind == "Request"

    def json(self) -> Any:
        """The body read as JSON."""
        return json.loads(self.body)


class SendError(Exception):
    """A message that was not delivered (or not answered in time), handed back."""

    def __init__(self, kind: str, target: Address, body: bytes, blob: Optional[LazyLoadBlob]):
        super().__init__(f"message to {target} not delivered: {kind}")
        self.kind = kind
        self.target = target
        self.body = body
        self.blob = blob


class HttpServerError(Exception):
    """http-server refused an action; ``kind`` is process_lib's name for why."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


class RemoteError(Exception):
    """The process could not run, or stopped running, over the socket."""


class Refused(RemoteError):
    """The node refused the hello: its error code and sentence, and the close code."""

    def __init__(self, code: str, message: str, close_code: Optional[int]):
        super().__init__(f"the node refused: {code}: {message}")
        self.code = code
        self.message = message
        self.close_code = close_code


class Closed(RemoteError):
    """The connection ended while the process ran."""

    def __init__(self, code: Optional[int], reason: str):
        super().__init__(f"the connection to the node closed ({code}): {reason}")
        self.code = code
        self.reason = reason


# ----------------------------------------------------------------------------- the wire


def encode_body(body: Bytes) -> Union[str, list]:
    """A body as the wire carries it: a JSON string when UTF-8, else a list of byte values."""
    data = _bytes(body)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return list(data)


def decode_body(body: Union[str, list]) -> bytes:
    """The bytes of a body read from the wire."""
    if isinstance(body, str):
        return body.encode("utf-8")
    return bytes(body)


def _bytes(data: Bytes) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8")
    return bytes(data)


def _blob(blob: Union[LazyLoadBlob, Bytes, None]) -> Optional[LazyLoadBlob]:
    if blob is None or isinstance(blob, LazyLoadBlob):
        return blob
    return LazyLoadBlob(_bytes(blob))


def _blob_header(blob: Optional[LazyLoadBlob]) -> Optional[dict]:
    return None if blob is None else {"mime": blob.mime}


def push_header(
    call: Optional[int], node: str, channel_ids: Union[int, list], message_type: str, blob: LazyLoadBlob
) -> str:
    """The header of a push (one channel id) or a push-to-many (a list of them)."""
    if isinstance(channel_ids, int):
        fields = {"node": node, "channel_id": channel_ids}
        kind = "Push"
    else:
        fields = {"node": node, "channel_ids": list(channel_ids)}
        kind = "PushMany"
    if call is not None:
        fields = {"call": call, **fields}
    fields["message_type"] = message_type
    fields["blob"] = _blob_header(blob)
    return json.dumps({kind: fields}, separators=(",", ":"))


def send_header(
    id: int, target: Address, message: dict, blob: Optional[LazyLoadBlob], rsvp: Optional[Address] = None
) -> str:
    """The header of a request or response (``message`` is ``{"Request":…}`` or ``{"Response":…}``)."""
    return json.dumps(
        {
            "Send": {
                "id": id,
                "target": str(target),
                "rsvp": None if rsvp is None else str(rsvp),
                "message": message,
                "blob": _blob_header(blob),
            }
        },
        separators=(",", ":"),
    )


class Framing:
    """Pairs the node's headers with the binary frames that follow them.

    ``feed(frame)`` takes one frame (str for text, bytes for binary) and returns the header
    it completes (a dict, with a ``Message``'s blob bytes put in as ``"blob_bytes"``), or
    ``None`` while a blob is awaited or when the frame is dropped (logged).
    """

    def __init__(self) -> None:
        self.waiting: Optional[dict] = None

    def feed(self, frame: Union[str, bytes]) -> Optional[dict]:
        if isinstance(frame, str):
            if self.waiting is not None:
                log.warning("a message's blob did not follow it (id %s)", self.waiting.get("id"))
                self.waiting = None
            try:
                header = json.loads(frame)
            except ValueError:
                log.warning("the node sent a header that is not JSON: %.200s", frame)
                return None
            if not isinstance(header, dict) or len(header) != 1:
                log.warning("the node sent a header of an unknown shape: %.200s", frame)
                return None
            envelope = header.get("Message")
            if isinstance(envelope, dict) and envelope.get("blob") is not None:
                self.waiting = header
                return None
            return header
        if self.waiting is None:
            log.warning("the node sent a blob with no header before it")
            return None
        header, self.waiting = self.waiting, None
        header["Message"]["blob_bytes"] = bytes(frame)
        return header


def _known_refusal(message_type: str, blob: LazyLoadBlob) -> Optional[str]:
    if message_type not in MESSAGE_TYPES:
        return "MalformedRequest"
    if message_type in ("Ping", "Pong") and len(blob.bytes) > 125:
        return "WsPingPongTooLong"
    if message_type == "Text":
        try:
            blob.bytes.decode("utf-8")
        except UnicodeDecodeError:
            return "MalformedRequest"
    return None


# ----------------------------------------------------------------------------- the process


@dataclass
class _Current:
    id: int
    reply_to: Optional[Address]
    blob: Optional[LazyLoadBlob]


@dataclass
class _Process:
    our: Address
    ws: Any
    mailbox: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(MAILBOX))
    outbox: collections.deque = field(default_factory=collections.deque)
    wake_writer: asyncio.Event = field(default_factory=asyncio.Event)
    pending: dict = field(default_factory=dict)
    refused: dict = field(default_factory=dict)
    current: Optional[_Current] = None
    next_id: int = 1
    next_call: int = 1
    closed: Optional[Closed] = None

    def queue(self, header: str, blob: Optional[LazyLoadBlob]) -> bool:
        if len(self.outbox) >= OUTBOX or self.closed is not None:
            return False
        self.outbox.append(header)
        if blob is not None:
            self.outbox.append(blob.bytes)
        self.wake_writer.set()
        return True

    def take_id(self) -> int:
        id, self.next_id = self.next_id, self.next_id + 1
        return id

    def take_call(self) -> int:
        call, self.next_call = self.next_call, self.next_call + 1
        return call

    def refusal(self, node: str, channel_id: int, message_type: str, blob: LazyLoadBlob) -> Optional[str]:
        known = _known_refusal(message_type, blob)
        if known is not None or node != self.our.node:
            return known
        kind = self.refused.get(channel_id)
        if kind == "SlowConsumer":
            # The node closed that channel: from now on it is not found.
            self.refused[channel_id] = "WsChannelNotFound"
        return kind

    def accept(self, envelope: dict) -> Message:
        """Turns a delivered message into what the author sees, remembering it as current."""
        source = Address.parse(envelope["source"])
        kind, fields = next(iter(envelope["message"].items()))
        body = decode_body(fields.get("body", ""))
        blob = None
        if envelope.get("blob") is not None:
            blob = LazyLoadBlob(envelope.get("blob_bytes", b""), envelope["blob"].get("mime"))
        reply_to = None
        if kind == "Request" and fields.get("expects_response") is not None:
            rsvp = envelope.get("rsvp")
            reply_to = Address.parse(rsvp) if rsvp else source
        self.current = _Current(envelope["id"], reply_to, blob)
        if kind == "Bounce":
            raise SendError(fields["kind"], source, body, blob)
        return Message(kind, source, body, fields.get("expects_response"), blob)

    async def write_loop(self) -> None:
        ws = self.ws
        while True:
            await self.wake_writer.wait()
            self.wake_writer.clear()
            while self.outbox:
                await ws.send(self.outbox.popleft())

    async def read_loop(self) -> None:
        framing = Framing()
        async for frame in self.ws:
            header = framing.feed(frame)
            if header is None:
                continue
            await self.dispatch(header)

    async def dispatch(self, header: dict) -> None:
        kind, fields = next(iter(header.items()))
        if kind == "Message":
            answer = "Request" not in fields["message"]
            waiter = self.pending.pop(fields["id"], None) if answer else None
            if waiter is not None and not waiter.done():
                waiter.set_result(fields)
            else:
                await self.mailbox.put(fields)
        elif kind == "PushRefused":
            for channel_id, why in fields.get("failed", []):
                if fields.get("call") is not None:
                    self.refused[channel_id] = why
                else:
                    log.info("a push to channel %s on another node was refused: %s", channel_id, why)
        elif kind == "Undelivered":
            log.info("message %s to %s was not delivered: %s", fields.get("id"), fields.get("target"), fields.get("kind"))
        elif kind == "error":
            log.warning("the node says: %s: %s", fields.get("code"), fields.get("message"))
        else:
            log.warning("the node sent a header this SDK does not know: %s", kind)


_process: Optional[_Process] = None


def _context() -> _Process:
    if _process is None:
        raise RuntimeError("no process is running: call these inside the function given to run()")
    return _process


# ----------------------------------------------------------------------------- the API


def our() -> Address:
    """This process's address."""
    return _context().our


def get_blob() -> Optional[LazyLoadBlob]:
    """The blob of the message being handled (the last one ``await_message`` returned)."""
    current = _context().current
    return None if current is None else current.blob


async def await_message() -> Message:
    """The next message; raises ``SendError`` for a request of ours that bounced."""
    process = _context()
    return process.accept(await process.mailbox.get())


def send_ws_push(node: str, channel_id: int, message_type: str, blob: Union[LazyLoadBlob, Bytes]) -> None:
    """Pushes a frame to WebSocket channel ``channel_id`` on ``node`` (usually ``our().node``)."""
    process = _context()
    blob = _blob(blob) or LazyLoadBlob()
    kind = process.refusal(node, channel_id, message_type, blob)
    if kind is not None:
        raise HttpServerError(kind)
    call = process.take_call() if node == process.our.node else None
    if not process.queue(push_header(call, node, channel_id, message_type, blob), blob):
        raise HttpServerError("SlowConsumer" if process.closed is None else "WsChannelNotFound")


def send_ws_push_many(
    node: str, channel_ids: list, message_type: str, blob: Union[LazyLoadBlob, Bytes]
) -> list:
    """Pushes one frame to every channel in ``channel_ids``; returns ``(channel_id, kind)``
    for each refused at once (empty when every push went out)."""
    process = _context()
    blob = _blob(blob) or LazyLoadBlob()
    failed, sending = [], []
    for channel_id in channel_ids:
        kind = process.refusal(node, channel_id, message_type, blob)
        if kind is None:
            sending.append(channel_id)
        else:
            failed.append((channel_id, kind))
    if sending:
        call = process.take_call() if node == process.our.node else None
        if not process.queue(push_header(call, node, sending, message_type, blob), blob):
            kind = "SlowConsumer" if process.closed is None else "WsChannelNotFound"
            failed.extend((channel_id, kind) for channel_id in sending)
    return failed


def close_ws_channel(channel_id: int) -> None:
    """Closes a channel this process owns on this node."""
    send_ws_push(our().node, channel_id, "Close", LazyLoadBlob())


class Request:
    """A request under construction: ``Request.to(address).body(b).send()``."""

    def __init__(self) -> None:
        self._target: Optional[Address] = None
        self._body = b""
        self._blob: Optional[LazyLoadBlob] = None
        self._expects_response: Optional[int] = None

    @classmethod
    def to(cls, target: Union[Address, str]) -> "Request":
        return cls().target(target)

    def target(self, target: Union[Address, str]) -> "Request":
        self._target = target if isinstance(target, Address) else Address.parse(target)
        return self

    def body(self, body: Bytes) -> "Request":
        self._body = _bytes(body)
        return self

    def blob(self, blob: Union[LazyLoadBlob, Bytes]) -> "Request":
        self._blob = _blob(blob)
        return self

    def expects_response(self, timeout_secs: int) -> "Request":
        """The answer arrives through ``await_message`` (or a ``SendError`` on timeout)."""
        self._expects_response = int(timeout_secs)
        return self

    def _send(self, process: _Process, id: int) -> None:
        if self._target is None:
            raise ValueError("the request has no target")
        message = {"Request": {"expects_response": self._expects_response, "body": encode_body(self._body)}}
        if not process.queue(send_header(id, self._target, message, self._blob), self._blob):
            kind = "MailboxFull" if process.closed is None else "Offline"
            raise SendError(kind, self._target, self._body, self._blob)

    def send(self) -> None:
        """Sends the request without waiting."""
        process = _context()
        self._send(process, process.take_id())

    async def send_and_await_response(self, timeout_secs: int) -> Message:
        """Sends the request and waits up to ``timeout_secs`` for its answer."""
        process = _context()
        self._expects_response = int(timeout_secs)
        id = process.take_id()
        answer = asyncio.get_running_loop().create_future()
        process.pending[id] = answer
        try:
            self._send(process, id)
            envelope = await asyncio.wait_for(answer, timeout_secs)
        except asyncio.TimeoutError:
            raise SendError("Timeout", self._target, self._body, self._blob) from None
        finally:
            process.pending.pop(id, None)
        return process.accept(envelope)


class Response:
    """An answer to the request being handled: ``Response().body(b).send()``."""

    def __init__(self) -> None:
        self._body = b""
        self._blob: Optional[LazyLoadBlob] = None

    def body(self, body: Bytes) -> "Response":
        self._body = _bytes(body)
        return self

    def blob(self, blob: Union[LazyLoadBlob, Bytes]) -> "Response":
        self._blob = _blob(blob)
        return self

    def send(self) -> None:
        """Sends the response to whoever waits for the current request's answer."""
        process = _context()
        current = process.current
        if current is None or current.reply_to is None:
            raise RuntimeError("there is no request to respond to")
        message = {"Response": {"body": encode_body(self._body)}}
        if not process.queue(send_header(current.id, current.reply_to, message, self._blob), self._blob):
            kind = "MailboxFull" if process.closed is None else "Offline"
            raise SendError(kind, current.reply_to, self._body, self._blob)


async def _ask_http_server(action: dict) -> None:
    target = Address(our().node, HTTP_SERVER)
    answer = await Request.to(target).body(json.dumps(action)).send_and_await_response(BIND_TIMEOUT)
    result = answer.json()
    if isinstance(result, dict) and "Err" in result:
        raise HttpServerError(result["Err"])


async def bind_ws_path(path: str, authenticated: bool = True) -> None:
    """Accepts WebSocket clients on ``/<our process id><path>``, with no register frame."""
    await _ask_http_server({"WebSocketBind": {"path": path, "authenticated": authenticated}})


async def unbind_ws_path(path: str) -> None:
    """Stops accepting new WebSocket clients on a path; open channels stay."""
    await _ask_http_server({"WebSocketUnbind": {"path": path}})


async def bind_http_path(path: str, authenticated: bool = True) -> None:
    """Serves HTTP on ``/<our process id><path>``: requests arrive as ``{"Http":…}``."""
    await _ask_http_server({"Bind": {"path": path, "authenticated": authenticated}})


async def unbind_http_path(path: str) -> None:
    """Stops serving HTTP on a path."""
    await _ask_http_server({"Unbind": {"path": path}})


# ----------------------------------------------------------------------------- running


def _close_of(error: Exception) -> Closed:
    rcvd = getattr(error, "rcvd", None)
    if rcvd is not None:
        return Closed(rcvd.code, rcvd.reason)
    return Closed(None, str(error) or type(error).__name__)


async def _hello(ws: Any, token: str) -> Address:
    await ws.send(json.dumps({"auth_token": token}))
    from websockets.exceptions import ConnectionClosed

    try:
        answer = json.loads(await ws.recv())
    except ConnectionClosed as error:
        raise _close_of(error) from None
    if "Registered" in answer:
        return Address.parse(answer["Registered"]["our"])
    if "error" in answer:
        close_code = None
        try:
            await ws.recv()
        except ConnectionClosed as error:
            close_code = error.rcvd.code if error.rcvd is not None else None
        raise Refused(answer["error"].get("code"), answer["error"].get("message", ""), close_code)
    raise RemoteError(f"the node's answer is not understood: {answer!r}")


async def serve(
    process: Callable[[Address], Awaitable[Any]], url: Optional[str] = None, token: Optional[str] = None
) -> Any:
    """Runs ``process(our)`` as the process the token names, until it returns (its result
    is returned) or the connection ends (``Closed`` is raised, and the process cancelled)."""
    global _process
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    url = url or os.environ.get("SWITCHBOARD_URL") or "ws://127.0.0.1:8080/process"
    token = token if token is not None else os.environ.get("SWITCHBOARD_TOKEN", "")
    try:
        ws = await connect(url, max_size=None, compression=None, proxy=None)
    except (OSError, asyncio.TimeoutError) as error:
        raise RemoteError(f"cannot connect to the node at {url}: {error}") from None
    try:
        our_address = await _hello(ws, token)
        state = _Process(our_address, ws)
        _process = state
        reading = asyncio.create_task(state.read_loop())
        writing = asyncio.create_task(state.write_loop())
        running = asyncio.create_task(process(our_address))
        done, _ = await asyncio.wait({running, reading, writing}, return_when=asyncio.FIRST_COMPLETED)
        if running in done:
            # Let what the process queued go out before the goodbye.
            while state.outbox and not writing.done():
                await asyncio.sleep(0)
            reading.cancel()
            writing.cancel()
            await ws.close(1000, "the process returned")
            return running.result()
        running.cancel()
        ended = reading if reading in done else writing
        error = None if ended.cancelled() else ended.exception()
        if error is None or isinstance(error, ConnectionClosed):
            closed = Closed(ws.close_code, ws.close_reason or "the socket ended")
        else:
            closed = Closed(None, f"{type(error).__name__}: {error}")
        state.closed = closed
        for waiter in state.pending.values():
            if not waiter.done():
                waiter.set_exception(closed)
        raise closed
    finally:
        _process = None
        await ws.close()


def run(process: Callable[[Address], Awaitable[Any]], url: Optional[str] = None, token: Optional[str] = None) -> None:
    """Runs ``process`` with ``serve`` and exits: 0 when it returned or SIGTERM/SIGINT came,
    1 (with the reason on stderr) when the node refused or closed the connection."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    async def main() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, task.cancel)
        await serve(process, url, token)

    try:
        asyncio.run(main())
    except asyncio.CancelledError:
        pass
    except RemoteError as error:
        print(f"switchboard_process: {error}", file=sys.stderr)
        sys.exit(1)
