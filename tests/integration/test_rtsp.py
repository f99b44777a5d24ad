#!/usr/bin/env python3
"""RTSP out (rtsp_server.h) on a real cluster: redis-server, an origin
(cluster on, rtsp_listen on too) and an edge with two workers sharing
rtsp_listen, an ffmpeg publisher (testsrc + sine, x264 -g 25, AAC).

Players: ffprobe and ffmpeg over UDP and TCP interleaved (frames decode),
GStreamer rtspsrc (UDP and TCP), and a raw RTSP client written here that
checks the protocol: RTP-Info against the first packets, RTCP sender
reports mapping both tracks onto one wall clock (A/V sync, also seen through
ffprobe's pts), the session timeout of a silent UDP player, the status codes
454/461/404, and that garbage or an oversized request gets 400 and closes
that connection only while another player keeps receiving."""
import json
import os
import re
import socket
import struct
import sys
import threading
import time
import unittest

import cluster
import harness

STREAM = 'cam'
SESSION_TIMEOUT_S = 3


def say(fmt, *args):
    sys.stderr.write('  [' + (fmt % args) + '] ')
    sys.stderr.flush()


class Closed(Exception):
    pass


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return 'Response(%d %r %r)' % (self.status, self.headers, self.body[:200])


class RtspClient:
    """A minimal RTSP/1.0 client: requests with CSeq (and Session once set),
    responses parsed, '$' interleaved frames collected as (arrival, channel,
    payload) wherever they arrive."""

    def __init__(self, port, host='127.0.0.1', timeout=8.0):
        self.base = 'rtsp://%s:%d/live/%s' % (host, port, STREAM)
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.buf = b''
        self.cseq = 0
        self.session = None
        self.frames = []

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send_raw(self, data):
        self.sock.sendall(data)

    def request(self, method, url=None, headers=(), body=b''):
        self.cseq += 1
        lines = ['%s %s RTSP/1.0' % (method, url or self.base), 'CSeq: %d' % self.cseq,
                 'User-Agent: sc-test']
        if self.session:
            lines.append('Session: %s' % self.session)
        lines += list(headers)
        if body:
            lines.append('Content-Length: %d' % len(body))
        self.send_raw(('\r\n'.join(lines) + '\r\n\r\n').encode() + body)
        r = self.response()
        if r.header('cseq') != str(self.cseq):
            raise AssertionError('CSeq %r in answer to %d: %r' % (r.header('cseq'), self.cseq, r))
        return r

    def _fill(self, deadline):
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError('no data from the server')
        if not d:
            raise Closed('server closed the connection')
        self.buf += d

    def _frame(self):
        """Pop one interleaved frame off buf if complete; True if one was."""
        if len(self.buf) < 4 or self.buf[0:1] != b'$':
            return False
        n = struct.unpack('>H', self.buf[2:4])[0]
        if len(self.buf) < 4 + n:
            return False
        self.frames.append((time.monotonic(), self.buf[1], self.buf[4:4 + n]))
        self.buf = self.buf[4 + n:]
        return True

    def response(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            while self._frame():
                pass
            if self.buf[:1] != b'$':
                end = self.buf.find(b'\r\n\r\n')
                if end >= 0:
                    head = self.buf[:end].decode('utf-8', 'replace').split('\r\n')
                    headers = {}
                    for line in head[1:]:
                        k, _, v = line.partition(':')
                        headers[k.strip().lower()] = v.strip()
                    n = int(headers.get('content-length', '0'))
                    if len(self.buf) >= end + 4 + n:
                        body = self.buf[end + 4:end + 4 + n]
                        self.buf = self.buf[end + 4 + n:]
                        m = re.match(r'RTSP/1\.0 (\d{3}) ', head[0])
                        if not m:
                            raise AssertionError('bad status line %r' % head[0])
                        return Response(int(m.group(1)), headers, body)
            self._fill(deadline)

    def read_frames(self, seconds):
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                self._fill(deadline)
                while self._frame():
                    pass
        except TimeoutError:
            pass

    def wait_closed(self, timeout):
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self._fill(deadline)
                while self._frame():
                    pass
                self.buf = b'' if self.buf[:1] != b'$' else self.buf
        except (Closed, ConnectionResetError):
            return True
        except (TimeoutError, OSError):
            return False
        return False

    # -- the usual sequence

    def describe(self):
        r = self.request('DESCRIBE', headers=['Accept: application/sdp'])
        return r

    def setup(self, track, transport):
        r = self.request('SETUP', '%s/trackID=%d' % (self.base, track), ['Transport: ' + transport])
        if r.status == 200 and r.header('session'):
            self.session = r.header('session').split(';')[0]
        return r

    def play(self):
        return self.request('PLAY', self.base + '/', ['Range: npt=0.000-'])


def rtp_info(value):
    """{track: (seq, rtptime)} of an RTP-Info header."""
    out = {}
    for item in value.split(','):
        f = dict(p.split('=', 1) for p in item.strip().split(';') if '=' in p)
        m = re.search(r'trackID=(\d+)$', f['url'])
        out[int(m.group(1))] = (int(f['seq']), int(f['rtptime']))
    return out


def parse_sr(payload):
    """(ssrc, ntp seconds as float, rtp ts) of the SR opening a compound RTCP packet, or None."""
    if len(payload) < 28 or payload[1] != 200:
        return None
    ssrc, hi, lo, ts = struct.unpack('>IIII', payload[4:20])
    return ssrc, hi + lo / 2.0 ** 32, ts


class Rtsp(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cluster.require_cluster_tools()
        cls.procs = []
        try:
            cls.redis = cls._track(cluster.Redis().start())
            cls.origin_rtsp = harness.free_port()
            cls.origin = cls._track(cluster.Origin('o', cls.redis, sets={
                'rtsp_listen': '127.0.0.1:%d' % cls.origin_rtsp}).start())
            cls.edge_rtsp = harness.free_port()
            cls.edge = cls._track(cluster.Edge('e', cls.redis, workers=2, sets={
                'rtsp_listen': '127.0.0.1:%d' % cls.edge_rtsp,
                'rtsp_session_timeout': '%ds' % SESSION_TIMEOUT_S}).start())
            cls.pub = cls._track(cluster.Publisher(cls.origin.url(STREAM)).start())
            t = cls.wait_describe(cls.edge_rtsp, 25)
            say('edge RTSP DESCRIBE ok after %.1f s', t)
        except BaseException:
            cls._stop_all()
            raise

    @classmethod
    def tearDownClass(cls):
        cls._stop_all()

    @classmethod
    def _track(cls, p):
        cls.procs.append(p)
        return p

    @classmethod
    def _stop_all(cls):
        for p in reversed(cls.procs):
            p.stop()

    @classmethod
    def wait_describe(cls, port, timeout):
        t0 = time.monotonic()
        last = None
        while time.monotonic() - t0 < timeout:
            if not cls.pub.alive():
                raise AssertionError('publisher exited: %s' % cls.pub.tail(10))
            c = None
            try:
                c = RtspClient(port)
                last = c.describe()
                if last.status == 200:
                    return time.monotonic() - t0
            except (OSError, Closed, TimeoutError) as e:
                last = e
            finally:
                if c:
                    c.close()
            time.sleep(0.3)
        raise AssertionError('no DESCRIBE 200 on port %d within %.0f s: %r' % (port, timeout, last))

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            for p in self.procs:
                sys.stderr.write('\n----- last 30 lines of %s (%s) -----\n%s\n'
                                 % (p.name, p.log_path, p.tail(30)))
        return out

    def url(self, port=None):
        return 'rtsp://127.0.0.1:%d/live/%s' % (port or self.edge_rtsp, STREAM)

    def client(self, port=None):
        c = RtspClient(port or self.edge_rtsp)
        self.addCleanup(c.close)
        return c

    # ------------------------------------------------------------ real players

    def test_01_ffprobe_udp_tcp_edge_and_origin(self):
        for port, transport in ((self.edge_rtsp, 'udp'), (self.edge_rtsp, 'tcp'),
                                (self.origin_rtsp, 'tcp')):
            r = harness.run(['ffprobe', '-hide_banner', '-v', 'error', '-rtsp_transport', transport,
                             '-show_streams', '-of', 'json', self.url(port)], 20)
            self.assertEqual(r.returncode, 0, '%s %s: %s' % (port, transport, r.stderr[-800:]))
            v, a = cluster.video_audio(json.loads(r.stdout).get('streams', []))
            self.assertEqual((v.get('codec_name'), v.get('width'), v.get('height')),
                             ('h264', 320, 240), v)
            self.assertEqual((a.get('codec_name'), a.get('sample_rate'), a.get('channels')),
                             ('aac', '44100', 2), a)

    def test_02_ffmpeg_decodes_udp_and_tcp(self):
        """Four players at once, two per transport, on one shared stream."""
        results = {}

        def decode(i, transport):
            args = ['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error', '-xerror',
                    '-rtsp_transport', transport, '-i', self.url(), '-frames:v', '50',
                    '-f', 'null', '-progress', 'pipe:1', '-nostats', '-']
            results[i] = (transport, harness.run(args, 30))
        threads = [threading.Thread(target=decode, args=(i, t))
                   for i, t in enumerate(('udp', 'tcp', 'udp', 'tcp'))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(40)
        self.assertEqual(len(results), 4)
        for i, (transport, r) in sorted(results.items()):
            frames = [int(x) for x in re.findall(rb'^frame=(\d+)', r.stdout, re.M)]
            self.assertEqual(r.returncode, 0, 'ffmpeg %d (%s): %s' % (i, transport, r.stderr[-600:]))
            self.assertGreaterEqual(max(frames or [0]), 50, 'ffmpeg %d (%s) decoded %r'
                                    % (i, transport, frames[-1:]))
            self.assertNotIn(b'error', r.stderr.lower(), r.stderr[-600:])

    def test_03_gstreamer_rtspsrc(self):
        if not harness.gst_has('rtspsrc', 'decodebin', 'fakesink'):
            self.skipTest('GStreamer rtspsrc/decodebin not installed')
        for proto in ('udp', 'tcp'):
            # one decoder per RTP stream; each sink ends after enough buffers
            # (50 video frames, 100 AAC frames: 2 s), then the pipeline ends
            r = harness.run(['gst-launch-1.0', '-e', 'rtspsrc', 'name=s', 'location=' + self.url(),
                             'protocols=' + proto,
                             's.', '!', 'application/x-rtp,media=video', '!', 'decodebin', '!',
                             'video/x-raw', '!', 'fakesink', 'num-buffers=50',
                             's.', '!', 'application/x-rtp,media=audio', '!', 'decodebin', '!',
                             'audio/x-raw', '!', 'fakesink', 'num-buffers=100'], 20)
            out = (r.stdout + r.stderr).decode('utf-8', 'replace')
            self.assertEqual(r.returncode, 0, '%s: %s' % (proto, out[-800:]))
            self.assertIn('Got EOS', out, '%s: 50 decoded frames not reached: %s' % (proto, out[-800:]))
            self.assertNotIn('ERROR', out, out[-800:])

    # ------------------------------------------------------------ protocol and sync

    def test_04_rtp_info_and_sender_reports_sync(self):
        c = self.client()
        d = c.describe()
        self.assertEqual(d.status, 200, d)
        self.assertEqual(d.header('content-type'), 'application/sdp')
        self.assertEqual(d.header('content-base'), c.base + '/')
        sdp = d.body.decode()
        self.assertIn('a=control:trackID=0', sdp)
        clock = {0: 90000, 1: int(re.search(r'a=rtpmap:\d+ mpeg4-generic/(\d+)', sdp).group(1))}
        self.assertEqual(clock[1], 44100)
        s0 = c.setup(0, 'RTP/AVP/TCP;unicast;interleaved=0-1')
        self.assertEqual(s0.status, 200, s0)
        self.assertRegex(s0.header('session'), r';timeout=%d$' % SESSION_TIMEOUT_S)
        self.assertIn('interleaved=0-1', s0.header('transport'))
        s1 = c.setup(1, 'RTP/AVP/TCP;unicast;interleaved=2-3')
        self.assertEqual(s1.status, 200, s1)
        p = c.play()
        self.assertEqual(p.status, 200, p)
        self.assertEqual(p.header('range'), 'npt=0.000-')
        info = rtp_info(p.header('rtp-info'))
        self.assertEqual(set(info), {0, 1}, p)
        c.read_frames(2.5)
        rtp = {0: [], 1: []}
        sr = {}
        for _, ch, data in c.frames:
            if ch in (0, 2):
                seq, ts = struct.unpack('>HI', data[2:8])
                rtp[ch // 2].append((seq, ts, data[1] & 0x7f))
            elif ch in (1, 3) and ch // 2 not in sr:
                sr[ch // 2] = parse_sr(data)
        self.assertTrue(rtp[0] and rtp[1], 'RTP on both tracks: %d video, %d audio'
                        % (len(rtp[0]), len(rtp[1])))
        # the first frames of the connection are the SRs sent at PLAY
        first_channels = [ch for _, ch, _ in c.frames[:2]]
        self.assertEqual(sorted(first_channels), [1, 3], 'SR right at PLAY, before RTP')
        for k in (0, 1):
            # seq names the first packet; rtptime is exact when that packet was
            # queued at PLAY (the GOP), else the clock's "now" for the next one
            self.assertEqual(rtp[k][0][0], info[k][0], 'RTP-Info seq of track %d' % k)
            dt = ((rtp[k][0][1] - info[k][1] + 2 ** 31) % 2 ** 32) - 2 ** 31
            self.assertLessEqual(abs(dt), clock[k] // 10, 'RTP-Info rtptime of track %d' % k)
            if k == 0:
                self.assertEqual(dt, 0, 'video starts with the cached GOP: exact rtptime')
            seqs = [s for s, _, _ in rtp[k]]
            gaps = [(a, b) for a, b in zip(seqs, seqs[1:]) if (b - a) & 0xffff != 1]
            self.assertEqual(gaps, [], 'sequence numbers of track %d not continuous' % k)
            self.assertIsNotNone(sr.get(k), 'no SR for track %d' % k)
        self.assertEqual((rtp[0][0][2], rtp[1][0][2]), (96, 97))

        # wall time of the first packet of each track through its own SR:
        # the GOP starts at the keyframe and audio right after it
        def wall(k, ts):
            _, ntp, sr_ts = sr[k]
            delta = ((ts - sr_ts + 2 ** 31) % 2 ** 32) - 2 ** 31
            return ntp + delta / clock[k]
        skew = wall(1, rtp[1][0][1]) - wall(0, rtp[0][0][1])
        say('SR mapping: first audio - first video = %+.0f ms', skew * 1000)
        self.assertLess(abs(skew), 0.2, 'first audio and video packets %.3f s apart on the SR clock' % skew)
        # and the mapping tracks real time: the newest packet is about "now"
        last_v = wall(0, rtp[0][-1][1])
        now_ntp = time.time() + 2208988800
        self.assertLess(abs(now_ntp - last_v), 3.0, 'SR wall clock vs now: %.2f s' % (now_ntp - last_v))
        t = c.request('TEARDOWN', c.base + '/')
        self.assertEqual(t.status, 200, t)

    def test_05_ffprobe_av_sync_tcp(self):
        r = harness.run(['ffprobe', '-hide_banner', '-v', 'error', '-rtsp_transport', 'tcp',
                         '-read_intervals', '%+2', '-show_packets', '-show_entries',
                         'packet=stream_index,pts_time', '-of', 'csv=p=0', self.url()], 20)
        self.assertEqual(r.returncode, 0, r.stderr[-800:])
        first = {}
        for line in r.stdout.decode().splitlines():
            f = line.split(',')
            if len(f) >= 2 and f[1] not in ('', 'N/A') and f[0] not in first:
                first[f[0]] = float(f[1])
        self.assertEqual(set(first), {'0', '1'}, r.stdout[:400])
        skew = first['1'] - first['0']
        say('ffprobe first pts: video %.3f audio %.3f', first['0'], first['1'])
        self.assertLess(abs(skew), 0.2, 'first audio/video pts %.3f s apart' % skew)

    def test_06_status_codes(self):
        c = self.client()
        o = c.request('OPTIONS', '*')
        self.assertEqual(o.status, 200, o)
        for m in ('DESCRIBE', 'SETUP', 'PLAY', 'TEARDOWN', 'GET_PARAMETER'):
            self.assertIn(m, o.header('public'))
        self.assertEqual(c.request('PLAY', headers=['Session: NOSUCH']).status, 454)
        self.assertEqual(c.request('GET_PARAMETER', headers=['Session: NOSUCH']).status, 454)
        self.assertEqual(c.describe().status, 200)
        self.assertEqual(c.setup(0, 'RTP/AVP;multicast').status, 461)
        self.assertEqual(c.setup(0, 'RTP/SAVP;unicast;client_port=5000-5001').status, 461)
        self.assertEqual(c.setup(0, 'RTP/AVP;unicast;client_port=x-y').status, 400)
        self.assertIsNone(c.session)
        ok = c.setup(0, 'RTP/AVP/TCP;unicast;interleaved=0-1')
        self.assertEqual(ok.status, 200, ok)
        self.assertEqual(c.request('GET_PARAMETER').status, 200)
        self.assertEqual(c.setup(1, 'RTP/AVP;unicast;client_port=5000-5001').status, 461,
                         'one lower transport per session')
        self.assertEqual(c.request('RECORD').status, 405)
        self.assertEqual(c.request('FROBNICATE').status, 501)
        self.assertEqual(c.play().status, 200)
        self.assertEqual(c.setup(1, 'RTP/AVP/TCP;unicast;interleaved=2-3').status, 455,
                         'SETUP while playing')
        self.assertEqual(c.request('PAUSE').status, 200)
        self.assertEqual(c.request('TEARDOWN').status, 200)
        c.session = None
        # a stream nobody publishes: DESCRIBE waits for codec headers, then 404
        t0 = time.monotonic()
        n = c.request('DESCRIBE', 'rtsp://127.0.0.1:%d/live/nobody' % self.edge_rtsp)
        waited = time.monotonic() - t0
        self.assertEqual(n.status, 404, n)
        self.assertGreater(waited, 4.0)
        self.assertLess(waited, 7.5)

    # ------------------------------------------------------------ robustness

    def test_07_silent_udp_session_times_out(self):
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(rtp.close)
        self.addCleanup(rtcp.close)
        rtp.bind(('127.0.0.1', 0))
        rtcp.bind(('127.0.0.1', 0))
        ports = (rtp.getsockname()[1], rtcp.getsockname()[1])
        c = self.client()
        self.assertEqual(c.describe().status, 200)
        s = c.setup(0, 'RTP/AVP;unicast;client_port=%d-%d' % ports)
        self.assertEqual(s.status, 200, s)
        m = re.search(r'server_port=(\d+)-(\d+)', s.header('transport'))
        self.assertIsNotNone(m, s)
        mark = self.edge.mark()
        self.assertEqual(c.play().status, 200)
        t_last = time.monotonic()
        # media flows to the UDP port: read a little, then go silent
        rtp.settimeout(3)
        self.assertGreater(len(rtp.recv(2048)), 12)
        closed = c.wait_closed(SESSION_TIMEOUT_S + 4)
        took = time.monotonic() - t_last
        self.assertTrue(closed, 'server kept the silent session\'s connection open')
        line = self.edge.wait_log(r'rtsp: session %s timed out' % re.escape(c.session), 2, after=mark)
        self.assertIsNotNone(line, 'no timeout log line for session %s' % c.session)
        say('silent session closed after %.1f s', took)
        self.assertGreater(took, SESSION_TIMEOUT_S - 0.5)
        self.assertLess(took, SESSION_TIMEOUT_S + 3)

    def test_08_bad_input_closes_only_that_connection(self):
        player = self.client()
        self.assertEqual(player.describe().status, 200)
        self.assertEqual(player.setup(0, 'RTP/AVP/TCP;unicast;interleaved=0-1').status, 200)
        self.assertEqual(player.play().status, 200)
        player.read_frames(0.5)
        mark = self.edge.mark()
        bad = [b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n',
               b'OPTIONS * RTSP/1.0\r\nCSeq: 7\r\nX-Pad: ' + b'a' * 20000 + b'\r\n\r\n',
               b'DESCRIBE rtsp://x/live/cam HTTP/1.1\r\nCSeq: 3\r\n\r\n',
               b'OPTIONS * RTSP/1.0\r\nUser-Agent: no-cseq\r\n\r\n']
        for i, data in enumerate(bad):
            c = RtspClient(self.edge_rtsp)
            try:
                try:
                    c.send_raw(data)
                except OSError:
                    pass   # the server may close before reading it all
                r = c.response()
                self.assertEqual(r.status, 400, 'bad input %d: %r' % (i, r))
                if i == 1:
                    self.assertEqual(r.header('cseq'), '7', 'CSeq read before the overflow is echoed')
                self.assertTrue(c.wait_closed(3), 'bad input %d: connection left open' % i)
            finally:
                c.close()
        self.assertGreaterEqual(len(self.edge.lines(r'rtsp: bad request from', mark)), len(bad))
        before = len(player.frames)
        player.read_frames(1.0)
        self.assertGreater(len(player.frames) - before, 20, 'the good player stopped receiving')
        self.assertEqual(player.request('GET_PARAMETER').status, 200)
        for p in self.procs:
            self.assertTrue(p.alive(), '%s died' % p.name)


if __name__ == '__main__':
    os.environ.setdefault('SC_TEST_FILE_TIMEOUT', '150')
    harness.main()
