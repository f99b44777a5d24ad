#!/usr/bin/env python3
"""Origin/edge cluster on one host: real redis-server, origin and edge
processes, ffmpeg and raw RTMP clients (DESIGN.md sections 2-7).

Prints the measured numbers (snapshot join, late join, failover gap, hop
latency) on stderr."""
import os
import signal
import sys
import time

import cluster
import harness
import rtmpclient
from rtmpclient import VIDEO


def say(fmt, *args):
    sys.stderr.write('  [' + (fmt % args) + '] ')
    sys.stderr.flush()


class Cluster(cluster.ClusterTestCase):

    def small(self, edges=1, origins=1, edge_sets=None, origin_sets=None, workers=2):
        """redis + origins + edges; returns (redis, [origins], [edges])."""
        r = self.redis()
        os_ = [self.origin('o%c' % (65 + i), r, sets=origin_sets) for i in range(origins)]
        es = [self.edge('e%d' % (i + 1), r, sets=edge_sets, workers=workers)
              for i in range(edges)]
        return r, os_, es

    # ------------------------------------------------------------ data path

    def test_01_publish_play_two_edges_both_workers(self):
        r, (o,), (e1, e2) = self.small(edges=2)
        self.publish(o, 'x', wait_node=e1)
        v, a = cluster.video_audio(cluster.probe_streams(e1.url('x')))
        self.assertEqual((v.get('codec_name'), v.get('width'), v.get('height')),
                         ('h264', 320, 240), v)
        self.assertEqual(a.get('codec_name'), 'aac', a)
        mark = e1.mark()
        decs = [self.decoder(e1, 'x', 50, 40) for _ in range(8)]
        decs += [self.decoder(e2, 'x', 50, 40) for _ in range(2)]
        # while they play: which worker owns which player connection
        owners = {}
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(owners) < 2:
            time.sleep(0.3)
            owners = self.peer_ports_by_worker(e1)
        results = [d.result() for d in decs]
        for i, res in enumerate(results):
            self.assertEqual(res.rc, 0, 'player %d failed: %r' % (i, res))
            self.assertGreaterEqual(res.frames, 50, 'player %d: %r' % (i, res))
        starts = e1.lines(r'play start stream=live/x id=\d+ peer=\S+:(\d+)', mark)
        self.assertGreaterEqual(len(starts), 8, 'expected 8 "play start" lines on e1')
        pids = e1.worker_pids()
        self.assertEqual(len(pids), 2, pids)
        if len(owners) < 2:
            # SO_REUSEPORT hashed every ffmpeg to one worker (p = 1/128): raw players
            clients = []
            for _ in range(24):
                c = e1.client(timeout=5)
                clients.append(c)
                c.connect()
                c.create_stream()
                c.play('x', wait=False)
                c.read_until(lambda m: m.is_video_keyframe(), 10, 'keyframe')
                owners = self.peer_ports_by_worker(e1)
                if len(owners) >= 2:
                    break
            starts = e1.lines(r'play start stream=live/x id=\d+ peer=\S+:(\d+)', mark)
            for c in clients:
                c.close()
        started_ports = {int(m.group(1)) for m in starts}
        for pid in pids:
            self.assertTrue(owners.get(pid, set()) & started_ports,
                            'worker pid %d logged no "play start" of a player it owns '
                            '(owners=%r, started ports=%r)' % (pid, owners, started_ports))
        subs = e1.lines(r'edge: subscribed stream=live/x ')
        self.assertEqual(len(subs), 2, 'each of the 2 workers subscribes once: %r'
                         % [m.group(0) for m in subs])
        self.assertIsNotNone(e2.wait_log(r'edge: subscribed stream=live/x ', 1))

    def peer_ports_by_worker(self, edge):
        """{worker pid: set of player peer ports}, from ss -tnp."""
        r = harness.run(['ss', '-Htnp', 'state', 'established', '( sport = :%d )' % edge.port],
                        10)
        out = {}
        for line in r.stdout.decode().splitlines():
            parts = line.split()
            try:
                peer = int(parts[3].rsplit(':', 1)[1])
                pid = int(line.split('pid=')[1].split(',')[0])
            except (IndexError, ValueError):
                continue
            out.setdefault(pid, set()).add(peer)
        return out

    def test_02_late_player_starts_on_keyframe(self):
        r, (o,), (e,) = self.small(workers=1)
        self.publish(o, 'late', wait_node=e)
        first = self.recorder(e, 'late')       # keeps the worker subscribed
        first.wait_video_count(10, 10)
        time.sleep(2.5)                         # join mid-GOP
        c = e.client()
        self.addCleanup(c.close)
        c.connect()
        c.create_stream()
        t0 = time.monotonic()
        c.play('late', wait=False)
        m = c.read_until(lambda m: m.type == VIDEO and not m.is_video_seq_header(), 10,
                         'first coded video')
        dt = time.monotonic() - t0
        say('edge late join: play -> first coded video %.0f ms', dt * 1000)
        self.assertTrue(m.is_video_keyframe(), 'first coded video is not a keyframe: %r' % m)
        self.assertLess(dt, 1.0, 'edge GOP cache should start a late player at once')
        f = harness.probe_first_video_frame(e.url('late'))
        self.assertEqual(int(f.get('key_frame', 0)), 1, f)
        t1 = time.monotonic()
        d = self.decoder(e, 'late', 1, 15).result()
        say('ffmpeg -frames:v 1 from the edge: %.0f ms', (time.monotonic() - t1) * 1000)
        self.assertEqual(d.rc, 0, d)
        self.assertGreaterEqual(d.frames, 1, d)

    def test_03_prefix_names_never_mix(self):
        r, (o,), (e,) = self.small(workers=1)
        self.publish(o, 'a', source='testsrc', size='320x240')
        self.publish(o, 'ab', source='smptebars', size='160x120', wait_node=e)
        self.wait_playable(e, 'a')
        ra, rab = self.recorder(e, 'a'), self.recorder(e, 'ab')
        da, dab = self.decoder(e, 'a', 50, 30), self.decoder(e, 'ab', 50, 30)
        va, _ = cluster.video_audio(cluster.probe_streams(e.url('a')))
        vab, _ = cluster.video_audio(cluster.probe_streams(e.url('ab')))
        self.assertEqual((va.get('width'), va.get('height')), (320, 240), va)
        self.assertEqual((vab.get('width'), vab.get('height')), (160, 120), vab)
        for d in (da.result(), dab.result()):
            self.assertEqual(d.rc, 0, d)
            self.assertGreaterEqual(d.frames, 50, d)
        for rec in (ra, rab):
            rec.wait_video_count(50, 10)
            vids = rec.video()
            secs = vids[-1][0] - vids[0][0]
            rate = (len(vids) - 1) / max(secs, 0.001)
            self.assertLess(rate, 32, '%s: %.1f video messages/s (25 fps published): another '
                            'stream is mixed in' % (rec.stream, rate))
            vsh = {p for t, p in rec.seq_headers if t == VIDEO}
            self.assertEqual(len(vsh), 1, '%s got %d different AVC sequence headers'
                             % (rec.stream, len(vsh)))
            self.assert_monotonic(rec)
        self.assertNotEqual(next(p for t, p in ra.seq_headers if t == VIDEO),
                            next(p for t, p in rab.seq_headers if t == VIDEO))

    # ------------------------------------------------------------ ownership

    def test_04_second_publisher_on_other_origin_refused(self):
        r, (oa, ob), (e,) = self.small(origins=2, origin_sets={'claim_wait': '2s'})
        self.publish(oa, 'c')
        claim = r.wait_hash('sc:stream:live/c', lambda h: h.get('owner') == oa.node_id, 10)
        self.assertEqual(claim.get('owner'), oa.node_id, claim)
        c = ob.client()
        self.addCleanup(c.close)
        c.connect()
        c.create_stream()
        t0 = time.monotonic()
        c.publish('c', wait=False)
        info = c.wait_status(None, timeout=2 + 4)
        dt = time.monotonic() - t0
        say('second publisher refused after %.2f s', dt)
        self.assertEqual(info.get('code'), 'NetStream.Publish.BadName', dict(info))
        self.assertEqual(info.get('level'), 'error', dict(info))
        self.assertIsNotNone(ob.wait_log(r'publish refused stream=live/c .*another origin', 2),
                             'no "publish refused" line on origin B')
        self.assertEqual(r.hgetall('sc:stream:live/c').get('owner'), oa.node_id)
        self.assert_decodes(e, 'c', 25, 20)

    # ------------------------------------------------------------ failures

    def test_05_origin_failover(self):
        r, (oa, ob), (e,) = self.small(origins=2)
        pa = self.publish(oa, 'f', wait_node=e)
        rec = self.recorder(e, 'f')
        tk = rec.wait_keyframe(10)
        say('edge snapshot join: play -> first keyframe %.0f ms', (tk - rec.t_play) * 1000)
        rec.wait_video_count(50, 10)
        t_kill = time.monotonic()
        oa.stop(signal.SIGKILL)
        pa.stop()                     # the encoder reconnects through the LB...
        pb = self.publish(ob, 'f')   # ...and lands on origin B
        t_key = rec.wait_keyframe(20, since=t_kill + 0.05)
        rec.wait_video_count(len(rec.video()) + 50, 10)
        gap, before, after = rec.largest_gap(since=t_kill - 1)
        say('origin failover: gap %.0f ms, kill -> keyframe %.0f ms', gap * 1000,
            (t_key - t_kill) * 1000)
        self.assertIsNone(rec.closed_at, 'player connection closed: %r' % rec.error)
        self.assertLess(gap, 12, 'gap too long')
        self.assert_monotonic(rec)
        first_video = next(m for m in rec.video(since=after[0]) if 's' not in m[4])
        self.assertIn('k', first_video[4], 'first coded video after failover is not a '
                      'keyframe: %r' % (first_video,))
        claim = r.hgetall('sc:stream:live/f')
        self.assertEqual(claim.get('owner'), ob.node_id, claim)
        self.assertGreaterEqual(int(claim.get('epoch', 0)), 2, claim)
        self.assertIsNotNone(e.wait_log(r'edge: stream=live/f epoch 1 -> \d+, rebasing', 1))
        self.assertTrue(pb.alive())

    def test_06_publisher_drop_and_return(self):
        r, (o,), (e,) = self.small()
        p = self.publish(o, 'd', wait_node=e)
        rec = self.recorder(e, 'd')
        rec.wait_video_count(50, 10)
        # A real ffmpeg player too: it stops on UnpublishNotify, so it only
        # gets all its frames if the edge keeps quiet while the encoder
        # reconnects (unpublish_wait).
        dec = self.decoder(e, 'd', frames=200, timeout=40)
        t_kill = time.monotonic()
        p.stop(signal.SIGKILL)
        time.sleep(1.0)
        self.publish(o, 'd')
        t_key = rec.wait_keyframe(15, since=t_kill + 0.05)
        rec.wait_video_count(len(rec.video()) + 25, 10)
        gap = rec.largest_gap(since=t_kill - 1)[0]
        say('publisher return: gap %.0f ms, kill -> keyframe %.0f ms', gap * 1000,
            (t_key - t_kill) * 1000)
        self.assertIsNone(rec.closed_at, 'player connection closed: %r' % rec.error)
        self.assert_monotonic(rec)
        self.assertNotIn('NetStream.Play.UnpublishNotify', [s for _, s in rec.status],
                         'players were told the publisher left although it came back within unpublish_wait')
        d = dec.result()
        self.assertGreaterEqual(d.frames, 200, 'ffmpeg player stopped across the publisher restart: %r' % (d,))
        self.assertIsNotNone(e.wait_log(r'edge: stream=live/d epoch 1 -> 2, rebasing', 1),
                             'the edge did not see the new epoch in-band')
        self.assertEqual(r.hgetall('sc:stream:live/d').get('epoch'), '2')

    def test_06b_publisher_gone_for_good(self):
        """Players hear UnpublishNotify once the publisher has been gone for
        unpublish_wait, and not before."""
        r, (o,), (e,) = self.small(edge_sets={'unpublish_wait': '1500ms'})
        p = self.publish(o, 'g', wait_node=e)
        rec = self.recorder(e, 'g')
        rec.wait_video_count(25, 10)
        t_kill = time.monotonic()
        p.stop(signal.SIGKILL)
        deadline = time.monotonic() + 8
        told = None
        while time.monotonic() < deadline and told is None:
            told = next((t for t, s in rec.status if s == 'NetStream.Play.UnpublishNotify'), None)
            time.sleep(0.1)
        self.assertIsNotNone(told, 'players never heard the publisher left')
        waited = told - t_kill
        say('UnpublishNotify %.0f ms after the publisher died (unpublish_wait 1500 ms)', waited * 1000)
        self.assertGreater(waited, 1.2, 'players were told before unpublish_wait')
        self.assertIsNone(rec.closed_at, 'player connection closed: %r' % rec.error)

    def test_07_edge_worker_killed_is_restarted(self):
        r, (o,), (e,) = self.small()
        self.publish(o, 'w', wait_node=e)
        before = e.worker_pids()
        self.assertEqual(len(before), 2, before)
        victim = before[0]
        mark = e.mark()
        os.kill(victim, signal.SIGKILL)
        m = e.wait_log(r'edge: worker (\d+) \(pid %d\) died \(signal 9\); restarting' % victim,
                       5, mark)
        self.assertIsNotNone(m, 'master did not log the death of worker pid %d' % victim)
        self.assertIsNotNone(e.wait_log(r'edge worker %s node=\S+ listening' % m.group(1), 5,
                                        mark), 'restarted worker did not listen')
        after = e.worker_pids()
        self.assertEqual(len(after), 2, after)
        self.assertNotIn(victim, after)
        new = (set(after) - set(before)).pop()
        clients = []
        try:
            for _ in range(24):
                c = e.client(timeout=5)
                clients.append(c)
                c.connect()
                c.create_stream()
                c.play('w', wait=False)
                c.read_until(lambda m: m.is_video_keyframe(), 10, 'keyframe')
                if e.connections_by_pid().get(new):
                    break
            self.assertTrue(e.connections_by_pid().get(new),
                            'no player landed on the restarted worker %d' % new)
        finally:
            for c in clients:
                c.close()
        self.assert_decodes(e, 'w', 25, 20)

    def test_08_redis_restart(self):
        r, (o,), (e1,) = self.small()
        self.publish(o, 'old', wait_node=e1)
        rec = self.recorder(e1, 'old')
        rec.wait_video_count(25, 10)
        r.stop(signal.SIGKILL)
        time.sleep(1.0)
        t0 = time.monotonic()
        r2 = self.track(cluster.Redis(port=r.port, name='redis2').start())
        node = r2.wait_hash('sc:node:' + o.node_id, timeout=8)
        t_node = time.monotonic() - t0
        claim = r2.wait_hash('sc:stream:live/old', lambda h: h.get('owner') == o.node_id, 8)
        t_claim = time.monotonic() - t0
        say('redis restart: node back %.2f s, claim back %.2f s', t_node, t_claim)
        self.assertEqual(node.get('role'), 'origin', node)
        self.assertEqual(claim.get('owner'), o.node_id, claim)
        # a stream the edge never carried, published after the restart
        self.publish(o, 'new', wait_node=e1, timeout=15)
        # the old stream from an edge started after the restart
        e2 = self.edge('e2', r2)
        self.wait_playable(e2, 'old', 15)
        self.assertIsNone(rec.closed_at, 'existing player dropped: %r' % rec.error)
        gap = rec.largest_gap(since=t0 - 1)[0]
        self.assertLess(gap, 2.0, 'existing edge player stalled %.1f s across the Redis '
                        'restart' % gap)

    def test_09_linger_then_unsubscribe(self):
        r, (o,), (e,) = self.small(edge_sets={'linger': '1s'}, workers=1)
        self.publish(o, 'l', wait_node=e)    # this probe player left: linger runs
        self.assertIsNotNone(e.wait_log(r'unsubscribed stream=live/l after 1000 ms', 5))
        c = e.client()
        c.connect()
        c.create_stream()
        c.play('l', wait=False)
        c.read_until(lambda m: m.is_video_keyframe(), 10, 'keyframe')
        mark = e.mark()
        t0 = time.monotonic()
        c.close()
        m = e.wait_log(r'edge: unsubscribed stream=live/l after 1000 ms linger', 5, mark)
        dt = time.monotonic() - t0
        self.assertIsNotNone(m, 'no unsubscribe after the last player left')
        say('unsubscribed %.2f s after the last player left', dt)
        self.assertGreater(dt, 0.8, 'unsubscribed before the linger')

    def test_10_stream_not_found(self):
        r, (o,), (e,) = self.small(edge_sets={'play_wait': '2s'})
        c = e.client()
        self.addCleanup(c.close)
        c.connect()
        c.create_stream()
        t0 = time.monotonic()
        c.play('nowhere', wait=False)
        info = None
        deadline = t0 + 6
        while time.monotonic() < deadline:
            info = c.wait_status(None, timeout=max(0.1, deadline - time.monotonic()))
            if info.get('code') != 'NetStream.Play.Start' and \
                    info.get('code') != 'NetStream.Play.Reset':
                break
        dt = time.monotonic() - t0
        say('StreamNotFound after %.2f s', dt)
        self.assertEqual(info.get('code'), 'NetStream.Play.StreamNotFound', dict(info))
        self.assertGreater(dt, 1.5)
        self.assertLess(dt, 4.5)

    def test_11_max_players_redirect(self):
        r, (o,), (e1, e2) = self.small(edges=2, workers=1, edge_sets={'max_players': 1})
        edges = r.cli('zrange', 'sc:edges', 0, -1)
        deadline = time.monotonic() + 5
        while len(edges or []) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            edges = r.cli('zrange', 'sc:edges', 0, -1)
        self.assertEqual(len(edges or []), 2, 'edges not registered in sc:edges: %r' % edges)
        c1 = e1.client()
        self.addCleanup(c1.close)
        c1.connect()
        c1.create_stream()
        c1.play('full', wait=False)
        expected = 'rtmp://127.0.0.1:%d/live' % e2.port
        deadline = time.monotonic() + 8
        got, closed, tries, bad = None, 0, 0, None
        while time.monotonic() < deadline:
            c = e1.client()
            tries += 1
            got = None
            try:
                c.connect(wait=False)
                got = c.wait_result(1, timeout=5).amf
            except rtmpclient.ConnectionClosed:
                closed += 1      # reply lost: keep trying until the deadline, then report
            except rtmpclient.ProtocolError as e:
                bad = '%s; raw bytes after the handshake: %r' % (e, bytes(c.reader.buf[:64]))
                closed += 1
            finally:
                c.close()
            info = got[3] if got and len(got) > 3 and isinstance(got[3], dict) else {}
            if got and got[0] == '_error' and (info.get('ex') or {}).get('redirect'):
                break
            if closed >= 3 and e1.lines(r'over max_players=1, redirecting'):
                break            # the edge did redirect, the reply never arrived
            time.sleep(0.3)
        redirect_log = e1.lines(r'over max_players=1, (redirecting client to \S+|.*refusing)')
        self.assertIsNotNone(got, 'no usable connect reply in %d of %d tries (its log: %r; '
                             'unparseable reply: %s)'
                             % (closed, tries, [m.group(0) for m in redirect_log][-2:], bad))
        say('over max_players: %r', got[:1] + got[3:])
        self.assertEqual(got[0], '_error', got)
        info = got[3]
        self.assertEqual(info.get('code'), 'NetConnection.Connect.Rejected', info)
        self.assertEqual((info.get('ex') or {}).get('redirect'), expected, info)
        # the edge it points at takes the client
        c3 = e2.client()
        self.addCleanup(c3.close)
        c3.connect()

    def test_12_hop_latency(self):
        r, (o,), (e,) = self.small(origin_sets={'play': 'on'}, workers=1)
        self.publish(o, 'h', wait_node=e)
        ro, re_ = self.recorder(o, 'h'), self.recorder(e, 'h')
        re_.wait_video_count(10, 10)
        time.sleep(6)
        # the GOP each player got at join time arrived at join time: skip it
        steady = max(ro.t_play, re_.t_play) + 1.5
        at_origin = {}
        for t, typ, ts, n, fl in ro.video(since=steady):
            at_origin.setdefault((ts, n), t)
        diffs = [(t - at_origin[(ts, n)]) * 1000 for t, typ, ts, n, fl in re_.video()
                 if (ts, n) in at_origin]
        self.assertGreater(len(diffs), 100, 'too few matching video messages: %d' % len(diffs))
        p50, p99 = cluster.percentile(diffs, 50), cluster.percentile(diffs, 99)
        say('origin->edge hop: n=%d p50 %.2f ms p99 %.2f ms max %.2f ms', len(diffs), p50, p99,
            max(diffs))
        self.assertLess(p50, 50)
        self.assertLess(p99, 250)


if __name__ == '__main__':
    cluster.main(240)
