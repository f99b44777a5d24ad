#!/usr/bin/env python3
"""RTMPS and HTTPS (issue 5, encryption), with real clients:

- ffmpeg publishes over rtmps:// to an origin; ffmpeg decodes and ffprobe
  reads the stream over rtmps:// from the origin (standalone) and from an
  edge of a small cluster (redis-server + origin cluster=on + edge);
- a plain RTMP client on the TLS port is closed with a log line, an old
  TLS 1.1 client is refused, and the server keeps serving everyone else;
- SIGHUP with new certificate files: a new TLS client sees the new
  certificate (DER compared) while an RTMPS player that was already
  connected keeps receiving frames;
- the HTTPS API answers /v1/stats and /metrics.
Certificates are self-signed, made with the openssl command line.
"""
import json
import os
import shutil
import signal
import socket
import ssl
import sys
import time
import unittest
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402  (imports harness and hooks its cleanup)
import harness  # noqa: E402


def make_cert(name, cn):
    """Self-signed cert + key in the harness temp dir; returns (cert, key)."""
    cert, key = harness.tmp_path(name + '.crt'), harness.tmp_path(name + '.key')
    r = harness.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30',
                     '-subj', '/CN=' + cn, '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
                     '-keyout', key, '-out', cert], 60)
    if r.returncode != 0:
        raise RuntimeError('openssl req failed: %s' % r.stderr[-400:])
    return cert, key


