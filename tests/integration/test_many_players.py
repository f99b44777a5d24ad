#!/usr/bin/env python3
"""10 ffmpeg players decode at real-time speed while one raw player plays and
never reads; the origin's memory stays bounded and the stalled player is
eventually disconnected."""
import time

import harness

PLAYERS = 10
FRAMES = 100          # 4 s of video at 25 fps
DECODE_LIMIT = 12.0   # 4 s + start-up + slack
RSS_LIMIT_KB = 64 * 1024


class ManyPlayers(harness.ServerTestCase):
    # small queue so the stalled player starts dropping within ~2 s, then is cut 3 s later
    SETS = {'player_max_behind': '3s', 'socket_sndbuf': '64k', 'player_max_queue': '128k'}

    def test_many_players_and_stalled_one(self):
        self.publish('many')
        rss0 = self.server.rss_kb()
        stalled = self.raw(timeout=5, rcvbuf=4096, send_acks=False)
        stalled.connect()
        stalled.create_stream()
        stalled.play('many')
        t_stall = time.monotonic()
        decs = [harness.DecodeProc(self.server.url('many'), FRAMES, DECODE_LIMIT + 3)
                for _ in range(PLAYERS)]
        res = [d.result() for d in decs]
        for i, r in enumerate(res):
            print('player %d: %r' % (i, r))
        for i, r in enumerate(res):
            self.assertEqual(r.rc, 0, 'player %d failed: %r' % (i, r))
            self.assertGreaterEqual(r.frames, FRAMES, 'player %d: %r' % (i, r))
            self.assertLess(r.elapsed, DECODE_LIMIT, 'player %d too slow: %r' % (i, r))
        # and the stream is still fine for a new player
        self.assert_decodes('many', 25, 15)
        time.sleep(max(0.0, 10 - (time.monotonic() - t_stall)))
        rss1 = self.server.rss_kb()
        print('RSS before %d kB, 10 s after the stalled player %d kB (+%d kB)'
              % (rss0, rss1, rss1 - rss0))
        self.assertLess(rss1 - rss0, RSS_LIMIT_KB, 'server RSS grew too much')
        self.assert_alive()
        port = stalled.local_port
        if self.server.is_origin:
            m = self.server.wait_log(r'session end .*peer=127\.0\.0\.1:%d\b' % port, 10)
            self.assertIsNotNone(m, 'stalled player (port %d) not disconnected' % port)
            print('stalled player log: %s' % m.string.strip())
        else:
            closed = stalled.wait_closed(1)
            print('nginx: stalled player %s' % ('closed' if closed else 'still connected'))


if __name__ == '__main__':
    harness.main()
