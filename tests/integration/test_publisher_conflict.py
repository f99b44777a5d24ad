#!/usr/bin/env python3
"""Publisher conflicts: a second publisher is refused with BadName; after the
first dies (kill -9) a new one works; a silent (SIGSTOPped) publisher is taken
over after publish_takeover_idle."""
import os
import signal
import time

import harness


class PublisherConflict(harness.ServerTestCase):
    SETS = {'publish_takeover_idle': '2s'}

    def test_second_publisher_refused(self):
        self.publish('conf')
        c = self.raw()
        c.connect()
        c.create_stream()
        c.publish('conf', wait=False)
        info = c.wait_status(None, timeout=5)
        print('second publisher got %r' % dict(info))
        self.assertEqual(info.get('code'), 'NetStream.Publish.BadName', dict(info))
        self.assertEqual(info.get('level'), 'error', dict(info))
        # the first one is unaffected
        self.assert_decodes('conf', 25, 15)
        if self.server.is_origin:
            self.assertIsNotNone(self.server.wait_log(r'publish refused stream=live/conf', 3),
                                 'no "publish refused" log line')

    def test_republish_after_kill9(self):
        p = self.publish('k9')
        harness.kill(p, signal.SIGKILL)
        p2 = self.publish('k9')
        self.assertIsNone(p2.poll())
        self.assert_decodes('k9', 50, 20)
        self.assert_alive()

    def test_takeover_of_silent_publisher(self):
        self.only_origin('takeover of a silent publisher')
        p = self.publish('take')
        os.kill(p.pid, signal.SIGSTOP)   # silent, TCP connection stays open
        t0 = time.monotonic()
        # immediately: still refused (current publisher silent for < 2 s)
        c = self.raw()
        c.connect()
        c.create_stream()
        c.publish('take', wait=False)
        info = c.wait_status(None, timeout=5)
        self.assertEqual(info.get('code'), 'NetStream.Publish.BadName',
                         'publisher silent %.1f s (< takeover idle 2 s) should still win: %r'
                         % (time.monotonic() - t0, dict(info)))
        c.close()
        # a player that stays connected across the takeover (observed, reported)
        across = self.raw(timeout=10)
        across.connect()
        across.create_stream()
        across.play('take', wait=False)
        time.sleep(max(0.0, 2.6 - (time.monotonic() - t0)))
        p2 = self.publish('take', wait=False)
        # the silent publisher's GOP cache stays playable until the takeover: wait for it
        m = self.server.wait_log(r'publish takeover stream=live/take', 10)
        self.assertIsNotNone(m, 'no takeover within 10 s of the new publisher')
        print('takeover %.1f s after SIGSTOP: %s' % (time.monotonic() - t0, m.string.strip()))
        harness.wait_playable(self.server, 'take', 10, p2)
        self.assert_decodes('take', 50, 20)
        self.assertIsNone(p2.poll())
        harness.kill(p, signal.SIGKILL)
        self.assert_alive()
        msgs = across.read_for(2.0)
        after = [x for x in across.received if x.type not in (8, 9)]
        print('player connected across the takeover: %d media messages in the last 2 s; '
              'non-media: %s' % (sum(1 for x in msgs if x.type in (8, 9)), after[-8:]))
        starts = [l for l in self.server.log().splitlines() if 'publish start stream=live/take' in l]
        self.assertGreaterEqual(len(starts), 2, 'expected two "publish start" lines: %r' % starts)


if __name__ == '__main__':
    harness.main()
