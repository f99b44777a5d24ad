#!/usr/bin/env python3
"""Publish and play authorization on the origin: HMAC-signed keys
(name?exp=UNIX&sig=HEX), static key lists (reloaded on SIGHUP), IP allow/deny
lists, and the on_publish / on_play / on_done webhooks (allow, deny, rename,
timeout under fail-open and fail-closed). Refused clients see the status code
and are disconnected; the server log never shows a secret or a signature."""
import hashlib
import hmac
import http.client
import http.server
import json
import os
import signal
import socket
import threading
import time
import unittest
import urllib.parse
import urllib.request

import cluster
import harness
import rtmpclient

PUB_SECRET = 'pub-secret-4f1c9a'
PLAY_SECRET = 'play-secret-77e0b2'


def sign(secret, name, exp, app='live'):
    msg = ('%s/%s?exp=%d' % (app, name, exp)).encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def signed(secret, name, ttl=600, app='live'):
    exp = int(time.time()) + ttl
    return '%s?exp=%d&sig=%s' % (name, exp, sign(secret, name, exp, app))


class BoundClient(rtmpclient.RtmpClient):
    """The raw client with its socket bound to a chosen source address."""

    def __init__(self, port, source, timeout=5.0):
        orig = socket.socket

        class Bound(orig):
            def connect(self, addr):
                self.bind((source, 0))
                return orig.connect(self, addr)
        socket.socket = Bound
        try:
            super().__init__('127.0.0.1', port, timeout=timeout)
        finally:
            socket.socket = orig


