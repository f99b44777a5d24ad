#!/usr/bin/env python3
"""Hostile clients against one origin while ffmpeg publishes and a real
ffmpeg player decodes: the player must keep receiving (frames advance, no
stall), the origin's RSS stays bounded, and every refusal shows in
/v1/stats and in the log with its reason.

The attack: 500 connections in batches that send garbage or stop
mid-handshake (spread over loopback source addresses 127.0.1.x so the
per-IP limit does not hide them), a client that claims a 16 MiB chunk size,
a client that plays and never reads (tiny receive buffer), slowloris and
oversized-header HTTP clients on the API port, the per-IP limit exceeded
(from 127.0.0.9), and a publish over max_streams. A second case checks
player_max_bitrate and idle_timeout."""
import json
import os
import random
import re
import resource
import socket
import struct
import sys
import threading
import time
import urllib.request

import harness
from rtmpclient import ConnectionClosed, ProtocolError, encode_message, RtmpClient

PER_IP = 10
MAX_STREAMS = 2


def raise_nofile(want=8192):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


raise_nofile()   # before the origin starts: it inherits the limit


class FrameWatch:
    """Samples the player's decoded frame count; records the longest time it
    did not advance."""

    def __init__(self, dec):
        self.dec = dec
        self.longest = 0.0
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        last_n, last_t = self.dec.frames_so_far(), time.monotonic()
        while not self.stop_ev.wait(0.1):
            n, now = self.dec.frames_so_far(), time.monotonic()
            if n > last_n:
                last_n, last_t = n, now
            self.longest = max(self.longest, now - last_t)

    def stop(self):
        self.stop_ev.set()
        self.t.join(2)


