#!/usr/bin/env python3
"""Relay push (restream) from an origin to other RTMP servers, with real
processes and clients:

- destination 1: nginx-rtmp (Debian's libnginx-mod-rtmp) on a free port,
  rule "live=rtmp://127.0.0.1:N/live" (live/<name> -> .../live/<name>);
- destination 2: a second origin of ours over RTMPS (self-signed cert,
  relay_tls_verify off), rule "live=rtmps://localhost:M/relayed/{name}_copy";
- ffmpeg publishes a ~2.5 Mbit/s CBR test pattern to the origin; ffmpeg
  decodes it from both destinations;
- nginx is SIGSTOPped for 5 s: the origin's own player keeps decoding, the
  publisher keeps going, the RTMPS push is untouched and the nginx push's
  bounded queue drops frames (/v1/relays); then nginx is killed and started
  again on the same port: the push reconnects (connects == 2) and nginx
  serves decodable video again;
- the publisher leaves: the pushes end (FCUnpublish) and /v1/relays empties;
- a separate origin with relay_tls_verify on refuses the self-signed
  destination ("certificate verify failed" in last_error) and retries;
- a scripted RTMP server answering createStream with stream id 5 gets the
  publish sequence, @setDataFrame metadata, codec headers and media all on
  stream 5 (the per-frame re-encoding path);
- malformed relay_push items stop the origin at start with the item named.
Every process is started and killed by PID (harness); every wait is bounded.
"""
import json
import os
import signal
import socket
import sys
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import rtmpclient  # noqa: E402

STOP_SECONDS = 5.0

# A fixed bitrate, so 5 s of a stopped destination is far more than the
# socket buffers and the 64 KiB relay queue hold.
PUBLISH_ARGS = ['-re', '-f', 'lavfi', '-i', 'testsrc=size=640x360:rate=25',
                '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
                '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '25',
                '-b:v', '2500k', '-minrate', '2500k', '-maxrate', '2500k', '-bufsize', '500k',
                '-x264-params', 'nal-hrd=cbr', '-pix_fmt', 'yuv420p',
                '-c:a', 'aac', '-ac', '2', '-b:a', '64k', '-f', 'flv']


def say(fmt, *args):
    sys.stderr.write(('  ' + fmt + '\n') % args)
    sys.stderr.flush()


def make_cert():
    cert, key = harness.tmp_path('relay.crt'), harness.tmp_path('relay.key')
    r = harness.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
                     '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
                     '-keyout', key, '-out', cert], 60)
    if r.returncode != 0:
        raise RuntimeError('openssl req failed: %s' % r.stderr[-400:])
    return cert, key


def relays(http_port):
    with urllib.request.urlopen('http://127.0.0.1:%d/v1/relays' % http_port, timeout=3) as r:
        return json.loads(r.read().decode())


def push_to(doc, dest_part):
    for p in doc['relays']:
        if dest_part in p['dest']:
            return p
    return None


