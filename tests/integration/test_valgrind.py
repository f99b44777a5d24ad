#!/usr/bin/env python3
"""A short publish/play session with the origin under valgrind: ffmpeg
publishes for about 5 s, ffprobe and ffmpeg play it, the origin gets SIGTERM
and must exit 0 with no memory error and no definitely lost block
(--errors-for-leak-kinds=definite --error-exitcode=99).

Skipped when valgrind is missing or the origin is built with ASan (the two
cannot run together; the sanitizer build checks leaks itself)."""
import os
import re
import signal
import time
import unittest

import harness

VALGRIND_RC = 99


class Valgrind(unittest.TestCase):
    def setUp(self):
        if harness.SERVER_KIND != 'origin':
            self.skipTest('valgrind session checks our origin')
        harness.require_tools('valgrind', 'ffmpeg', 'ffprobe')
        self.binary = harness.origin_binary()
        if not os.access(self.binary, os.X_OK):
            self.fail('origin binary not found at %s (set SC_BUILD_DIR)' % self.binary)
        with open(self.binary, 'rb') as f:
            if b'__asan_init' in f.read():
                self.skipTest('origin built with AddressSanitizer: valgrind cannot run it')

    def test_publish_play_no_leaks(self):
        port = harness.free_port()
        log = harness.tmp_path('origin-valgrind.log')
        args = ['valgrind', '--leak-check=full', '--errors-for-leak-kinds=definite',
                '--error-exitcode=%d' % VALGRIND_RC, '--num-callers=30',
                self.binary, '--listen', '127.0.0.1:%d' % port, '--log-level', 'info']
        origin = harness.spawn(args, log)
        self.addCleanup(harness.kill, origin)
        self.assertTrue(harness.wait_port(port, 60, origin),
                        'origin under valgrind did not listen: %s' % harness.tail(log))
        url = 'rtmp://127.0.0.1:%d/live/vg' % port

        t0 = time.monotonic()
        pub = harness.start_publisher(url, 'pub-vg')
        self.addCleanup(harness.kill, pub)
        # Playable while publishing: the raw client sees a keyframe, ffprobe
        # finds both streams, ffmpeg decodes frames.
        server = harness.Server('vg')
        server.port = port
        harness.wait_playable(server, 'vg', 40, pub)
        streams = harness.probe_streams(url, 40)
        kinds = sorted(s.get('codec_type') for s in streams)
        self.assertEqual(kinds, ['audio', 'video'], 'ffprobe streams: %r' % streams)
        d = harness.decode(url, 25, 40)
        self.assertEqual(d.rc, 0, 'decode under valgrind failed: %r' % d)
        self.assertGreaterEqual(d.frames, 25, 'too few frames: %r' % d)
        left = 5.0 - (time.monotonic() - t0)
        if left > 0:
            time.sleep(left)   # at least ~5 s of publishing
        harness.kill(pub, signal.SIGTERM, 10)
        time.sleep(0.5)

        rc = harness.kill(origin, signal.SIGTERM, 60)
        text = harness.read_text(log)
        summary = '\n'.join([l for l in text.splitlines() if l.startswith('==')][-40:])
        print('origin under valgrind exited %s after %.1f s; valgrind summary:\n%s'
              % (rc, time.monotonic() - t0, summary))
        self.assertIn('publish start', text, 'the session never reached the origin')
        self.assertNotEqual(rc, VALGRIND_RC, 'valgrind reported errors:\n%s' % summary)
        self.assertEqual(rc, 0, 'origin exit status %s:\n%s' % (rc, harness.tail(log)))
        m = re.search(r'definitely lost: ([\d,]+) bytes', text)
        if m:
            self.assertEqual(m.group(1), '0', 'definitely lost memory:\n%s' % summary)
        self.assertTrue(m or 'All heap blocks were freed' in text or 'no leaks are possible' in text,
                        'no valgrind leak summary in the log:\n%s' % summary)
        self.assertIsNone(re.search(r'ERROR SUMMARY: [1-9]', text), 'valgrind errors:\n%s' % summary)


if __name__ == '__main__':
    harness.main()
