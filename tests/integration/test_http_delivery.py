#!/usr/bin/env python3
"""HTTP delivery at the edge (issue: HLS, LL-HLS, HTTP-FLV): real redis,
origin and edges (two workers each), ffmpeg publishing, ffmpeg/ffprobe
playing HLS (MPEG-TS and fMP4) and HTTP-FLV over HTTP.

Checks the playlists (media sequence advances, target duration holds,
segments start on a keyframe), that two workers and two edges serve the same
playlist entries and byte-identical segments and parts, LL-HLS blocking
reload, HTTP semantics (keep-alive, HEAD, ranges, CORS, cache headers,
404/405), on-demand subscription and slow HTTP-FLV readers. Prints the
measured part latency on stderr."""
import http.client
import os
import re
import signal
import socket
import sys
import time

import cluster
import harness


def say(fmt, *args):
    sys.stderr.write('  [' + (fmt % args) + '] ')
    sys.stderr.flush()


class HttpNode:
    """The HTTP side of a node: fresh connections (so SO_REUSEPORT spreads
    them over an edge's workers) or one kept alive."""

    def __init__(self, node, port):
        self.node, self.port = node, port

    def get(self, path, method='GET', headers=None, timeout=15.0):
        c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=timeout)
        try:
            c.request(method, path, headers=headers or {})
            r = c.getresponse()
            body = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, body
        finally:
            c.close()

    def url(self, path):
        return 'http://127.0.0.1:%d%s' % (self.port, path)


def playlist_entries(text):
    """[(msn, extinf, pdt, uri)] of the segments of a media playlist."""
    lines = text.splitlines()
    seq = int(re.search(r'#EXT-X-MEDIA-SEQUENCE:(\d+)', text).group(1))
    out, extinf, pdt = [], None, None
    for ln in lines:
        if ln.startswith('#EXTINF:'):
            extinf = ln
        elif ln.startswith('#EXT-X-PROGRAM-DATE-TIME:'):
            pdt = ln
        elif ln and not ln.startswith('#'):
            out.append((seq, extinf, pdt, ln))
            seq += 1
            extinf = pdt = None
    return out


def assert_numbered(tc, text):
    """Every segment's URI carries the number its playlist position gives it,
    so the numbering is continuous (no restart hidden in the window)."""
    for msn, _, _, uri in playlist_entries(text):
        m = re.search(r'(\d+)\.(ts|m4s)$', uri)
        tc.assertTrue(m and int(m.group(1)) == msn, 'segment %r at media sequence %d:\n%s' % (uri, msn, text))


def around_discontinuity(text):
    """(last segment number before the first EXT-X-DISCONTINUITY, first after),
    or None while there is no segment on both sides."""
    ents = playlist_entries(text)
    seen, k = False, 0
    for ln in text.splitlines():
        if ln == '#EXT-X-DISCONTINUITY':
            seen = True
        elif ln and not ln.startswith('#'):
            if seen:
                return (ents[k - 1][0], ents[k][0]) if k > 0 else None
            k += 1
    return None


