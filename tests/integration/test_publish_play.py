#!/usr/bin/env python3
"""ffmpeg publishes the test pattern; ffprobe sees h264 320x240 + aac 44.1 kHz
stereo; ffmpeg decodes >= 50 frames without errors; clean exit on SIGTERM."""
import signal

import harness


class PublishPlay(harness.ServerTestCase):

    def test_probe_and_decode(self):
        self.publish('x')
        streams = harness.probe_streams(self.server.url('x'))
        by_type = {s.get('codec_type'): s for s in streams}
        self.assertIn('video', by_type, streams)
        self.assertIn('audio', by_type, streams)
        self.assertEqual(len(streams), 2, 'expected exactly one video and one audio stream: %r'
                         % [(x.get('codec_type'), x.get('codec_name')) for x in streams])
        v, a = by_type['video'], by_type['audio']
        self.assertEqual(v.get('codec_name'), 'h264')
        self.assertEqual((v.get('width'), v.get('height')), (320, 240))
        self.assertEqual(a.get('codec_name'), 'aac')
        self.assertEqual(int(a.get('sample_rate', 0)), 44100)
        self.assertEqual(a.get('channels'), 2, a)
        d = self.assert_decodes('x', 50, 30)
        print('decoded %d frames in %.1f s' % (d.frames, d.elapsed))
        self.assert_alive()

    def test_sigterm_exit_zero(self):
        self.only_origin('exit status on SIGTERM')
        self.publish('y')
        c = self.raw()
        c.connect()
        c.create_stream()
        c.play('y')
        rc = self.server.stop(signal.SIGTERM, 8)
        self.assertEqual(rc, 0, 'origin exit status on SIGTERM with live sessions')
        self.assertTrue(c.wait_closed(3), 'player connection not closed at shutdown')


if __name__ == '__main__':
    harness.main()
