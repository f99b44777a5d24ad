#!/usr/bin/env python3
"""A player joining a running stream starts at a keyframe, after metadata and
both sequence headers."""
import time

import harness
from rtmpclient import AUDIO, VIDEO, DATA_AMF0


class LateJoin(harness.ServerTestCase):

    def test_ffprobe_first_frame_is_key(self):
        self.publish('late')
        time.sleep(3)
        f = harness.probe_first_video_frame(self.server.url('late'))
        self.assertEqual(int(f.get('key_frame', 0)), 1, f)
        self.assertEqual(f.get('pict_type'), 'I', f)

    def test_raw_player_order(self):
        self.publish('late')
        time.sleep(3)
        c = self.raw()
        c.connect()
        c.create_stream()
        t0 = time.monotonic()
        c.play('late', wait=False)
        first = c.read_until(lambda m: m.type == VIDEO and not m.is_video_seq_header(),
                             timeout=10, what='first coded video message')
        dt = time.monotonic() - t0
        print('play -> first coded video message: %.3f s' % dt)
        msgs = c.received
        idx = msgs.index(first)
        before = msgs[:idx]
        meta = [m for m in before if m.type == DATA_AMF0 and 'onMetaData' in (m.amf or [])[:2]]
        self.assertTrue(meta, 'no onMetaData before first video: %s' % c.summary(30))
        self.assertEqual(meta[0].timestamp, 0, 'onMetaData timestamp not 0 (ffmpeg then sees a '
                         'bogus subtitle stream): %r' % meta[0])
        first_coded = next((i for i, m in enumerate(msgs) if m.is_coded_media()), None)
        ash = next((i for i, m in enumerate(msgs) if m.is_audio_seq_header()), None)
        vsh = next((i for i, m in enumerate(msgs) if m.is_video_seq_header()), None)
        self.assertIsNotNone(ash, 'no AAC sequence header: %s' % c.summary(30))
        self.assertIsNotNone(vsh, 'no AVC sequence header: %s' % c.summary(30))
        if self.server.is_origin:
            # our origin sends both sequence headers before any coded frame
            limit_a = limit_v = first_coded
        else:
            # nginx-rtmp lets audio flow and sends the AVC header just before the keyframe
            limit_a = next(i for i, m in enumerate(msgs) if m.type == AUDIO and m.is_coded_media())
            limit_v = idx
        self.assertLess(ash, limit_a, 'AAC seq header after coded media: %s' % c.summary(30))
        self.assertLess(vsh, limit_v, 'AVC seq header after coded media: %s' % c.summary(30))
        self.assertEqual(first.payload[0], 0x17, 'first coded video is not a keyframe: %r' % first)
        self.assertEqual(first.payload[1], 1, first)
        meta_i = msgs.index(meta[0])
        self.assertLess(meta_i, first_coded, 'onMetaData after coded media')
        start = [i for i, m in enumerate(msgs) if m.name == 'onStatus']
        self.assertTrue(start and start[0] < meta_i, 'Play.Start not before metadata')
        # media keeps coming
        n = sum(1 for m in c.read_for(1.0) if m.type in (AUDIO, VIDEO))
        self.assertGreater(n, 20, 'media stalled after first keyframe')
        if self.server.is_origin:
            self.assertLess(dt, 1.0, 'GOP cache should deliver a keyframe immediately')


if __name__ == '__main__':
    harness.main()