class HttpDelivery(cluster.ClusterTestCase):

    def setup_cluster(self, edges=2, edge_sets=None):
        r = self.redis()
        o = self.origin('oA', r, sets={'http_listen': '127.0.0.1:%d' % harness.free_port(),
                                       'hls_segment_duration': '2s'})
        es = []
        for i in range(edges):
            port = harness.free_port()
            sets = {'http_listen': '127.0.0.1:%d' % port, 'hls_part_duration': '500ms'}
            sets.update(edge_sets or {})
            e = self.edge('e%d' % (i + 1), r, sets=sets)
            es.append((e, HttpNode(e, port)))
        return r, o, es

    def wait_playlist(self, h, path, segments=3, timeout=30.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            st, hdr, body = h.get(path)
            last = (st, body[:200])
            if st == 200:
                ents = playlist_entries(body.decode())
                if len(ents) >= segments:
                    return body.decode(), hdr
            time.sleep(0.3)
        raise AssertionError('playlist %s never had %d segments: %r' % (path, segments, last))

    def test_01_hls_ts_fmp4_flv_decode_and_validate(self):
        r, o, [(e1, h1), (e2, h2)] = self.setup_cluster()
        self.publish(o, 'h', wait_node=e1)
        text, hdr = self.wait_playlist(h1, '/live/h.m3u8', 3)
        self.assertEqual(hdr.get('content-type'), 'application/vnd.apple.mpegurl')
        self.assertEqual(hdr.get('access-control-allow-origin'), '*')
        self.assertIn('no-cache', hdr.get('cache-control', ''))
        self.assertIn('#EXTM3U', text)
        target = int(re.search(r'#EXT-X-TARGETDURATION:(\d+)', text).group(1))
        ents = playlist_entries(text)
        for msn, extinf, pdt, uri in ents:
            dur = float(extinf[len('#EXTINF:'):].split(',')[0])
            self.assertLessEqual(round(dur), target, 'segment %d longer than the target: %s' % (msn, text))
            self.assertIsNotNone(pdt, 'no EXT-X-PROGRAM-DATE-TIME before segment %d:\n%s' % (msn, text))
            self.assertTrue(uri.endswith('.ts'), uri)
        # the media sequence advances
        first = ents[0][0]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            st, _, body = h1.get('/live/h.m3u8')
            if playlist_entries(body.decode())[-1][0] > ents[-1][0]:
                break
            time.sleep(0.5)
        else:
            self.fail('media sequence did not advance past %d' % ents[-1][0])
        say('first msn %d', first)
        self.assertNotIn('#EXT-X-DISCONTINUITY\n', text, 'a steady stream has no discontinuity')
        # a segment starts with a keyframe and decodes
        msn, _, _, uri = ents[-1]
        st, shdr, seg = h1.get('/live/' + uri)
        self.assertEqual(st, 200)
        self.assertEqual(shdr.get('content-type'), 'video/mp2t')
        self.assertIn('max-age', shdr.get('cache-control', ''))
        path = harness.tmp_path('seg.ts')
        with open(path, 'wb') as f:
            f.write(seg)
        res = harness.run(['ffprobe', '-v', 'error', '-select_streams', 'v:0', '-show_frames',
                           '-show_entries', 'frame=key_frame', '-of', 'csv=p=0', path], 20)
        keys = res.stdout.decode().split()
        self.assertTrue(keys and keys[0].startswith('1'), 'segment does not start with a keyframe: %r'
                        % keys[:5])
        self.assertGreaterEqual(len(keys), 40, 'a 2 s segment at 25 fps: %r frames' % len(keys))
        # ffmpeg plays HLS (TS), LL-HLS (fMP4) and HTTP-FLV from the edge
        for path, what in (('/live/h.m3u8', 'hls-ts'), ('/live/h.ll.m3u8', 'hls-fmp4'),
                           ('/live/h.flv', 'http-flv')):
            res = harness.DecodeProc(h2.url(path), 50, 40).result()
            self.assertEqual(res.rc, 0, '%s: %r' % (what, res))
            self.assertGreaterEqual(res.frames, 50, '%s: %r' % (what, res))
        streams = cluster.probe_streams(h1.url('/live/h.flv'))
        v, a = cluster.video_audio(streams)
        self.assertEqual((v.get('codec_name'), v.get('width')), ('h264', 320), streams)
        self.assertEqual(a.get('codec_name'), 'aac', streams)
        text = self.wait_playlist(h1, '/live/h.ll.m3u8', 2)[0]
        self.assertIn('#EXT-X-MAP:URI="h/init-', text)
        self.assertIn('#EXT-X-PART:', text)
        self.assertIn('#EXT-X-PRELOAD-HINT:TYPE=PART', text)
        self.assertIn('CAN-BLOCK-RELOAD=YES', text)
        # viewers per protocol in /v1/streams
        st, _, body = h1.get('/v1/streams')
        self.assertEqual(st, 200)
        self.assertRegex(body.decode(), r'"hls":[1-9]')

    def test_02_same_bytes_across_workers_and_edges(self):
        r, o, [(e1, h1), (e2, h2)] = self.setup_cluster()
        self.publish(o, 's', wait_node=e1)
        # every packager (2 edges x 2 workers x 2 formats) starts at its own
        # moment: each worker starts packaging on the first request it gets
        self.wait_playlist(h1, '/live/s.m3u8', 1)
        self.wait_playlist(h1, '/live/s.ll.m3u8', 1)
        for h in (h1, h2):
            for _ in range(3):
                for pl in ('/live/s.m3u8', '/live/s.ll.m3u8'):
                    for _ in range(4):   # fresh connections: SO_REUSEPORT spreads them
                        try:
                            h.get(pl, timeout=0.5)
                        except OSError:
                            pass
                time.sleep(1.1)
        time.sleep(8)   # let every packager complete the same segments
        for pl, ext in (('/live/s.m3u8', '.ts'), ('/live/s.ll.m3u8', '.m4s')):
            views = []
            for h in (h1, h1, h1, h1, h2, h2, h2, h2):   # fresh connections: both workers
                st, _, body = h.get(pl)
                self.assertEqual(st, 200)
                views.append(playlist_entries(body.decode()))
            common = set.intersection(*[set(e[0] for e in v) for v in views])
            self.assertGreaterEqual(len(common), 2, 'packagers share too few segments: %r' % views)
            for msn in sorted(common):
                entries = {tuple(x for x in v if x[0] == msn)[0] for v in views}
                self.assertEqual(len(entries), 1, 'segment %d listed differently: %r' % (msn, entries))
            msn = sorted(common)[-1]
            uri = [x for x in views[0] if x[0] == msn][0][3]
            bodies = set()
            for h in (h1, h1, h1, h1, h2, h2, h2, h2):
                st, _, body = h.get('/live/' + uri)
                self.assertEqual(st, 200, uri)
                bodies.add(body)
            self.assertEqual(len(bodies), 1, '%s differs between workers/edges (%d versions)'
                             % (uri, len(bodies)))
            say('%s msn %d identical on 2 edges x 2 workers (%d bytes)', ext, msn, len(bodies.pop()))
        # fMP4 parts and the init segment too
        st, _, body = h1.get('/live/s.ll.m3u8')
        text = body.decode()
        init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', text).group(1)
        part = re.findall(r'#EXT-X-PART:[^\n]*URI="([^"]+)"', text)[0]
        for uri in (init, part):
            bodies = {h.get('/live/' + uri)[2] for h in (h1, h1, h1, h2, h2, h2)}
            self.assertEqual(len(bodies), 1, '%s differs between workers/edges' % uri)

    def test_03_ll_hls_blocking_reload_and_latency(self):
        r, o, [(e1, h1)] = self.setup_cluster(edges=1)
        self.publish(o, 'll', wait_node=e1)
        text = self.wait_playlist(h1, '/live/ll.ll.m3u8', 1)[0]
        lat = []
        for _ in range(8):
            st, _, body = h1.get('/live/ll.ll.m3u8')
            text = body.decode()
            hint = re.search(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="[^"]*?(\d+)\.(\d+)\.m4s"', text)
            self.assertIsNotNone(hint, text)
            msn, part = int(hint.group(1)), int(hint.group(2))
            t0 = time.monotonic()
            st, _, body = h1.get('/live/ll.ll.m3u8?_HLS_msn=%d&_HLS_part=%d' % (msn, part))
            waited = time.monotonic() - t0
            self.assertEqual(st, 200, body)
            text = body.decode()
            self.assertRegex(text, r'URI="[^"]*%d\.%d\.m4s"' % (msn, part),
                             'blocking reload returned without the part:\n' + text)
            self.assertLess(waited, 3.0, 'blocking reload took %.2f s' % waited)
            # latency: the part's end on the origin's wall clock -> available here
            now = time.time()
            lat.append(self.part_latency(text, msn, part, now))
        lat = [x for x in lat if x is not None]
        self.assertTrue(lat, 'no latency sample')
        lat.sort()
        say('LL-HLS part available %.0f ms (median) / %.0f ms (max) after its last frame was ingested',
            lat[len(lat) // 2] * 1000, lat[-1] * 1000)
        # a part far ahead: 400; a part just published: served
        st, _, _ = h1.get('/live/ll.ll.m3u8?_HLS_msn=%d' % (msn + 50))
        self.assertEqual(st, 400)
        st, hdr, body = h1.get('/live/ll/%d.%d.m4s' % (msn, part))
        self.assertEqual(st, 200)
        self.assertEqual(hdr.get('content-type'), 'video/mp4')

    def part_latency(self, text, msn, part, now):
        """Seconds from the end of part (msn, part) on the origin's clock to now."""
        import datetime
        cur_pdt, cur_msn = None, int(re.search(r'#EXT-X-MEDIA-SEQUENCE:(\d+)', text).group(1))
        offset = 0.0
        for ln in text.splitlines():
            if ln.startswith('#EXT-X-PROGRAM-DATE-TIME:'):
                cur_pdt = datetime.datetime.strptime(ln.split(':', 1)[1], '%Y-%m-%dT%H:%M:%S.%fZ') \
                    .replace(tzinfo=datetime.timezone.utc).timestamp()
                offset = 0.0
            elif ln.startswith('#EXT-X-PART:'):
                d = float(re.search(r'DURATION=([\d.]+)', ln).group(1))
                offset += d
                if re.search(r'URI="[^"]*%d\.%d\.m4s"' % (msn, part), ln) and cur_pdt is not None:
                    return now - (cur_pdt + offset)
            elif ln and not ln.startswith('#'):
                cur_msn += 1
                cur_pdt = None
        return None

    def test_04_http_semantics(self):
        r, o, [(e1, h1)] = self.setup_cluster(edges=1)
        self.publish(o, 'm', wait_node=e1)
        text = self.wait_playlist(h1, '/live/m.m3u8', 2)[0]
        uri = playlist_entries(text)[-1][3]
        st, hdr, full = h1.get('/live/' + uri)
        self.assertEqual(st, 200)
        self.assertEqual(hdr.get('accept-ranges'), 'bytes')
        # HEAD: same length, no body
        st, hhdr, body = h1.get('/live/' + uri, method='HEAD')
        self.assertEqual((st, body), (200, b''))
        self.assertEqual(int(hhdr['content-length']), len(full))
        # ranges
        st, rhdr, part = h1.get('/live/' + uri, headers={'Range': 'bytes=188-375'})
        self.assertEqual(st, 206)
        self.assertEqual(part, full[188:376])
        self.assertEqual(rhdr.get('content-range'), 'bytes 188-375/%d' % len(full))
        st, _, tail = h1.get('/live/' + uri, headers={'Range': 'bytes=-188'})
        self.assertEqual((st, tail), (206, full[-188:]))
        st, rhdr, _ = h1.get('/live/' + uri, headers={'Range': 'bytes=%d-' % (len(full) + 10)})
        self.assertEqual(st, 416)
        # keep-alive: several requests on one connection
        c = http.client.HTTPConnection('127.0.0.1', h1.port, timeout=10)
        for p in ('/live/m.m3u8', '/live/' + uri, '/v1/stats', '/live/m.m3u8'):
            c.request('GET', p)
            resp = c.getresponse()
            resp.read()
            self.assertEqual(resp.status, 200, p)
        c.close()
        # a long token (a JWT, say) travels into the segment URIs; one too long is refused, not cut
        token = 'token=' + 'a' * 600
        st, _, body = h1.get('/live/m.m3u8?' + token + '&_HLS_skip=NO')
        self.assertEqual(st, 200, body)
        self.assertIn('.ts?' + token + '\n', body.decode())
        st, _, body = h1.get('/live/m.m3u8?token=' + 'b' * 1100)
        self.assertEqual(st, 414, body)
        # errors say why
        st, _, body = h1.get('/live/m/123.ts')
        self.assertEqual(st, 404)
        self.assertIn(b'segment', body)
        st, _, body = h1.get('/live/m/nonsense.xyz')
        self.assertEqual(st, 404)
        st, hdr, body = h1.get('/live/m.m3u8', method='POST')
        self.assertEqual(st, 405)
        self.assertIn('GET', hdr.get('allow', ''))
        t0 = time.monotonic()
        st, _, body = h1.get('/live/nobody.m3u8', timeout=20)
        self.assertEqual(st, 404, body)
        self.assertIn(b'not found', body)
        self.assertLess(time.monotonic() - t0, 12)
        # garbage request: 400, the edge keeps serving
        s = socket.create_connection(('127.0.0.1', h1.port), timeout=5)
        s.sendall(b'\x16\x03\x01garbage\r\n\r\n')
        self.assertIn(b'400', s.recv(200))
        s.close()
        st, _, _ = h1.get('/live/m.m3u8')
        self.assertEqual(st, 200)
        # the status page and the vendored player
        st, hdr, body = h1.get('/')
        self.assertEqual(st, 200)
        self.assertIn(b'<html', body.lower())
        st, hdr, body = h1.get('/vendor/hls.min.js')
        self.assertEqual(st, 200)
        self.assertGreater(len(body), 100000)

    def test_05_on_demand_subscription_and_slow_reader(self):
        r, o, [(e1, h1)] = self.setup_cluster(edges=1, edge_sets={
            'hls_idle_timeout': '3s', 'linger': '1s', 'workers': 1,
            'player_max_queue': '256k', 'player_max_behind': '3s', 'socket_sndbuf': '16k',
            'http_flv_max_players': 2})
        self.publish(o, 'od', size='640x360')
        time.sleep(2)   # the origin has it; this edge does not carry it yet
        mark = e1.mark()
        self.wait_playlist(h1, '/live/od.m3u8', 1, timeout=30)
        self.assertTrue(e1.wait_log(r'edge: subscribed stream=live/od', 5, mark),
                        'HLS request did not subscribe the edge')
        # nobody asks any more: rendition dropped, then unsubscribed
        self.assertTrue(e1.wait_log(r'hls: stream=live/od .* idle', 10, mark),
                        'rendition never dropped')
        self.assertTrue(e1.wait_log(r'unsubscribed stream=live/od', 10, mark),
                        'edge kept the subscription without viewers')
        # a slow HTTP-FLV reader is cut off; a normal one keeps playing
        mark = e1.mark()
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(('127.0.0.1', h1.port))
        slow.sendall(b'GET /live/od.flv HTTP/1.1\r\nHost: x\r\n\r\n')
        self.assertTrue(e1.wait_log(r'http-flv start stream=live/od', 10, mark))
        dec = harness.DecodeProc(h1.url("/live/od.flv"), 150, 40)
        time.sleep(1.0)
        st, hdr, body = h1.get('/live/od.flv')   # a third one: over http_flv_max_players
        self.assertEqual(st, 503, body)
        self.assertIn(b'too many', body)
        self.assertIn('retry-after', hdr)
        res = dec.result()
        self.assertEqual(res.rc, 0, res)
        self.assertGreaterEqual(res.frames, 150, res)
        self.assertTrue(e1.wait_log(r'http-flv end stream=live/od .*reason="player too slow', 20, mark),
                        'the slow reader was not cut off')
        slow.close()

    def test_06_publisher_change_is_a_discontinuity(self):
        r, o, [(e1, h1)] = self.setup_cluster(edges=1)
        pub = self.publish(o, 'd', wait_node=e1)
        text = self.wait_playlist(h1, '/live/d.m3u8', 2)[0]
        before = playlist_entries(text)
        pub.stop()
        time.sleep(1.0)
        self.publish(o, 'd')
        deadline = time.monotonic() + 25
        while time.monotonic() < deadline:
            st, _, body = h1.get('/live/d.m3u8')
            text = body.decode()
            if st == 200 and '#EXT-X-DISCONTINUITY\n' in text:
                lines = text.splitlines()
                i = lines.index('#EXT-X-DISCONTINUITY')
                after = [ln for ln in lines[i:] if ln and not ln.startswith('#')]
                if after:
                    break
            time.sleep(0.5)
        else:
            self.fail('no EXT-X-DISCONTINUITY after the publisher changed:\n' + text)
        assert_numbered(self, text)
        msns = [e[0] for e in playlist_entries(text)]
        self.assertTrue(set(msns) & set(e[0] for e in before) or msns[0] <= before[-1][0] + 1,
                        'the playlist restarted instead of continuing:\n' + text)
        res = harness.DecodeProc(h1.url('/live/d.m3u8'), 30, 40).result()
        self.assertEqual(res.rc, 0, res)

    def test_07_hls_player_survives_origin_failover(self):
        r = self.redis()
        oa = self.origin('oA', r)
        ob = self.origin('oB', r)
        port = harness.free_port()
        e1 = self.edge('e1', r, sets={'http_listen': '127.0.0.1:%d' % port})
        h1 = HttpNode(e1, port)
        pa = self.publish(oa, 'fo', wait_node=e1)
        before = playlist_entries(self.wait_playlist(h1, '/live/fo.m3u8', 2)[0])
        # an HLS player that must get through the failover: 18 s of video
        dec = harness.DecodeProc(h1.url('/live/fo.m3u8'), 450, 60)
        time.sleep(3)
        oa.stop(signal.SIGKILL)
        pa.stop()                     # the encoder reconnects through the LB...
        self.publish(ob, 'fo')        # ...and lands on origin B
        # Origin B continues the numbering origin A left in Redis: the edge's
        # playlist goes on with a discontinuity instead of restarting.
        deadline = time.monotonic() + 30
        text, around = '', None
        while time.monotonic() < deadline:
            st, _, body = h1.get('/live/fo.m3u8')
            if st == 200:
                text = body.decode()
                around = around_discontinuity(text)
                if around:
                    break
            time.sleep(0.5)
        self.assertIsNotNone(around, 'no segments on both sides of a discontinuity after the failover:\n' + text)
        assert_numbered(self, text)
        self.assertGreaterEqual(around[0], before[-1][0], 'the segment before the discontinuity is not origin A\'s')
        self.assertEqual(around[1], around[0] + 1, text)
        self.assertTrue(ob.wait_log(r'claimed stream=live/fo epoch=\d+ \(HLS segments continue after [1-9]', 1),
                        'origin B did not get origin A\'s last segment from Redis')
        say('after the failover: segment %d (origin A), discontinuity, segment %d (origin B)', around[0], around[1])
        res = dec.result()
        self.assertEqual(res.rc, 0, 'HLS player did not get through the failover: %r' % res)
        self.assertGreaterEqual(res.frames, 450, res)
        say('HLS player decoded %d frames across the failover in %.1f s', res.frames, res.elapsed)

    def test_08_draining_edge_keeps_http_flv_players(self):
        """SIGTERM on an edge: no new HTTP connection gets in, an HTTP-FLV
        player keeps receiving until drain_timeout, then the edge exits."""
        r = self.redis()
        o = self.origin('oA', r)
        port = harness.free_port()
        e1 = self.edge('e1', r, sets={'http_listen': '127.0.0.1:%d' % port, 'drain_timeout': '3s'})
        h1 = HttpNode(e1, port)
        self.publish(o, 'dr', wait_node=e1)
        s = socket.create_connection(('127.0.0.1', port), timeout=5)
        s.sendall(b'GET /live/dr.flv HTTP/1.1\r\nHost: x\r\n\r\n')
        got = b''
        while b'FLV' not in got and len(got) < 65536:
            got += s.recv(65536)
        self.assertIn(b' 200 ', got.split(b'\r\n', 1)[0])
        t_term = time.monotonic()
        os.kill(e1.pid, signal.SIGTERM)
        refused = False
        while not refused and time.monotonic() - t_term < 3:
            time.sleep(0.2)
            try:
                h1.get('/v1/stats', timeout=2)
            except OSError:
                refused = True
        self.assertTrue(refused, 'new HTTP connections still got in 3 s into the drain')
        # the player keeps getting media until the drain ends
        s.settimeout(1.0)
        last_byte, closed_at = t_term, None
        while time.monotonic() - t_term < 12:
            try:
                b = s.recv(65536)
            except socket.timeout:
                continue
            if not b:
                closed_at = time.monotonic() - t_term
                break
            last_byte = time.monotonic()
        s.close()
        self.assertIsNotNone(closed_at, 'the FLV player was never closed after the drain')
        self.assertGreaterEqual(last_byte - t_term, 2.4,
                                'the FLV player stopped getting media %.2f s after SIGTERM (drain 3 s)'
                                % (last_byte - t_term))
        self.assertIsNotNone(e1.proc.wait(timeout=10), 'the edge did not exit after its drain')
        say('HTTP-FLV player fed for %.1f s of a 3 s drain, closed at %.1f s', last_byte - t_term, closed_at)


if __name__ == '__main__':
    cluster.main(300)