class Hostile(harness.ServerTestCase):
    ORIGIN_ONLY = True

    def setUp(self):
        self.http_port = harness.free_port()
        self.SETS = {'handshake_timeout': '3s', 'max_connections_per_ip': str(PER_IP),
                     'max_streams': str(MAX_STREAMS), 'player_max_behind': '3s',
                     'socket_sndbuf': '16k', 'player_max_queue': '64k',
                     'http_listen': '127.0.0.1:%d' % self.http_port, 'http_timeout': '2s',
                     'http_max_header_bytes': '4k'}
        super().setUp()
        self.assertTrue(harness.wait_port(self.http_port, 10, self.server.proc), 'no HTTP API')
        self.publish('hostile')
        self.player = harness.DecodeProc(self.server.url('hostile'), 1000000, 160)
        self.addCleanup(self.player.stop)
        self.wait_frames(25, 20)
        self.watch = FrameWatch(self.player)
        self.addCleanup(self.watch.stop)

    # ------------------------------------------------------------ helpers
    def wait_frames(self, more, timeout):
        start = self.player.frames_so_far()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.player.proc.poll() is not None:
                self.fail('player exited: %r' % self.player.result())
            if self.player.frames_so_far() >= start + more:
                return
            time.sleep(0.1)
        self.fail('player stalled: %d frames, wanted %d more within %.0f s'
                  % (self.player.frames_so_far(), more, timeout))

    def stats(self):
        url = 'http://127.0.0.1:%d/v1/stats' % self.http_port
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())['counters']

    def metrics(self):
        url = 'http://127.0.0.1:%d/metrics' % self.http_port
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode()

    def log_line(self, regex, what, timeout=5):
        m = self.server.wait_log(regex, timeout)
        self.assertIsNotNone(m, '%s: no log line matching %r' % (what, regex))
        print('  %s -> %s' % (what, m.string.strip()[:200]))
        return m.string

    @staticmethod
    def sock_from(src, port):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        s.bind((src, 0))
        s.settimeout(5)
        s.connect(('127.0.0.1', port))
        return s

    @staticmethod
    def closed_by_peer(s, within):
        deadline = time.monotonic() + within
        s.settimeout(0.2)
        while time.monotonic() < deadline:
            try:
                if s.recv(65536) == b'':
                    return True
            except socket.timeout:
                continue
            except OSError:
                return True
        return False

    # ------------------------------------------------------------ the attack
    def flood(self, rss0):
        """500 connections in 5 batches of 100; kinds rotate. Returns peak RSS (kB)."""
        rnd = random.Random(5)
        socks, peak = [], rss0
        for batch in range(5):
            for i in range(100):
                n = batch * 100 + i
                src = '127.0.1.%d' % (1 + n % 200)
                try:
                    s = self.sock_from(src, self.server.port)
                except OSError as e:
                    self.fail('connection %d from %s failed: %s' % (n, src, e))
                socks.append(s)
                kind = n % 4
                try:
                    if kind == 0:      # garbage from the first byte
                        s.sendall(bytes([0x5a]) + rnd.randbytes(2000))
                    elif kind == 1:    # C0 + part of C1, then silence
                        s.sendall(b'\x03' + rnd.randbytes(700))
                    elif kind == 2:    # full C0C1, never a C2
                        s.sendall(RtmpClient.c0c1())
                    else:              # C0C1 + C2 of garbage + chunk garbage
                        s.sendall(RtmpClient.c0c1() + rnd.randbytes(1536 + 4000))
                except OSError:
                    pass   # already closed by the server: fine
            peak = max(peak, self.server.rss_kb())
            time.sleep(0.2)
        self.assert_alive()
        # Stalled ones are closed by handshake_timeout (3 s); garbage at once.
        deadline = time.monotonic() + 10
        open_socks = list(socks)
        while open_socks and time.monotonic() < deadline:
            peak = max(peak, self.server.rss_kb())
            still = []
            for s in open_socks:
                s.setblocking(False)
                try:
                    d = s.recv(65536)
                    if d:
                        still.append(s)
                except BlockingIOError:
                    still.append(s)
                except OSError:
                    pass
            open_socks = still
            time.sleep(0.2)
        self.assertEqual(len(open_socks), 0, '%d hostile connections still open after the '
                         'handshake timeout' % len(open_socks))
        for s in socks:
            s.close()
        return peak

    def test_hostile_clients_do_not_hurt_the_player(self):
        s0 = self.stats()
        rss0 = self.server.rss_kb()
        print('\n  RSS before: %d kB' % rss0)

        # 1. 500 garbage / half-handshake connections.
        peak = self.flood(rss0)
        self.wait_frames(25, 10)
        s1 = self.stats()
        print('  500 connections: RSS peak %d kB; protocol_errors +%d, handshake timeouts +%d'
              % (peak, s1['protocol_errors'] - s0['protocol_errors'],
                 s1['closed_handshake_timeout'] - s0['closed_handshake_timeout']))
        self.assertGreaterEqual(s1['connections_total'] - s0['connections_total'], 500)
        self.assertGreaterEqual(s1['closed_handshake_timeout'] - s0['closed_handshake_timeout'], 100)
        self.assertGreaterEqual(s1['protocol_errors'] - s0['protocol_errors'], 100)
        self.log_line(r'rtmp timeout .*peer=127\.0\.1\.\d+:\d+: handshake/connect not done', 'half handshake')
        self.log_line(r'session end .*peer=127\.0\.1\.\d+:\d+ .*reason="[^"]*(version|handshake)',
                      'garbage handshake')

        # 2. A client claiming a 16 MiB chunk size.
        c = self.raw(timeout=5)
        c.connect()
        c.send_raw(encode_message(2, 1, 0, struct.pack('!I', 16 << 20)))
        c.send_raw(encode_message(3, 20, 0, b'\x02\x00\x04ping' + bytes(9)))
        self.assertTrue(c.wait_closed(5), '16 MiB chunk size: connection not closed')
        self.log_line(r'peer=127\.0\.0\.1:%d: .*chunk size' % c.local_port, '16 MiB chunk size')

        # 3. A player that never reads.
        lazy = RtmpClient('127.0.0.1', self.server.port, timeout=5, rcvbuf=4096)
        self.addCleanup(lazy.close)
        lazy.connect()
        lazy.create_stream()
        lazy.play('hostile', wait=False)   # and never recv again

        # 4. Slowloris and an oversized head on the API port.
        slow = []
        for i in range(20):
            s = socket.create_connection(('127.0.0.1', self.http_port), timeout=5)
            self.addCleanup(s.close)
            s.sendall(b'GET /v1/stats HTTP/1.1\r\nHost: x\r\n')
            slow.append(s)
        big = socket.create_connection(('127.0.0.1', self.http_port), timeout=5)
        self.addCleanup(big.close)
        big.sendall(b'GET /v1/stats HTTP/1.1\r\n' + b'X-Pad: ' + b'a' * 6000 + b'\r\n\r\n')
        resp = big.recv(4096)
        self.assertTrue(resp.startswith(b'HTTP/1.1 431'), 'oversized header: %r' % resp[:80])
        t0 = time.monotonic()
        cut = set()
        while time.monotonic() - t0 < 6 and len(cut) < len(slow):
            for i, s in enumerate(slow):
                if i in cut:
                    continue
                try:
                    s.sendall(b'X')           # one byte at a time: never a complete head
                    s.settimeout(0.01)
                    s.recv(4096)              # the 408, or EOF: cut off
                except socket.timeout:
                    continue                  # still being served
                except OSError:
                    pass                      # reset: cut off
                cut.add(i)
            time.sleep(0.25)
        took = time.monotonic() - t0
        self.assertEqual(len(cut), len(slow), 'slowloris: %d of %d HTTP clients still open after '
                         '%.1f s' % (len(slow) - len(cut), len(slow), took))
        print('  slowloris: %d clients cut off within %.1f s (http_timeout 2 s)' % (len(slow), took))
        self.log_line(r'http request timeout peer=127\.0\.0\.1:\d+', 'slowloris')
        self.log_line(r'http bad request peer=127\.0\.0\.1:\d+ status=431', 'oversized header')

        # 5. Per-IP limit from 127.0.0.9.
        held = [self.sock_from('127.0.0.9', self.server.port) for _ in range(PER_IP)]
        for s in held:
            self.addCleanup(s.close)
        over = self.sock_from('127.0.0.9', self.server.port)
        self.addCleanup(over.close)
        over_port = over.getsockname()[1]
        self.assertTrue(self.closed_by_peer(over, 3), 'connection over max_connections_per_ip kept open')
        self.assertFalse(self.closed_by_peer(held[0], 0.3), 'a connection within the per-IP limit was closed')
        self.log_line(r'connection refused peer=127\.0\.0\.9:%d reason="max_connections_per_ip' % over_port,
                      'per-IP limit')

        # 6. A publish over max_streams (the ffmpeg stream is one, this one two).
        second = self.raw(timeout=5)
        second.connect()
        second.publish('second')
        third = self.raw(timeout=5)
        third.connect()
        info = third.publish('third', wait=False) or third.wait_status('NetStream.Publish.Failed', 5)
        self.assertIn('max_streams', info.get('description', ''), 'refusal reason: %r' % dict(info))
        self.log_line(r'publish refused stream=live/third .*reason="max_streams', 'max_streams')

        # The player never stalled, the never-reading player was dropped.
        self.wait_frames(25, 10)
        ok = False
        deadline = time.monotonic() + 12
        while time.monotonic() < deadline and not ok:
            ok = self.stats()['players_dropped_slow'] > s0['players_dropped_slow']
            time.sleep(0.3)
        self.assertTrue(ok, 'the player that never reads was not disconnected')
        self.log_line(r'session end .*peer=127\.0\.0\.1:%d .*reason="player' % lazy.local_port,
                      'never-reading player')
        self.wait_frames(25, 10)
        self.assert_alive()

        s2 = self.stats()
        rss1 = self.server.rss_kb()
        print('  RSS after: %d kB (peak %d kB, before %d kB)' % (rss1, peak, rss0))
        print('  player: %d frames, longest gap without a new frame %.2f s'
              % (self.player.frames_so_far(), self.watch.longest))
        for k in ('refused_per_ip', 'refused_max_streams', 'closed_chunk_size', 'closed_handshake_timeout',
                  'http_timeouts', 'http_bad_requests', 'players_dropped_slow', 'protocol_errors',
                  'connections_refused', 'publish_refused'):
            print('  %-26s %d' % (k, s2[k] - s0[k]))
        self.assertGreaterEqual(s2['refused_per_ip'] - s0['refused_per_ip'], 1)
        self.assertGreaterEqual(s2['refused_max_streams'] - s0['refused_max_streams'], 1)
        self.assertGreaterEqual(s2['closed_chunk_size'] - s0['closed_chunk_size'], 1)
        self.assertGreaterEqual(s2['http_timeouts'] - s0['http_timeouts'], len(slow))
        self.assertGreaterEqual(s2['http_bad_requests'] - s0['http_bad_requests'], 1)
        m = self.metrics()
        for name in ('sc_refused_per_ip_total', 'sc_refused_max_streams_total', 'sc_closed_chunk_size_total',
                     'sc_http_timeouts_total'):
            self.assertRegex(m, r'(?m)^%s\{[^}]*\} [1-9]' % name, '%s missing from /metrics' % name)
        self.assertLess(self.watch.longest, 3.0, 'player stalled for %.1f s' % self.watch.longest)
        self.assertLess(peak - rss0, 128 * 1024, 'RSS grew by %d kB under attack' % (peak - rss0))
        self.assertLess(rss1 - rss0, 64 * 1024, 'RSS stayed %d kB up after the attack' % (rss1 - rss0))