def wait_for(what, pred, timeout):
    """Poll pred() every 0.1 s until it returns a true value; return it."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
        except (OSError, ValueError) as e:
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.1)
    raise AssertionError('timed out after %.0f s waiting for %s (last: %r)' % (timeout, what, last))


def publish(url, tag):
    return harness.spawn(['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error'] + PUBLISH_ARGS + [url],
                         harness.tmp_path('%s-%d.log' % (tag, time.monotonic_ns())))


class FakeServer:
    """One-connection RTMP server (thread): simple handshake, answers connect
    and createStream (with stream_id), Publish.Start on publish, then records
    every message for `record` seconds. All socket waits are bounded."""

    def __init__(self, stream_id, record=3.0):
        self.stream_id, self.record = stream_id, record
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(1)
        self.sock.settimeout(15)
        self.port = self.sock.getsockname()[1]
        self.msgs, self.error = [], None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _recv(self, c, n):
        b = b''
        while len(b) < n:
            d = c.recv(n - len(b))
            if not d:
                raise ConnectionError('client closed')
            b += d
        return b

    def _run(self):
        try:
            c, _ = self.sock.accept()
            c.settimeout(10)
            c0c1 = self._recv(c, 1 + 1536)
            c.sendall(b'\x03' + bytes(1536) + c0c1[1:])
            self._recv(c, 1536)
            rd = rtmpclient.ChunkReader()
            send = lambda sid, *vals: c.sendall(rtmpclient.encode_message(  # noqa: E731
                3, rtmpclient.COMMAND_AMF0, sid, rtmpclient.amf0_encode_all(*vals)))
            stop = None
            while stop is None or time.monotonic() < stop:
                try:
                    d = c.recv(65536)
                except socket.timeout:
                    break
                if not d:
                    break
                rd.feed(d)
                for m in rd.messages():
                    self.msgs.append(m)
                    if m.name == 'connect':
                        send(0, '_result', m.amf[1], None, {'level': 'status',
                                                            'code': 'NetConnection.Connect.Success'})
                    elif m.name == 'createStream':
                        send(0, '_result', m.amf[1], None, self.stream_id)
                    elif m.name == 'publish':
                        send(self.stream_id, 'onStatus', 0, None,
                             {'level': 'status', 'code': 'NetStream.Publish.Start', 'description': 'go'})
                        stop = time.monotonic() + self.record
            c.close()
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            self.sock.close()


class Relay(unittest.TestCase):

    def setUp(self):
        harness.require_tools('ffmpeg', 'ffprobe', 'openssl')
        if not (harness.have('nginx') and os.path.exists(harness.NGINX_MODULE)):
            self.skipTest('nginx / libnginx-mod-rtmp not installed')
        self.servers = []
        self.cert, self.key = make_cert()

    def tearDown(self):
        for s in self.servers:
            if s.proc is not None and s.proc.poll() is None:
                os.kill(s.proc.pid, signal.SIGCONT)  # a stopped nginx must be able to die
            s.stop(signal.SIGKILL if s.kind == 'nginx' else signal.SIGTERM)

    def start(self, server):
        self.servers.append(server)
        return server.start()

    def tls_origin(self, name):
        tls_port = harness.free_port()
        s = harness.Server(name, {'rtmps_listen': '127.0.0.1:%d' % tls_port, 'tls_cert': self.cert,
                                  'tls_key': self.key}, kind='origin')
        s.tls_port = tls_port
        self.start(s)
        self.assertTrue(harness.wait_port(tls_port, 5, s.proc), 'rtmps listener of %s' % name)
        return s

    def dump(self, *servers):
        for s in servers:
            sys.stderr.write('\n----- %s (%s) -----\n%s\n' % (s.name, s.log_path, harness.tail(s.log_path, 30)))

    def assert_decodes(self, url, frames=25, timeout=20):
        d = harness.decode(url, frames, timeout)
        self.assertEqual(d.rc, 0, 'decode of %s failed: %r' % (url, d))
        self.assertGreaterEqual(d.frames, frames, 'too few frames from %s: %r' % (url, d))
        return d

    def test_01_push_stop_restart(self):
        t0 = time.monotonic()
        nginx = self.start(harness.Server('nginx-dest', kind='nginx'))
        ours = self.tls_origin('origin-dest')
        http_port = harness.free_port()
        rules = ('live=rtmp://127.0.0.1:%d/live, live=rtmps://localhost:%d/relayed/{name}_copy'
                 % (nginx.port, ours.tls_port))
        src = self.start(harness.Server('origin-src', {
            'http_listen': '127.0.0.1:%d' % http_port, 'relay_push': rules,
            'relay_reconnect_min': '300ms', 'relay_reconnect_max': '2s', 'relay_queue_bytes': '64k',
            'relay_timeout': '8s', 'relay_tls_verify': 'off', 'socket_sndbuf': '64k'}, kind='origin'))
        ok = False
        try:
            pub = publish(src.url('cam'), 'pub-cam')
            harness.wait_playable(src, 'cam', 20, pub)
            doc = wait_for('both pushes live', lambda: (
                lambda d: d if len(d['relays']) == 2 and all(p['state'] == 'live' for p in d['relays']) else None)(
                    relays(http_port)), 10)
            n1, o1 = push_to(doc, ':%d/live' % nginx.port), push_to(doc, '/relayed')
            self.assertTrue(n1['zero_copy'] and o1['zero_copy'], doc)
            self.assertTrue(o1['tls'], doc)
            say('pushes live after %.1f s', time.monotonic() - t0)

            d = self.assert_decodes(nginx.url('cam'))
            say('nginx: %d frames in %.1f s', d.frames, d.elapsed)
            d = self.assert_decodes(ours.url('cam_copy', app='relayed'))
            say('second origin over rtmps: %d frames in %.1f s', d.frames, d.elapsed)
            streams = harness.probe_streams(nginx.url('cam'))
            self.assertEqual(sorted(s.get('codec_name') for s in streams), ['aac', 'h264'], streams)

            # --- nginx stops reading ---
            player = harness.DecodeProc(src.url('cam'), 25 * 12, 40)
            wait_for('origin player started', lambda: player.frames_so_far() > 10, 15)
            before = relays(http_port)
            frames_before = player.frames_so_far()
            os.kill(nginx.proc.pid, signal.SIGSTOP)
            time.sleep(STOP_SECONDS)
            during = relays(http_port)
            frames_during = player.frames_so_far() - frames_before
            self.assertIsNone(pub.poll(), 'publisher exited during the stop: %s' % harness.tail(pub.log_path, 5))
            self.assertGreaterEqual(frames_during, int(STOP_SECONDS * 25 * 0.6),
                                    'origin player stalled while nginx was stopped: %d frames' % frames_during)
            n2, o2 = push_to(during, ':%d/live' % nginx.port), push_to(during, '/relayed')
            self.assertEqual(n2['state'], 'live', during)
            self.assertGreater(n2['frames_dropped'], 0, 'no drops for a stopped destination: %r' % during)
            self.assertLessEqual(n2['queued_bytes'], 64 * 1024, during)
            self.assertEqual((o2['state'], o2['connects'], o2['failures']), ('live', 1, 0), during)
            self.assertGreater(o2['bytes'], push_to(before, '/relayed')['bytes'] + 500000,
                               'the rtmps push slowed down with nginx: %r' % during)
            say('during the stop: origin player +%d frames, nginx push dropped %d frames, rtmps push +%d bytes',
                frames_during, n2['frames_dropped'], o2['bytes'] - push_to(before, '/relayed')['bytes'])

            # --- nginx dies and comes back on the same port ---
            harness.kill(nginx.proc)
            nginx.start()
            doc = wait_for('nginx push reconnected', lambda: (
                lambda p: p if p and p['state'] == 'live' and p['connects'] >= 2 else None)(
                    push_to(relays(http_port), ':%d/live' % nginx.port)), 15)
            self.assertGreaterEqual(doc['failures'], 1, doc)
            self.assertTrue(doc['last_error'], doc)
            say('nginx push back: connects=%d failures=%d last_error=%r', doc['connects'], doc['failures'],
                doc['last_error'])
            d = self.assert_decodes(nginx.url('cam'))
            say('nginx after restart: %d frames in %.1f s', d.frames, d.elapsed)
            r = player.result()
            self.assertEqual(r.rc, 0, 'origin player failed: %r' % r)
            self.assertGreaterEqual(r.frames, 25 * 12, r)
            self.assertEqual(push_to(relays(http_port), '/relayed')['connects'], 1)
            self.assertIsNotNone(src.wait_log(r'relay failed stream=live/cam dest=rtmp://127\.0\.0\.1:%d/live'
                                              % nginx.port, 1))

            # --- the publisher leaves: the pushes end ---
            harness.kill(pub, signal.SIGTERM)
            wait_for('pushes ended', lambda: relays(http_port)['relays'] == [], 10)
            self.assertIsNotNone(ours.wait_log(r'publish end stream=relayed/cam_copy', 5), 'second origin log')
            totals = relays(http_port)['totals']
            self.assertEqual(totals['sessions'], 2, totals)
            self.assertGreaterEqual(totals['connects'], 3, totals)
            self.assertTrue(src.alive() and ours.alive())
            metrics = urllib.request.urlopen('http://127.0.0.1:%d/metrics' % http_port, timeout=3).read().decode()
            self.assertIn('# TYPE sc_relay_up gauge', metrics)
            self.assertEqual(src.stop(), 0, 'origin exit status on SIGTERM')
            say('test took %.1f s', time.monotonic() - t0)
            ok = True
        finally:
            if not ok:
                self.dump(src, nginx, ours)

    def test_02_tls_verify_refuses_self_signed(self):
        ours = self.tls_origin('origin-dest-v')
        http_port = harness.free_port()
        src = self.start(harness.Server('origin-src-v', {
            'http_listen': '127.0.0.1:%d' % http_port,
            'relay_push': 'live/v=rtmps://localhost:%d/live/v' % ours.tls_port,
            'relay_reconnect_min': '200ms', 'relay_reconnect_max': '500ms'}, kind='origin'))
        ok = False
        try:
            pub = publish(src.url('v'), 'pub-v')
            harness.wait_playable(src, 'v', 20, pub)
            p = wait_for('a verification failure', lambda: (
                lambda x: x if x and x['failures'] >= 2 else None)(push_to(relays(http_port), '/live')), 10)
            self.assertIn('certificate verify failed', p['last_error'], p)
            self.assertEqual(p['connects'], 0, p)
            # Other streams of the app match no rule: no session for them.
            self.assertEqual(len(relays(http_port)['relays']), 1)
            harness.kill(pub, signal.SIGTERM)
            ok = True
        finally:
            if not ok:
                self.dump(src, ours)

    def test_03_other_stream_id_reencodes(self):
        fake = FakeServer(stream_id=5)
        http_port = harness.free_port()
        src = self.start(harness.Server('origin-src-f', {
            'http_listen': '127.0.0.1:%d' % http_port,
            'relay_push': 'live=rtmp://localhost:%d/app' % fake.port}, kind='origin'))
        ok = False
        try:
            pub = harness.start_publisher(src.url('cam2'), 'pub-cam2')
            p = wait_for('push live', lambda: (lambda d: d['relays'][0] if d['relays'] and
                                               d['relays'][0]['state'] == 'live' else None)(relays(http_port)), 20)
            self.assertFalse(p['zero_copy'], p)
            fake.thread.join(15)
            self.assertFalse(fake.thread.is_alive())
            self.assertIsNone(fake.error, repr(fake.error))
            harness.kill(pub, signal.SIGTERM)
            m = fake.msgs
            names = [x.name for x in m if x.type == rtmpclient.COMMAND_AMF0]
            self.assertEqual(names[:5], ['connect', 'releaseStream', 'FCPublish', 'createStream', 'publish'], m[:8])
            self.assertEqual(m[0].type, rtmpclient.SET_CHUNK_SIZE, m[:3])
            connect = next(x for x in m if x.name == 'connect').amf[2]
            self.assertEqual((connect['app'], connect['type'], connect['tcUrl']),
                             ('app', 'nonprivate', 'rtmp://localhost:%d/app' % fake.port))
            self.assertIn('sc-relay-hops=1', connect['flashVer'], 'the push does not say it is a relay')
            publish_cmd = next(x for x in m if x.name == 'publish')
            self.assertEqual((publish_cmd.stream_id, publish_cmd.amf[3], publish_cmd.amf[4]), (5, 'cam2', 'live'))
            after = m[m.index(publish_cmd) + 1:]
            media = [x for x in after if x.type in (rtmpclient.AUDIO, rtmpclient.VIDEO, rtmpclient.DATA_AMF0)]
            self.assertGreater(len(media), 50, after[:5])
            self.assertEqual({x.stream_id for x in media}, {5})
            self.assertEqual(media[0].amf[:2], ['@setDataFrame', 'onMetaData'], media[0])
            video = [x for x in media if x.type == rtmpclient.VIDEO]
            audio = [x for x in media if x.type == rtmpclient.AUDIO]
            self.assertTrue(video[0].is_video_seq_header(), video[:2])
            self.assertTrue(audio[0].is_audio_seq_header(), audio[:2])
            self.assertTrue(video[1].is_video_keyframe(), video[:2])
            say('fake server (stream id 5): %d media messages, all on stream 5', len(media))
            ok = True
        finally:
            if not ok:
                self.dump(src)

    def test_05_relay_loop_stops(self):
        """A rule that feeds itself (live/<name> -> this origin's live/<name>x)
        makes a chain of streams; it stops after ORIGIN_RELAY_MAX_HOPS (4)."""
        http_port = harness.free_port()
        src = harness.Server('origin-loop', {'http_listen': '127.0.0.1:%d' % http_port}, kind='origin')
        src.sets['relay_push'] = 'live=rtmp://127.0.0.1:%d/live/{name}x' % src.port
        self.start(src)
        ok = False
        try:
            pub = publish(src.url('a'), 'pub-loop')
            doc = wait_for('the loop to stop', lambda: (
                lambda d: d if d['totals']['loops_stopped'] >= 1 else None)(relays(http_port)), 25)
            self.assertTrue(src.wait_log(r'relay skipped stream=live/axxxx: it came through 4 relays already', 5))
            streams = sorted(p['stream'] for p in doc['relays'])
            self.assertEqual(streams, ['live/a', 'live/ax', 'live/axx', 'live/axxx'], doc)
            time.sleep(1.0)
            self.assertEqual(relays(http_port)['totals']['loops_stopped'], 1)
            self.assertIsNone(src.wait_log(r'publish start stream=live/axxxxx', 0.1), 'the chain went on')
            self.assert_decodes(src.url('axxxx'))       # the last link still plays
            harness.kill(pub, signal.SIGTERM)
            ok = True
        finally:
            if not ok:
                self.dump(src)

    def test_04_bad_rule_refused_at_start(self):
        binary = harness.origin_binary()
        for bad in ('live=http://h/x', 'live', 'live=rtmp://h:0/app', '/x=rtmp://h/app', 'live/x=rtmp://h/app'):
            r = harness.run([binary, '--listen', '127.0.0.1:0', '--set', 'relay_push=' + bad], 10)
            self.assertEqual(r.returncode, 1, 'origin started with relay_push=%r' % bad)
            self.assertIn(b'relay_push: item 1', r.stderr, r.stderr[-300:])


if __name__ == '__main__':
    harness.main()