def der_of(cert_path):
    with open(cert_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def client_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def peer_cert_der(port, timeout=5.0):
    """The certificate a new TLS client gets on port (DER)."""
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as raw:
        with client_ctx().wrap_socket(raw) as s:
            return s.getpeercert(binary_form=True)


def https_get(port, path, timeout=5.0):
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as raw:
        with client_ctx().wrap_socket(raw) as s:
            s.sendall(('GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'
                       % path).encode())
            data = b''
            while True:
                try:
                    d = s.recv(65536)
                except (ssl.SSLError, ConnectionResetError):
                    break
                if not d:
                    break
                data += d
    head, _, body = data.partition(b'\r\n\r\n')
    status = int(head.split(b' ', 2)[1]) if head else 0
    return status, body


def closed_by_server(port, payload, timeout=5.0):
    """Send payload on a plain TCP connection; True when the server closes it
    (EOF or reset) within timeout, whatever bytes (a TLS alert) come first."""
    s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    try:
        s.sendall(payload)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if not s.recv(4096):
                    return True
            except ConnectionResetError:
                return True
            except socket.timeout:
                return False
        return False
    finally:
        s.close()


def rtmps_url(port, name):
    return 'rtmps://127.0.0.1:%d/live/%s' % (port, name)


def require_tls_tools():
    harness.require_tools('ffmpeg', 'ffprobe', 'openssl')
    r = harness.run(['ffmpeg', '-hide_banner', '-protocols'], 20)
    if b'rtmps' not in r.stdout:
        raise unittest.SkipTest('this ffmpeg has no rtmps protocol')


class StandaloneTLS(unittest.TestCase):
    """One origin (standalone play) with RTMP, RTMPS, HTTP and HTTPS, and one
    ffmpeg publishing over RTMPS, shared by the tests."""

    @classmethod
    def setUpClass(cls):
        require_tls_tools()
        if harness.SERVER_KIND != 'origin':
            raise unittest.SkipTest('RTMPS is tested on our origin')
        cls.cert_a, cls.key_a = make_cert('a', 'streamcluster-a')
        cls.cert_b, cls.key_b = make_cert('b', 'streamcluster-b')
        # The server reads copies: the reload test rewrites them in place.
        cls.cert, cls.key = harness.tmp_path('live.crt'), harness.tmp_path('live.key')
        shutil.copy(cls.cert_a, cls.cert)
        shutil.copy(cls.key_a, cls.key)
        cls.tls_port, cls.https_port = harness.free_port(), harness.free_port()
        cls.server = harness.Server('tls', {
            'rtmps_listen': '127.0.0.1:%d' % cls.tls_port,
            'https_listen': '127.0.0.1:%d' % cls.https_port,
            'tls_cert': cls.cert, 'tls_key': cls.key,
            'handshake_timeout': '3s'})
        cls.server.start()
        if not harness.wait_port(cls.tls_port, 10, cls.server.proc):
            raise RuntimeError('no RTMPS listener:\n' + harness.tail(cls.server.log_path))
        cls.pub = harness.start_publisher(rtmps_url(cls.tls_port, 'tls'), 'pub-tls')
        harness.wait_playable(cls.server, 'tls', 20, cls.pub)

    @classmethod
    def tearDownClass(cls):
        harness.kill(cls.pub)
        cls.server.stop()

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            sys.stderr.write('\n----- last 40 lines of the server log -----\n%s\n-----\n'
                             % harness.tail(self.server.log_path))
        return out

    def assert_decodes(self, url, frames=50, timeout=30.0):
        d = harness.decode(url, frames, timeout)
        self.assertEqual(d.rc, 0, 'decode of %s failed: %r' % (url, d))
        self.assertGreaterEqual(d.frames, frames, 'too few frames from %s: %r' % (url, d))

    def test_publish_and_play_over_rtmps(self):
        self.assertTrue(self.server.wait_log(r'session start id=\d+ peer=\S+ transport=tls', 1))
        self.assertTrue(self.server.wait_log(r'publish start stream=live/tls', 1))
        self.assert_decodes(rtmps_url(self.tls_port, 'tls'))
        streams = harness.probe_streams(rtmps_url(self.tls_port, 'tls'))
        codecs = sorted(s.get('codec_name') for s in streams)
        self.assertEqual(codecs, ['aac', 'h264'], streams)
        # Plain RTMP serves the same stream side by side.
        self.assert_decodes(self.server.url('tls'), 25)

    def test_plain_rtmp_client_on_tls_port_refused(self):
        c0c1 = b'\x03' + bytes(1536)
        self.assertTrue(closed_by_server(self.tls_port, c0c1), 'plain RTMP client not closed')
        self.assertTrue(self.server.wait_log(r'rtmps handshake failed id=\d+ peer=127\.0\.0\.1:\d+ reason=', 5),
                        'no log line for the refused plain client')
        # A client that opens the TLS port and sends nothing ends at handshake_timeout.
        idle = socket.create_connection(('127.0.0.1', self.tls_port), timeout=10)
        try:
            idle.settimeout(8)
            t0 = time.monotonic()
            try:
                self.assertEqual(idle.recv(10), b'')
            except ConnectionResetError:
                pass
            self.assertLess(time.monotonic() - t0, 7.5, 'TLS handshake not bounded by handshake_timeout')
        finally:
            idle.close()
        self.assertTrue(self.server.alive())
        # Everyone else is still served, over both transports.
        self.assert_decodes(rtmps_url(self.tls_port, 'tls'), 25)
        self.assert_decodes(self.server.url('tls'), 25)

    def test_tls11_client_refused(self):
        ctx = client_ctx()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', DeprecationWarning)   # old on purpose
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.maximum_version = ssl.TLSVersion.TLSv1_1
            ctx.set_ciphers('DEFAULT:@SECLEVEL=0')
        except (ValueError, ssl.SSLError) as e:
            self.skipTest('this Python/OpenSSL cannot offer TLS 1.1: %s' % e)
        with socket.create_connection(('127.0.0.1', self.tls_port), timeout=5) as raw:
            with self.assertRaises((ssl.SSLError, ConnectionResetError, OSError)):
                ctx.wrap_socket(raw).close()
        self.assertTrue(self.server.wait_log(r'rtmps handshake failed .*(unsupported protocol|version)', 5),
                        'TLS 1.1 refusal not logged with its reason')
        self.assertTrue(self.server.alive())

    def test_https_api(self):
        closed_by_server(self.tls_port, b'GET / HTTP/1.0\r\n\r\n')  # one more failure to count
        self.assertTrue(self.server.wait_log(r'rtmps handshake failed', 5))
        status, body = https_get(self.https_port, '/v1/stats')
        self.assertEqual(status, 200, body[:300])
        stats = json.loads(body)
        self.assertEqual(stats['role'], 'origin')
        self.assertGreaterEqual(stats['counters']['tls_handshake_failures'], 1, stats['counters'])
        self.assertIn('https_handshake_failures', stats['counters'])
        status, body = https_get(self.https_port, '/metrics')
        self.assertEqual(status, 200)
        self.assertIn(b'sc_tls_handshake_failures_total{', body)
        # Plain HTTP on the HTTPS port is refused by the TLS handshake.
        self.assertTrue(closed_by_server(self.https_port, b'GET /v1/stats HTTP/1.1\r\nHost: x\r\n\r\n'))
        self.assertTrue(self.server.wait_log(r'https handshake failed peer=127\.0\.0\.1:\d+', 5))

    def test_sighup_reloads_certificate(self):
        self.assertEqual(peer_cert_der(self.tls_port), der_of(self.cert_a))
        self.assertEqual(peer_cert_der(self.https_port), der_of(self.cert_a))
        player = harness.DecodeProc(rtmps_url(self.tls_port, 'tls'), 100000, 60)
        try:
            deadline = time.monotonic() + 20
            while player.frames_so_far() < 25 and time.monotonic() < deadline:
                time.sleep(0.2)
            self.assertGreaterEqual(player.frames_so_far(), 25, 'RTMPS player did not start')
            # Same paths, new contents (how certbot renews): SIGHUP.
            shutil.copy(self.cert_b, self.cert + '.new')
            shutil.copy(self.key_b, self.key + '.new')
            os.rename(self.key + '.new', self.key)
            os.rename(self.cert + '.new', self.cert)
            mark = len(self.server.log())
            os.kill(self.server.proc.pid, signal.SIGHUP)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and 'tls certificate reloaded' not in self.server.log()[mark:]:
                time.sleep(0.1)
            self.assertIn('tls certificate reloaded', self.server.log()[mark:])
            self.assertEqual(peer_cert_der(self.tls_port), der_of(self.cert_b), 'RTMPS: old certificate')
            self.assertEqual(peer_cert_der(self.https_port), der_of(self.cert_b), 'HTTPS: old certificate')
            # The player that connected before the reload keeps receiving.
            before = player.frames_so_far()
            time.sleep(3)
            after = player.frames_so_far()
            self.assertIsNone(player.proc.poll(), 'RTMPS player ended: %s' % harness.tail(player.err_path))
            self.assertGreaterEqual(after - before, 50, 'RTMPS player stalled after the reload')
            # A second SIGHUP with unchanged files reloads nothing.
            mark = len(self.server.log())
            os.kill(self.server.proc.pid, signal.SIGHUP)
            time.sleep(1)
            self.assertNotIn('tls certificate reloaded', self.server.log()[mark:])
            # A broken key keeps the current certificate.
            with open(self.key, 'w') as f:
                f.write('not a key\n')
            mark = len(self.server.log())
            os.kill(self.server.proc.pid, signal.SIGHUP)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and 'tls reload failed' not in self.server.log()[mark:]:
                time.sleep(0.1)
            self.assertIn('tls reload failed', self.server.log()[mark:])
            self.assertEqual(peer_cert_der(self.tls_port), der_of(self.cert_b))
        finally:
            player.stop()
            shutil.copy(self.key_b, self.key)
        self.assertTrue(self.server.alive())


class ClusterTLS(cluster.ClusterTestCase):
    """redis-server + origin (cluster=on) + edge, publishing and playing over RTMPS."""

    def setUp(self):
        require_tls_tools()
        super().setUp()

    def test_rtmps_publish_origin_play_edge(self):
        cert, key = make_cert('cluster', 'streamcluster-cluster')
        tls = {'tls_cert': cert, 'tls_key': key}
        redis = self.redis()
        o_tls, e_tls = harness.free_port(), harness.free_port()
        origin = self.origin('origin', redis, sets=dict(tls, rtmps_listen='127.0.0.1:%d' % o_tls))
        edge = self.edge('edge', redis, sets=dict(tls, rtmps_listen='127.0.0.1:%d' % e_tls))
        self.assertTrue(harness.wait_port(o_tls, 10), origin.tail())
        self.assertTrue(harness.wait_port(e_tls, 10), edge.tail())
        self.track(cluster.Publisher(rtmps_url(o_tls, 'ctls'), name='pub-ctls').start())
        self.wait_playable(edge, 'ctls', 25)
        dec = harness.decode(rtmps_url(e_tls, 'ctls'), 50, 30)
        self.assertEqual(dec.rc, 0, 'decode over RTMPS from the edge failed: %r' % dec)
        self.assertGreaterEqual(dec.frames, 50, dec)
        streams = cluster.probe_streams(rtmps_url(e_tls, 'ctls'))
        v, a = cluster.video_audio(streams)
        self.assertEqual(v.get('codec_name'), 'h264', streams)
        self.assertEqual(a.get('codec_name'), 'aac', streams)
        self.assertTrue(edge.wait_log(r'session start id=\d+ peer=\S+ transport=tls', 1))
        self.assertTrue(edge.alive() and origin.alive())

    def test_edge_refuses_to_start_with_a_bad_certificate(self):
        """The master checks the certificate before forking: workers would
        otherwise fail at start and be restarted forever."""
        r = harness.run([cluster.edge_binary(), '--listen', '127.0.0.1:%d' % harness.free_port(),
                         '--set', 'rtmps_listen=127.0.0.1:%d' % harness.free_port(),
                         '--set', 'tls_cert=/nonexistent/cert.pem', '--set', 'tls_key=/nonexistent/key.pem',
                         '--set', 'redis=127.0.0.1:1'], 10)
        out = (r.stdout + r.stderr).decode('utf-8', 'replace')
        self.assertNotEqual(r.returncode, 0, out)
        self.assertIn('tls_cert /nonexistent/cert.pem', out)


if __name__ == '__main__':
    cluster.main(limit=175)
