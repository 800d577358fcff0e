// The JavaScript SDK's wire helpers, against the JSON the README writes (no socket needed).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  Address,
  Framing,
  LazyLoadBlob,
  decode_body,
  encode_body,
  push_header,
  send_header,
} from '../switchboard-process.mjs';

test('UTF-8 bodies travel as strings and others as byte values', () => {
  assert.equal(encode_body(Buffer.from('{"a":1}')), '{"a":1}');
  assert.equal(encode_body('héllo'), 'héllo');
  assert.deepEqual(encode_body(Buffer.from([255, 0])), [255, 0]);
  assert.deepEqual(decode_body('héllo'), Buffer.from('héllo'));
  assert.deepEqual(decode_body([255, 0]), Buffer.from([255, 0]));
});

test('a push and a request read as the README writes them', () => {
  assert.equal(
    push_header(12, 'local.os', 3, 'Text', new LazyLoadBlob('hi')),
    '{"Push":{"call":12,"node":"local.os","channel_id":3,"message_type":"Text","blob":{"mime":null}}}',
  );
  assert.deepEqual(JSON.parse(push_header(null, 'bob.os', [3, 4], 'Binary', new LazyLoadBlob('', 'x/y'))), {
    PushMany: { node: 'bob.os', channel_ids: [3, 4], message_type: 'Binary', blob: { mime: 'x/y' } },
  });
  const message = { Request: { expects_response: 5, body: encode_body('hi') } };
  assert.equal(
    send_header(9, Address.parse('local.os@chat:chat:sys'), message, null),
    '{"Send":{"id":9,"target":"local.os@chat:chat:sys","rsvp":null,"message":{"Request":{"expects_response":5,"body":"hi"}},"blob":null}}',
  );
});

test('an address round-trips and a malformed one is refused', () => {
  const address = Address.parse('local.os@counter:counter:js');
  assert.equal(address.node, 'local.os');
  assert.equal(address.process, 'counter:counter:js');
  assert.equal(String(address), 'local.os@counter:counter:js');
  for (const bad of ['counter:counter:js', '@a:b:c', 'n@a:b']) {
    assert.throws(() => Address.parse(bad), TypeError);
  }
});

test('a message waits for its blob, and stray frames are dropped', () => {
  const warnings = [];
  const framing = new Framing((text) => warnings.push(text));
  const message = JSON.stringify({
    Message: {
      id: 7,
      source: 'local.os@http-server:distro:sys',
      target: 'local.os@counter:counter:js',
      rsvp: null,
      message: { Request: { expects_response: null, body: '{"WebSocketClose":3}' } },
      blob: { mime: null },
    },
  });
  assert.equal(framing.feed(Buffer.from(message), false), null);
  const header = framing.feed(Buffer.from('hello'), true);
  assert.deepEqual(header.Message.blob_bytes, Buffer.from('hello'));
  assert.equal(framing.feed(Buffer.from('stray'), true), null);
  assert.equal(framing.feed(Buffer.from('not json'), false), null);
  const refused = framing.feed(Buffer.from('{"PushRefused":{"call":1,"failed":[[3,"SlowConsumer"]]}}'), false);
  assert.deepEqual(refused, { PushRefused: { call: 1, failed: [[3, 'SlowConsumer']] } });
  assert.equal(warnings.length, 2);
});
