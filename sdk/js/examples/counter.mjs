/**
 * A counter process in JavaScript: each connection counts on its own. A client sends
 * `{"op":"add","by":N}` or `{"op":"reset"}` and gets `{"count":N}` back; anything else gets
 * `{"error":{"code":"unparsable","message":…}}` and the count is kept (as the bundled
 * `counter:counter:sys` does).
 *
 * Run it as a [[process]] of a node (which sets SWITCHBOARD_URL and SWITCHBOARD_TOKEN), or
 * by hand: SWITCHBOARD_TOKEN=$(switchboard token --process counter:counter:js) node counter.mjs
 */

import * as sp from '../switchboard-process.mjs';

/** What a frame asks, or a sentence saying why it is not understood. */
function parse(bytes) {
  let input;
  try {
    input = JSON.parse(bytes.toString('utf-8'));
  } catch (error) {
    return { error: `not JSON: ${error.message}` };
  }
  const keys = input && typeof input === 'object' ? Object.keys(input).sort().join(',') : '';
  if (keys === 'by,op' && input.op === 'add' && Number.isSafeInteger(input.by)) return input;
  if (keys === 'op' && input.op === 'reset') return input;
  return { error: 'expected {"op":"add","by":N} or {"op":"reset"}' };
}

sp.run(async (our) => {
  console.log(`counter running as ${our}`);
  const counts = new Map();
  const reply = (channel_id, value) =>
    sp.send_ws_push(our.node, channel_id, 'Text', JSON.stringify(value));
  for (;;) {
    const message = await sp.await_message();
    if (!message.is_request()) continue;
    const event = message.json();
    if (event.WebSocketOpen) {
      counts.set(event.WebSocketOpen.channel_id, 0);
    } else if (event.WebSocketClose !== undefined) {
      counts.delete(event.WebSocketClose);
    } else if (event.WebSocketPush) {
      const { channel_id } = event.WebSocketPush;
      const input = parse(sp.get_blob()?.bytes ?? Buffer.alloc(0));
      try {
        if (input.error) {
          reply(channel_id, { error: { code: 'unparsable', message: input.error } });
          continue;
        }
        const count = input.op === 'add' ? (counts.get(channel_id) ?? 0) + input.by : 0;
        counts.set(channel_id, count);
        reply(channel_id, { count });
      } catch (error) {
        if (!(error instanceof sp.HttpServerError)) throw error;
        console.error(`channel ${channel_id}: ${error.kind}`);
      }
    }
  }
});