class Throttle(harness.ServerTestCase):
    """player_max_bitrate caps what one player gets; idle_timeout closes a
    client that connects and does nothing."""
    ORIGIN_ONLY = True

    def setUp(self):
        self.http_port = harness.free_port()
        self.SETS = {'player_max_bitrate': '100000', 'idle_timeout': '2s', 'player_max_behind': '60s',
                     'http_listen': '127.0.0.1:%d' % self.http_port}
        super().setUp()
        self.assertTrue(harness.wait_port(self.http_port, 10, self.server.proc), 'no HTTP API')

    def test_bitrate_cap_and_idle_timeout(self):
        idle = self.raw(timeout=5)
        idle.connect()
        self.publish('capped')
        c = self.raw(timeout=5)
        c.connect()
        c.create_stream()
        c.play('capped')
        t0 = time.monotonic()
        c.read_for(1.0)
        b1 = c.bytes_in
        c.read_for(5.0)
        rate = (c.bytes_in - b1) * 8 / (time.monotonic() - t0 - 1.0)
        print('\n  capped player received %.0f bit/s (cap 100000)' % rate)
        # The stream itself is well above 100 kbit/s (x264 + 64k AAC).
        self.assertLess(rate, 100000 * 1.3, 'player_max_bitrate not applied: %.0f bit/s' % rate)
        self.assertGreater(rate, 100000 * 0.5, 'capped player starved: %.0f bit/s' % rate)
        with urllib.request.urlopen('http://127.0.0.1:%d/v1/stats' % self.http_port, timeout=5) as r:
            st = json.loads(r.read())['counters']
        self.assertGreater(st['players_throttled'], 0)
        self.assertTrue(idle.wait_closed(2), 'idle client (connect, nothing else) not closed')
        self.assertGreaterEqual(st['closed_idle_timeout'], 1)
        m = self.server.wait_log(r'peer=127\.0\.0\.1:%d: connected but no publish or play' % idle.local_port, 3)
        self.assertIsNotNone(m, 'idle timeout not logged')


if __name__ == '__main__':
    harness.main()
