"""The Python SDK's wire helpers, against the JSON the README writes (no socket needed)."""

import json
import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import switchboard_process as sp  # noqa: E402


class Bodies(unittest.TestCase):
    def test_utf8_bodies_travel_as_strings_and_others_as_byte_values(self):
        self.assertEqual(sp.encode_body(b'{"a":1}'), '{"a":1}')
        self.assertEqual(sp.encode_body("héllo"), "héllo")
        self.assertEqual(sp.encode_body(b"\xff\x00"), [255, 0])
        self.assertEqual(sp.decode_body("héllo"), "héllo".encode())
        self.assertEqual(sp.decode_body([255, 0]), b"\xff\x00")


class Headers(unittest.TestCase):
    def test_a_push_reads_as_the_readme_writes_it(self):
        header = sp.push_header(12, "local.os", 3, "Text", sp.LazyLoadBlob(b"hi"))
        self.assertEqual(
            header,
            '{"Push":{"call":12,"node":"local.os","channel_id":3,"message_type":"Text","blob":{"mime":null}}}',
        )

    def test_a_push_to_many_without_a_call_has_no_call(self):
        header = sp.push_header(None, "bob.os", [3, 4, 5], "Binary", sp.LazyLoadBlob(b"", "x/y"))
        self.assertEqual(
            json.loads(header),
            {"PushMany": {"node": "bob.os", "channel_ids": [3, 4, 5], "message_type": "Binary", "blob": {"mime": "x/y"}}},
        )

    def test_a_request_reads_as_the_readme_writes_it(self):
        target = sp.Address.parse("local.os@chat:chat:sys")
        message = {"Request": {"expects_response": 5, "body": sp.encode_body(b"hi")}}
        self.assertEqual(
            sp.send_header(9, target, message, None),
            '{"Send":{"id":9,"target":"local.os@chat:chat:sys","rsvp":null,"message":{"Request":{"expects_response":5,"body":"hi"}},"blob":null}}',
        )


class Addresses(unittest.TestCase):
    def test_an_address_round_trips_and_a_malformed_one_is_refused(self):
        address = sp.Address.parse("local.os@echo:echo:py")
        self.assertEqual((address.node, address.process), ("local.os", "echo:echo:py"))
        self.assertEqual(str(address), "local.os@echo:echo:py")
        for bad in ("echo:echo:py", "@a:b:c", "n@a:b"):
            with self.assertRaises(ValueError):
                sp.Address.parse(bad)


class Framing(unittest.TestCase):
    MESSAGE = (
        '{"Message":{"id":7,"source":"local.os@http-server:distro:sys","target":"local.os@echo:echo:py",'
        '"rsvp":null,"message":{"Request":{"expects_response":null,'
        '"body":"{\\"WebSocketPush\\":{\\"channel_id\\":3,\\"message_type\\":\\"Text\\"}}"}},"blob":{"mime":null}}}'
    )

    def test_a_message_waits_for_its_blob(self):
        framing = sp.Framing()
        self.assertIsNone(framing.feed(self.MESSAGE))
        header = framing.feed(b"hello")
        self.assertEqual(header["Message"]["blob_bytes"], b"hello")
        self.assertEqual(header["Message"]["id"], 7)

    def test_a_header_without_blob_is_complete_at_once(self):
        framing = sp.Framing()
        refused = '{"PushRefused":{"call":12,"failed":[[3,"SlowConsumer"]]}}'
        self.assertEqual(framing.feed(refused), {"PushRefused": {"call": 12, "failed": [[3, "SlowConsumer"]]}})

    def test_stray_and_malformed_frames_are_dropped(self):
        framing = sp.Framing()
        with self.assertLogs("switchboard_process", "WARNING") as logs:
            self.assertIsNone(framing.feed(b"a blob with no header"))
            self.assertIsNone(framing.feed("not json"))
            self.assertIsNone(framing.feed(self.MESSAGE))
            # A header where the blob should be: the first message is dropped, this one kept.
            self.assertEqual(framing.feed('{"error":{"code":"x","message":"y"}}')["error"]["code"], "x")
        self.assertEqual(len(logs.output), 3)


if __name__ == "__main__":
    unittest.main()
