#!/usr/bin/env python3
"""The cluster across "hosts": one network namespace each for redis, origin
A, origin B, edge 1, edge 2 and the clients, joined by a bridge in a
namespace of its own (10.77.N.0/24, N random per run). Nothing is created in
the root namespace; everything is removed at the end, even on failure.

Checks publish/play across hosts, failover when origin A is killed, and
failover when origin A's link is cut (the encoder re-publishes to B; edge
players keep their connection and get video again)."""
import signal
import sys
import time
import unittest

import cluster

HOSTS = ('redis', 'oA', 'oB', 'e1', 'e2', 'cl')


def say(fmt, *args):
    sys.stderr.write('  [' + (fmt % args) + '] ')
    sys.stderr.flush()


class MultiHost(cluster.ClusterTestCase):
    topo = None

    @classmethod
    def setUpClass(cls):
        why = cluster.netns_available()
        if why:
            raise unittest.SkipTest('network namespaces unavailable (%s): multi-host tests need '
                                    'root and iproute2' % why)
        cluster.require_cluster_tools()
        cls.topo = cluster.Topology(HOSTS)
        try:
            cls.topo.setup()
        except Exception:
            cls.topo.cleanup()
            raise
        cls.addClassCleanup(cls.topo.cleanup)

    def cluster(self, edges=('e1',), origins=('oA',)):
        t = self.topo
        r = self.track(cluster.Redis(host=t.ip('redis'), port=6379, ns=t.ns('redis')).start())
        os_ = [self.track(cluster.Origin(h, r, host=t.ip(h), ns=t.ns(h)).start()) for h in origins]
        es = [self.track(cluster.Edge(h, r, host=t.ip(h), ns=t.ns(h)).start()) for h in edges]
        for n in os_ + es:
            n.client_ns = t.ns('cl')
        return r, os_, es

    def pub(self, origin, stream, wait_node=None):
        return self.publish(origin, stream, wait_node=wait_node, ns=self.topo.ns('cl'))

    def test_1_publish_play_across_hosts(self):
        r, (oa,), (e1, e2) = self.cluster(edges=('e1', 'e2'))
        self.pub(oa, 'mh', wait_node=e1)
        claim = r.hgetall('sc:stream:live/mh')
        self.assertEqual(claim.get('pub'), 'tcp://%s:%d' % (self.topo.ip('oA'), oa.port + 1),
                         claim)
        v, a = cluster.video_audio(cluster.probe_streams(e1.url('mh'), ns=self.topo.ns('cl')))
        self.assertEqual((v.get('codec_name'), v.get('width'), v.get('height')),
                         ('h264', 320, 240), v)
        self.assertEqual(a.get('codec_name'), 'aac', a)
        d1 = self.decoder(e1, 'mh', 50, 30, ns=self.topo.ns('cl'))
        d2 = self.decoder(e2, 'mh', 50, 30, ns=self.topo.ns('cl'))
        for d in (d1.result(), d2.result()):
            self.assertEqual(d.rc, 0, d)
            self.assertGreaterEqual(d.frames, 50, d)

    def failover(self, cut_link):
        r, (oa, ob), (e1,) = self.cluster(origins=('oA', 'oB'))
        pa = self.pub(oa, 'fo', wait_node=e1)
        rec = self.recorder(e1, 'fo')
        tk = rec.wait_keyframe(10)
        say('snapshot join across hosts %.0f ms', (tk - rec.t_play) * 1000)
        rec.wait_video_count(50, 10)
        t_cut = time.monotonic()
        if cut_link:
            self.topo.link('oA', up=False)
            self.addCleanup(self.topo.link, 'oA', True)
        else:
            oa.stop(signal.SIGKILL)
        pa.stop()                     # the encoder gives up on A (its LB sends it to B)
        self.pub(ob, 'fo')
        t_key = rec.wait_keyframe(25, since=t_cut + 0.05)
        rec.wait_video_count(len(rec.video()) + 50, 10)
        gap = rec.largest_gap(since=t_cut - 1)[0]
        say('%s: gap %.0f ms, cut -> keyframe %.0f ms', 'link cut' if cut_link else 'kill -9',
            gap * 1000, (t_key - t_cut) * 1000)
        self.assertIsNone(rec.closed_at, 'edge player connection closed: %r' % rec.error)
        self.assert_monotonic(rec)
        claim = r.hgetall('sc:stream:live/fo')
        self.assertEqual(claim.get('owner'), ob.node_id, claim)
        return r, oa, ob, e1, rec

    def test_2_failover_origin_killed(self):
        self.failover(cut_link=False)

    def test_3_failover_link_cut(self):
        r, oa, ob, e1, rec = self.failover(cut_link=True)
        # A comes back believing it still has a publisher: it must yield, and
        # the edge must stay on B.
        mark = oa.mark()
        t_back = time.monotonic()
        self.topo.link('oA', up=True)
        m = oa.wait_log(r'claim on live/fo .*lost', 10, mark)
        say('origin A back: %s after %.1f s', 'yielded' if m else 'did NOT yield',
            time.monotonic() - t_back)
        time.sleep(3)
        n_before = len(rec.video(since=t_back))
        self.assertGreater(n_before, 50, 'edge player stalled after origin A came back')
        self.assertEqual(r.hgetall('sc:stream:live/fo').get('owner'), ob.node_id)
        self.assertIsNone(rec.closed_at, 'edge player connection closed: %r' % rec.error)
        self.assert_monotonic(rec)
        self.assertIsNotNone(m, 'origin A did not notice it lost the claim of live/fo')


if __name__ == '__main__':
    cluster.main(240)