class Hooks:
    """A tiny webhook server: /allow 200, /deny 403, /rename 302 with a
    Location, /slow answers after 2 s, /done records on_done calls, /byname
    decides by the stream name (no* 403, old* 302 to ok*, else 200)."""

    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()
        hooks = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get('Content-Length', '0'))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode(), keep_blank_values=True))
                with hooks.lock:
                    hooks.calls.append((self.path, form))
                try:
                    if self.path == '/slow':
                        time.sleep(2.0)
                    name = form.get('name', '')
                    if self.path == '/deny' or (self.path == '/byname' and name.startswith('no')):
                        self.send_response(403)
                    elif self.path == '/byname' and name.startswith('old'):
                        self.send_response(302)
                        self.send_header('Location', 'rtmp://127.0.0.1/live/ok' + name[3:])
                    elif self.path == '/rename':
                        self.send_response(302)
                        self.send_header('Location', 'rtmp://127.0.0.1/live/renamed')
                    else:
                        self.send_response(200)
                    self.send_header('Content-Length', '0')
                    self.end_headers()
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return 'http://127.0.0.1:%d%s' % (self.port, path)

    def wait_call(self, path, pred=lambda f: True, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for p, f in self.calls:
                    if p == path and pred(f):
                        return f
            time.sleep(0.05)
        return None

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class AuthTestCase(unittest.TestCase):
    """Each test starts its own origin with its own directives."""

    def setUp(self):
        harness.require_tools('ffmpeg', 'ffprobe')
        if not harness.SERVER_KIND == 'origin':
            self.skipTest('authorization directives are our origin\'s')
        self.server = None

    def start(self, **sets):
        self.server = harness.Server(self.id().split('.')[-1], sets)
        self.server.start()
        self.addCleanup(self.server.stop)
        return self.server

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before and self.server:
            print('\n----- server log tail -----\n%s\n-----' % harness.tail(self.server.log_path))
        return out

    def raw(self, source=None):
        c = BoundClient(self.server.port, source, 5.0) if source else self.server.client(timeout=5)
        self.addCleanup(c.close)
        return c

    def publish_status(self, name, source=None):
        """Raw publish; returns (first onStatus info, closed by the server afterwards)."""
        c = self.raw(source)
        c.connect()
        c.create_stream()
        c.publish(name, wait=False)
        info = dict(c.wait_status(None, timeout=5))
        closed = c.wait_closed(3.0) if info.get('level') == 'error' else False
        return info, closed

    def play_status(self, name, source=None):
        c = self.raw(source)
        c.connect()
        c.create_stream()
        c.play(name, wait=False)
        info = dict(c.wait_status(None, timeout=5))
        closed = c.wait_closed(3.0) if info.get('level') == 'error' else False
        return info, closed

    def assert_refused(self, got, code, reason):
        info, closed = got
        self.assertEqual(info.get('code'), code, info)
        self.assertEqual(info.get('level'), 'error', info)
        self.assertIn(reason, info.get('description', ''), info)
        self.assertTrue(closed, 'refused client was not disconnected')

    def assert_no_secrets(self, *sigs):
        log = self.server.log()
        for s in (PUB_SECRET, PLAY_SECRET) + sigs:
            self.assertNotIn(s, log, 'secret or signature in the server log')
        self.assertNotIn('sig=' + '0' * 8, log)

    def wait_playable(self, play_name, proc, timeout=20.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError('publisher exited with %s: %s'
                                     % (proc.returncode, harness.tail(proc.log_path, 10)))
            c = None
            try:
                c = self.server.client(timeout=5)
                c.connect()
                c.create_stream()
                c.play(play_name, wait=False)
                c.read_until(lambda m: m.is_video_keyframe(), timeout=5, what='keyframe')
                return
            except (OSError, rtmpclient.ConnectionClosed, rtmpclient.ProtocolError, TimeoutError) as e:
                last = e
                time.sleep(0.3)
            finally:
                if c:
                    c.close()
        raise AssertionError('not playable: %r' % last)


class SignedKeys(AuthTestCase):
    def test_signed_publish_and_play(self):
        self.start(publish_secret=PUB_SECRET, play_secret=PLAY_SECRET)
        pub = signed(PUB_SECRET, 'cam1')
        p = harness.start_publisher(self.server.url(pub), 'pub-signed')
        self.addCleanup(harness.kill, p)
        play = signed(PLAY_SECRET, 'cam1')
        self.wait_playable(play, p)
        d = harness.decode(self.server.url(play), 25, 20)
        self.assertEqual(d.rc, 0, d)
        self.assertGreaterEqual(d.frames, 25, d)
        # The play secret does not sign publishes and vice versa.
        self.assert_refused(self.play_status(signed(PUB_SECRET, 'cam1')), 'NetStream.Play.Failed',
                            'Unauthorized: bad signature')
        self.assert_refused(self.play_status('cam1'), 'NetStream.Play.Failed', 'Unauthorized: missing signed key')
        self.assert_no_secrets(pub.split('sig=')[1], play.split('sig=')[1])
        self.assertIsNotNone(self.server.wait_log(r'play refused stream=live/cam1 .*query="exp=\d+&sig=<redacted>"'))

    def test_expired_wrong_missing_tampered(self):
        http_port = harness.free_port()
        self.start(publish_secret=PUB_SECRET, http_listen='127.0.0.1:%d' % http_port)
        exp = int(time.time()) - 5
        expired = 'k1?exp=%d&sig=%s' % (exp, sign(PUB_SECRET, 'k1', exp))
        self.assert_refused(self.publish_status(expired), 'NetStream.Publish.Unauthorized', 'signed key expired')
        good = signed(PUB_SECRET, 'k2')
        wrong = good[:-1] + ('0' if good[-1] != '0' else '1')
        self.assert_refused(self.publish_status(wrong), 'NetStream.Publish.Unauthorized', 'bad signature')
        self.assert_refused(self.publish_status('k3'), 'NetStream.Publish.Unauthorized', 'missing signed key')
        # A signature for k2 does not open k2b.
        self.assert_refused(self.publish_status('k2b?' + good.split('?')[1]), 'NetStream.Publish.Unauthorized',
                            'bad signature')
        self.assert_refused(self.publish_status('k4?exp=soon&sig=abc'), 'NetStream.Publish.Unauthorized',
                            'malformed signed key')
        # And the genuine one still works on a fresh connection.
        info, _ = self.publish_status(good)
        self.assertEqual(info.get('code'), 'NetStream.Publish.Start', info)
        self.assert_no_secrets(expired.split('sig=')[1], good.split('sig=')[1], wrong.split('sig=')[1])
        for what in ('signed key expired', 'bad signature', 'missing signed key'):
            self.assertIsNotNone(self.server.wait_log(r'publish refused .*reason="%s' % what, 2), what)
        # One line per refusal, counted by reason; stats carry no secrets.
        self.assertEqual(len([l for l in self.server.log().splitlines() if 'publish refused' in l]), 5)
        base = 'http://127.0.0.1:%d' % http_port
        stats = json.loads(urllib.request.urlopen(base + '/v1/stats', timeout=5).read())['counters']
        self.assertEqual((stats['auth_refused_expired'], stats['auth_refused_signature'],
                          stats['auth_refused_missing'], stats['auth_refused_malformed']), (1, 2, 1, 1), stats)
        self.assertEqual(stats['publish_refused'], 5, stats)
        metrics = urllib.request.urlopen(base + '/metrics', timeout=5).read().decode()
        self.assertIn('sc_auth_refused_signature_total{', metrics)
        self.assertNotIn(PUB_SECRET, metrics + json.dumps(stats))


class StaticKeys(AuthTestCase):
    def test_key_list_and_reload(self):
        path = harness.tmp_path('keys-%d.txt' % time.monotonic_ns())
        with open(path, 'w') as f:
            f.write('# encoders\nkey-alpha\n\n  key-beta  \n')
        self.start(publish_keys_file='live=%s' % path)
        info, _ = self.publish_status('key-alpha')
        self.assertEqual(info.get('code'), 'NetStream.Publish.Start', info)
        self.assert_refused(self.publish_status('key-gamma'), 'NetStream.Publish.Unauthorized', 'unknown stream key')
        # Another application has no list: open.
        c = self.raw()
        c.connect(app='other')
        c.create_stream()
        c.publish('anything', wait=True)
        # SIGHUP re-reads the file.
        with open(path, 'a') as f:
            f.write('key-gamma\n')
        os.kill(self.server.proc.pid, signal.SIGHUP)
        self.assertIsNotNone(self.server.wait_log(r'configuration reloaded', 5))
        info, _ = self.publish_status('key-gamma')
        self.assertEqual(info.get('code'), 'NetStream.Publish.Start', info)
        self.assertNotIn('key-beta', self.server.log())


class IpLists(AuthTestCase):
    def test_denied_address(self):
        self.start(publish_deny='127.0.0.2/32, ::1', play_allow='127.0.0.1')
        self.assert_refused(self.publish_status('ipcam', source='127.0.0.2'), 'NetStream.Publish.Unauthorized',
                            'address not allowed')
        info, _ = self.publish_status('ipcam', source='127.0.0.1')
        self.assertEqual(info.get('code'), 'NetStream.Publish.Start', info)
        self.assert_refused(self.play_status('ipcam', source='127.0.0.2'), 'NetStream.Play.Failed',
                            'Unauthorized: address not allowed')
        info, _ = self.play_status('ipcam', source='127.0.0.1')
        self.assertEqual(info.get('code'), 'NetStream.Play.Start', info)
        self.assertIsNotNone(self.server.wait_log(r'publish refused .*peer=127\.0\.0\.2:\d+ .*address not allowed'))

    def test_malformed_cidr_refused_at_start(self):
        r = harness.run([harness.origin_binary(), '--listen', '127.0.0.1:%d' % harness.free_port(),
                         '--set', 'play_deny=10.0.0.0/33'], 10)
        self.assertNotEqual(r.returncode, 0)
        err = (r.stderr or b'').decode()
        self.assertIn("play_deny: '10.0.0.0/33': prefix length must be 0-32", err)
        # --check-config names the file and line.
        conf = harness.tmp_path('bad-cidr-%d.conf' % time.monotonic_ns())
        with open(conf, 'w') as f:
            f.write('# acl\npublish_allow "10.0.0.0/8, ::1/129"\n')
        r = harness.run([harness.origin_binary(), '--config', conf, '--check-config'], 10)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("%s:2: publish_allow: '::1/129': prefix length must be 0-128" % conf,
                      (r.stderr or b'').decode())


class Webhooks(AuthTestCase):
    def setUp(self):
        super().setUp()
        self.hooks = Hooks()
        self.addCleanup(self.hooks.stop)

    def test_allow_then_done(self):
        self.start(on_publish=self.hooks.url('/allow'), on_play=self.hooks.url('/allow'),
                   on_done=self.hooks.url('/done'))
        c = self.raw()
        c.connect()
        c.create_stream()
        c.publish('hooked?token=abc', wait=True)
        f = self.hooks.wait_call('/allow', lambda f: f.get('call') == 'publish')
        self.assertIsNotNone(f)
        self.assertEqual((f['app'], f['name'], f['addr'], f['query']), ('live', 'hooked', '127.0.0.1', 'token=abc'))
        player = self.raw()
        player.connect()
        player.create_stream()
        player.play('hooked', wait=True)
        self.assertIsNotNone(self.hooks.wait_call('/allow', lambda f: f.get('call') == 'play'))
        c.close()
        player.close()
        f = self.hooks.wait_call('/done', lambda f: f.get('type') == 'publish')
        self.assertIsNotNone(f, 'no on_done for the publisher: %r' % self.hooks.calls)
        self.assertEqual((f['call'], f['name']), ('done', 'hooked'))
        self.assertIsNotNone(self.hooks.wait_call('/done', lambda f: f.get('type') == 'play'),
                             'no on_done for the player: %r' % self.hooks.calls)

    def test_deny(self):
        self.start(on_publish=self.hooks.url('/deny'), on_play=self.hooks.url('/deny'))
        self.assert_refused(self.publish_status('nope'), 'NetStream.Publish.Unauthorized',
                            'refused by webhook (HTTP 403)')
        self.assert_refused(self.play_status('nope'), 'NetStream.Play.Failed', 'Unauthorized: refused by webhook')

    def test_rename(self):
        self.start(on_publish=self.hooks.url('/rename'))
        p = harness.start_publisher(self.server.url('original'), 'pub-rename')
        self.addCleanup(harness.kill, p)
        self.wait_playable('renamed', p)
        self.assertIsNotNone(self.server.wait_log(r'publish renamed by webhook .*live/original -> live/renamed'))
        self.assertIsNotNone(self.server.wait_log(r'publish start stream=live/renamed'))
        d = harness.decode(self.server.url('renamed'), 10, 20)
        self.assertEqual(d.rc, 0, d)

    def calls(self, pred):
        with self.hooks.lock:
            return [f for _, f in self.hooks.calls if pred(f)]

    def test_http_and_rtsp_viewers_ask_on_play(self):
        """HLS, HTTP-FLV and RTSP viewers go through on_play like RTMP ones
        (proto=http / rtsp); an HLS player's many requests ask it once."""
        http_port, rtsp_port = harness.free_port(), harness.free_port()
        self.start(on_play=self.hooks.url('/byname'), http_listen='127.0.0.1:%d' % http_port,
                   rtsp_listen='127.0.0.1:%d' % rtsp_port, hls_segment_duration='1s')
        p = harness.start_publisher(self.server.url('okcam'), 'pub-okcam')
        self.addCleanup(harness.kill, p)
        self.wait_playable('okcam', p)
        base = 'http://127.0.0.1:%d/live/' % http_port
        d = harness.decode(base + 'okcam.m3u8?token=t1', 75, 40)
        self.assertEqual(d.rc, 0, d)
        self.assertGreaterEqual(d.frames, 75, d)
        asks = self.calls(lambda f: f.get('proto') == 'http' and f.get('name') == 'okcam')
        self.assertTrue(asks, 'no on_play call for the HLS viewer: %r' % self.hooks.calls)
        self.assertEqual((asks[0]['call'], asks[0]['app'], asks[0]['query'], asks[0]['addr']),
                         ('play', 'live', 'token=t1', '127.0.0.1'))
        self.assertLessEqual(len(asks), 2, 'the HLS player\'s requests each asked the webhook: %d' % len(asks))
        with urllib.request.urlopen('http://127.0.0.1:%d/v1/stats' % http_port, timeout=5) as resp:
            stats = json.loads(resp.read())['counters']
        self.assertEqual(stats['http_webhook_asks'], len(asks), stats)
        self.assertGreater(stats['http_webhook_cache_hits'], 5, 'HLS requests were not served from the cache')
        d = harness.decode(base + 'okcam.flv', 25, 20)
        self.assertEqual(d.rc, 0, d)
        # refused: 403, and asked again only after the refusal's 5 s
        c = http.client.HTTPConnection('127.0.0.1', http_port, timeout=10)
        for _ in range(3):
            c.request('GET', '/live/nocam.m3u8')
            r = c.getresponse()
            body = r.read()
            self.assertEqual(r.status, 403, body)
            self.assertIn(b'webhook', body)
        self.assertEqual(len(self.calls(lambda f: f.get('name') == 'nocam')), 1)
        # renamed: a redirect to the new name, which plays
        c.request('GET', '/live/oldcam.m3u8?token=t2')
        r = c.getresponse()
        r.read()
        self.assertEqual(r.status, 302)
        self.assertEqual(r.getheader('Location'), '/live/okcam.m3u8?token=t2')
        c.close()
        # RTSP: allowed and refused, proto=rtsp
        rtsp = 'rtsp://127.0.0.1:%d/live/' % rtsp_port
        args = ['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error', '-rtsp_transport', 'tcp', '-i',
                rtsp + 'okcam', '-frames:v', '25', '-f', 'null', '-']
        r = harness.run(args, 30)
        self.assertEqual(r.returncode, 0, r.stderr[-600:])
        self.assertTrue(self.calls(lambda f: f.get('proto') == 'rtsp' and f.get('name') == 'okcam'))
        args[args.index(rtsp + 'okcam')] = rtsp + 'nocam'
        r = harness.run(args, 30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b'403', r.stderr)
        self.assertIsNotNone(self.server.wait_log(r'rtsp: play refused .*stream=live/nocam: refused by webhook'))

    def test_timeout_fail_open(self):
        self.start(on_publish=self.hooks.url('/slow'), webhook_timeout='400ms', webhook_fail_open='on')
        t0 = time.monotonic()
        info, _ = self.publish_status('slowok')
        self.assertEqual(info.get('code'), 'NetStream.Publish.Start', info)
        self.assertLess(time.monotonic() - t0, 1.8, 'decision waited for the slow webhook')
        self.assertIsNotNone(self.server.wait_log(r'webhook on_publish .*timeout.*allowing'))

    def test_timeout_fail_closed(self):
        self.start(on_publish=self.hooks.url('/slow'), webhook_timeout='400ms', webhook_fail_open='off')
        t0 = time.monotonic()
        self.assert_refused(self.publish_status('slowno'), 'NetStream.Publish.Unauthorized',
                            'webhook unavailable (timeout)')
        self.assertLess(time.monotonic() - t0, 4.5)

    def test_unreachable_fail_closed(self):
        self.start(on_play=self.hooks.url('/x').replace(str(self.hooks.port), str(harness.free_port())))
        self.assert_refused(self.play_status('any'), 'NetStream.Play.Failed',
                            'Unauthorized: webhook unavailable (connection failed)')


class EdgeAuth(cluster.ClusterTestCase):
    """In a cluster, publish auth runs on the origin before the directory
    claim; play auth runs on the edge, where players connect."""

    def test_cluster_publish_and_edge_play(self):
        r = self.redis()
        hooks = Hooks()
        self.addCleanup(hooks.stop)
        # Signed key, then the webhook (async), then the claim (async), then start.
        o = self.origin('oA', r, sets={'publish_secret': PUB_SECRET, 'on_publish': hooks.url('/allow')})
        e = self.edge('e1', r, sets={'play_secret': PLAY_SECRET, 'play_deny': '127.0.0.2'}, workers=1)
        # Refused publish: no claim was ever made for the key.
        c = o.client(timeout=5)
        self.addCleanup(c.close)
        c.connect()
        c.create_stream()
        c.publish('edgecam', wait=False)
        info = dict(c.wait_status(None, timeout=5))
        self.assertEqual(info.get('code'), 'NetStream.Publish.Unauthorized', info)
        self.assertEqual([k for k in r.keys('*') if 'edgecam' in k], [], 'a refused publish claimed the key')
        self.assertEqual([f['call'] for p_, f in hooks.calls], [], 'webhook asked for a refused key')
        p = self.track(cluster.Publisher(o.url(signed(PUB_SECRET, 'edgecam')), name='pub-edgecam').start())
        play = signed(PLAY_SECRET, 'edgecam')
        self.wait_playable(e, play, 20, p)
        self.assertIsNotNone(hooks.wait_call('/allow', lambda f: f.get('name') == 'edgecam'))
        self.assertIsNotNone(o.wait_log(r'cluster: claimed stream=live/edgecam', 5))
        # On the edge: unsigned and denied-address players are refused.
        c = e.client(timeout=5)
        self.addCleanup(c.close)
        c.connect()
        c.create_stream()
        c.play('edgecam', wait=False)
        info = dict(c.wait_status(None, timeout=5))
        self.assertEqual((info.get('code'), info.get('description')),
                         ('NetStream.Play.Failed', 'Unauthorized: missing signed key'), info)
        b = BoundClient(e.port, '127.0.0.2')
        self.addCleanup(b.close)
        b.connect()
        b.create_stream()
        b.play(play, wait=False)
        info = dict(b.wait_status(None, timeout=5))
        self.assertEqual(info.get('description'), 'Unauthorized: address not allowed', info)
        for node in (o, e):
            # The harness writes the command line (with --set secrets) first: skip it.
            log = '\n'.join(l for l in node.log().splitlines() if not l.startswith('$ '))
            for secret in (play.split('sig=')[1], PLAY_SECRET, PUB_SECRET):
                self.assertNotIn(secret, log)


if __name__ == '__main__':
    harness.main()
