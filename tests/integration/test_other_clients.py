#!/usr/bin/env python3
"""Other real clients: rtmpdump plays, GStreamer rtmp2sink publishes, rtmp2src plays."""
import re
import signal
import time
import unittest

import harness


def gst_encoder():
    """x264enc as in the captures; openh264enc when gst-plugins-ugly is absent."""
    if harness.gst_has('x264enc'):
        return ['x264enc', 'tune=zerolatency', 'key-int-max=25', 'speed-preset=ultrafast']
    if harness.gst_has('openh264enc'):
        return ['openh264enc', 'gop-size=25', 'complexity=low']
    return None


class OtherClients(harness.ServerTestCase):

    def test_rtmpdump_live(self):
        harness.require_tools('rtmpdump')
        self.publish('dump')
        out = harness.tmp_path('rtmpdump-%d.flv' % time.monotonic_ns())
        p = harness.spawn(['rtmpdump', '--live', '-q', '-r', self.server.url('dump'), '-o', out],
                          harness.tmp_path('rtmpdump.log'))
        self.addCleanup(harness.kill, p)
        time.sleep(4)
        self.assertIsNone(p.poll(), 'rtmpdump exited early rc=%s: %s'
                          % (p.returncode, harness.tail(p.log_path, 10)))
        harness.kill(p, signal.SIGINT, 5)
        streams = harness.probe_file(out)
        codecs = {s['codec_type']: s for s in streams}
        self.assertEqual(codecs.get('video', {}).get('codec_name'), 'h264', streams)
        self.assertEqual(codecs.get('audio', {}).get('codec_name'), 'aac', streams)
        nb = int(codecs['video'].get('nb_read_frames', 0))
        print('rtmpdump file: %d video frames' % nb)
        self.assertGreaterEqual(nb, 50, 'rtmpdump got too few frames in 4 s')
        self.assert_alive()

    def test_gst_rtmp2sink_publish(self):
        harness.require_tools('gst-launch-1.0', 'gst-inspect-1.0')
        enc = gst_encoder()
        if enc is None or not harness.gst_has('rtmp2sink', 'flvmux', 'h264parse', 'voaacenc',
                                              'aacparse', 'videotestsrc', 'audiotestsrc'):
            self.skipTest('GStreamer elements for rtmp2sink publishing missing')
        url = self.server.url('gst')
        p = harness.spawn(['gst-launch-1.0', '-q', '-e', 'videotestsrc', 'is-live=true', '!',
                           'video/x-raw,width=320,height=240,framerate=25/1', '!']
                          + enc + ['!', 'h264parse', '!', 'flvmux', 'streamable=true', 'name=m',
                                   '!', 'rtmp2sink', 'location=' + url,
                                   'audiotestsrc', 'is-live=true', '!', 'voaacenc', '!',
                                   'aacparse', '!', 'm.'],
                          harness.tmp_path('gst-pub.log'))
        self.addCleanup(harness.kill, p)
        harness.wait_playable(self.server, 'gst', 20, p)
        streams = harness.probe_streams(url)
        self.assertEqual(sorted(s['codec_name'] for s in streams), ['aac', 'h264'], streams)
        self.assert_decodes('gst', 50, 30)

    def test_gst_rtmp2src_play(self):
        harness.require_tools('gst-launch-1.0', 'gst-inspect-1.0')
        if not harness.gst_has('rtmp2src', 'flvdemux', 'h264parse', 'avdec_h264'):
            self.skipTest('GStreamer elements for rtmp2src playing missing')
        self.publish('g2')
        log = harness.tmp_path('gst-play-%d.log' % time.monotonic_ns())
        with open(log, 'wb') as out:
            p = harness.spawn(['gst-launch-1.0', '-e', '-v', 'rtmp2src',
                               'location=' + self.server.url('g2'), '!', 'flvdemux', 'name=d',
                               'd.video', '!', 'queue', '!', 'h264parse', '!', 'avdec_h264', '!',
                               'fakesink', 'name=vs', 'silent=false',
                               'd.audio', '!', 'queue', '!', 'fakesink', 'name=as'],
                              log, stdout=out)
        self.addCleanup(harness.kill, p)
        time.sleep(5)
        self.assertIsNone(p.poll(), 'gst-launch exited early: %s' % harness.tail(log, 15))
        rc = harness.kill(p, signal.SIGINT, 10)   # -e: EOS, clean stop
        text = harness.read_text(log)
        n = len(re.findall(r'vs: last-message = chain', text))
        print('rtmp2src: %d decoded video frames in 5 s' % n)
        self.assertEqual(rc, 0, 'gst-launch rc=%s: %s' % (rc, harness.tail(log, 15)))
        self.assertNotIn('ERROR', text, harness.tail(log, 15))
        self.assertGreaterEqual(n, 50, 'rtmp2src decoded %d frames' % n)
        self.assert_alive()


if __name__ == '__main__':
    harness.main()
