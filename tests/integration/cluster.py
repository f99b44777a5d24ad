"""Cluster test helpers: a real redis-server, origin and edge processes, and
players that record what they receive, on one host or across network
namespaces (one per "host").

Builds on harness.py (process registry, kill by PID at exit, bounded waits)
and rtmpclient.py. Every process has its own log file; ClusterTestCase
prints the tail of each one when a test fails.
"""
import atexit
import contextlib
import ctypes
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

import harness
import rtmpclient
from rtmpclient import AUDIO, VIDEO, COMMAND_AMF0

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)

# harness's watchdog and SIGTERM handler end with os._exit (no atexit): hook
# our own cleanups (network namespaces) into its cleanup.
_extra_cleanups = []
_live_edges = []
_harness_cleanup = harness._cleanup


def _cleanup_all():
    for e in list(_live_edges):      # before their masters die: workers would be orphaned
        e.kill_workers()
    _harness_cleanup()
    for f in list(_extra_cleanups):
        f()


harness._cleanup = _cleanup_all


def edge_binary():
    p = os.path.join(harness.BUILD_DIR, 'edge')
    if os.path.isdir(p):
        p = os.path.join(p, 'edge')
    return p


def require_cluster_tools():
    harness.require_tools('redis-server', 'redis-cli', 'ffmpeg', 'ffprobe')
    for b in (harness.origin_binary(), edge_binary()):
        if not os.access(b, os.X_OK):
            raise RuntimeError('%s not built (set SC_BUILD_DIR)' % b)


# ---------------------------------------------------------------- network namespaces

@contextlib.contextmanager
def in_netns(ns):
    """Run the body (this thread only) in network namespace ns; sockets made
    inside stay there. ns None: no change."""
    if not ns:
        yield
        return
    orig = os.open('/proc/thread-self/ns/net', os.O_RDONLY)
    target = os.open('/var/run/netns/%s' % ns, os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, 'setns(%s): %s' % (ns, os.strerror(e)))
        try:
            yield
        finally:
            if _libc.setns(orig, CLONE_NEWNET) != 0:
                os._exit(99)     # cannot continue in the wrong namespace
    finally:
        os.close(orig)
        os.close(target)


def ns_prefix(ns):
    return ['ip', 'netns', 'exec', ns] if ns else []


def sh(args, timeout=10.0, check=True):
    r = harness.run(args, timeout)
    if check and r.returncode != 0:
        raise RuntimeError('%s failed rc=%s: %s' % (' '.join(args), r.returncode,
                                                     r.stderr.decode('utf-8', 'replace')[-400:]))
    return r


class Topology:
    """A bridge in its own namespace and one namespace per host, each with
    eth0 on 10.77.N.0/24 (N random per run). Nothing is created in the root
    namespace. cleanup() is idempotent and registered with atexit."""

    def __init__(self, hosts):
        self.tag = 'scit%d' % os.getpid()
        self.net = random.randrange(1, 250)
        self.bridge_ns = self.tag + '-br'
        self.hosts = {}          # host name -> (ns, ip)
        self.created = []
        self.names = list(hosts)

    def ns(self, host):
        return self.hosts[host][0]

    def ip(self, host):
        return self.hosts[host][1]

    @staticmethod
    def sweep_stale():
        """Remove namespaces left by a run that was SIGKILLed (its pid is gone)."""
        r = harness.run(['ip', 'netns', 'list'], 10)
        for line in r.stdout.decode().splitlines():
            m = re.match(r'(scit(\d+)-\S+)', line)
            if m and int(m.group(2)) != os.getpid() and not os.path.exists('/proc/' + m.group(2)):
                harness.run(['ip', 'netns', 'del', m.group(1)], 10)

    def setup(self):
        atexit.register(self.cleanup)
        _extra_cleanups.append(self.cleanup)
        self.sweep_stale()
        self._add_ns(self.bridge_ns)
        b = ['ip', '-n', self.bridge_ns]
        sh(b + ['link', 'add', 'br0', 'type', 'bridge'])
        sh(b + ['link', 'set', 'br0', 'up'])
        for i, host in enumerate(self.names):
            ns = '%s-%s' % (self.tag, host)
            ip = '10.77.%d.%d' % (self.net, i + 2)
            self._add_ns(ns)
            n = ['ip', '-n', ns]
            sh(n + ['link', 'set', 'lo', 'up'])
            sh(b + ['link', 'add', 'v%d' % i, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
            sh(b + ['link', 'set', 'v%d' % i, 'master', 'br0', 'up'])
            sh(n + ['addr', 'add', ip + '/24', 'dev', 'eth0'])
            sh(n + ['link', 'set', 'eth0', 'up'])
            self.hosts[host] = (ns, ip)
        # the bridge forwards at once (no STP); check each host is reachable over TCP
        first = self.names[0]
        for host in self.names[1:]:
            self.check_reachable(first, host)
        return self

    def check_reachable(self, src, dst, timeout=10.0):
        with in_netns(self.ns(dst)):
            srv = socket.socket()
            srv.bind((self.ip(dst), 0))
            srv.listen(1)
        port = srv.getsockname()[1]
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    with in_netns(self.ns(src)):
                        c = socket.create_connection((self.ip(dst), port), timeout=1)
                    c.close()
                    return
                except OSError as e:
                    if time.monotonic() > deadline:
                        raise RuntimeError('namespace %s cannot reach %s:%d: %s'
                                           % (src, self.ip(dst), port, e))
                    time.sleep(0.2)
        finally:
            srv.close()

    def _add_ns(self, ns):
        sh(['ip', 'netns', 'add', ns])
        self.created.append(ns)

    def link(self, host, up):
        sh(['ip', '-n', self.ns(host), 'link', 'set', 'eth0', 'up' if up else 'down'])

    def cleanup(self):
        while self.created:
            ns = self.created.pop()
            harness.run(['ip', 'netns', 'del', ns], 10)


def netns_available():
    """None if we can create namespaces, else the reason why not."""
    if os.geteuid() != 0:
        return 'not root'
    if not harness.have('ip'):
        return 'iproute2 (ip) not installed'
    probe = 'scprobe%d' % os.getpid()
    r = harness.run(['ip', 'netns', 'add', probe], 10)
    if r.returncode != 0:
        return 'ip netns add failed: %s' % r.stderr.decode('utf-8', 'replace').strip()
    harness.run(['ip', 'netns', 'del', probe], 10)
    return None


# ---------------------------------------------------------------- processes

class Proc:
    """A long-running process with its own log file (optionally in a netns)."""

    def __init__(self, name, ns=None):
        self.name = name
        self.ns = ns
        self.log_path = harness.tmp_path('%s-%d.log' % (name, time.monotonic_ns()))
        self.proc = None

    def spawn(self, args):
        self.args = ns_prefix(self.ns) + args
        with open(self.log_path, 'ab') as f:
            f.write(('$ %s\n' % ' '.join(self.args)).encode())
        self.proc = harness.spawn(self.args, self.log_path)
        return self.proc

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGKILL, timeout=8.0):
        if self.proc is None:
            return None
        return harness.kill(self.proc, sig, timeout)

    def log(self):
        return harness.read_text(self.log_path)

    def mark(self):
        """Position in the log, for wait_log(after=...)."""
        return len(self.log())

    def lines(self, regex, after=0):
        r = re.compile(regex)
        return [m for m in (r.search(l) for l in self.log()[after:].splitlines()) if m]

    def wait_log(self, regex, timeout=5.0, after=0, count=1):
        """Wait until `count` lines match regex (after position `after`);
        return the last match or None."""
        deadline = time.monotonic() + timeout
        while True:
            ms = self.lines(regex, after)
            if len(ms) >= count:
                return ms[count - 1]
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def tail(self, n=30):
        return harness.tail(self.log_path, n)


class Redis(Proc):
    def __init__(self, host='127.0.0.1', port=None, ns=None, name='redis'):
        super().__init__(name, ns)
        self.host = host
        self.port = port or harness.free_port()

    @property
    def addr(self):
        return '%s:%d' % (self.host, self.port)

    def start(self, timeout=10.0):
        args = ['redis-server', '--port', str(self.port), '--bind', self.host,
                '--save', '', '--appendonly', 'no']
        if not self.host.startswith('127.'):
            args += ['--protected-mode', 'no']   # a private namespace, no password
        self.spawn(args)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                break
            r = harness.run(ns_prefix(self.ns) + ['redis-cli', '-h', self.host, '-p',
                                                  str(self.port), 'ping'], 5)
            if r.returncode == 0 and r.stdout.strip() == b'PONG':
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError('redis-server did not start on %s: %s' % (self.addr, self.tail()))

    def cli(self, *args, timeout=5.0):
        """One redis-cli command; stdout lines (raw mode) or None on failure."""
        r = harness.run(ns_prefix(self.ns) + ['redis-cli', '-h', self.host, '-p',
                                              str(self.port)] + [str(a) for a in args], timeout)
        if r.returncode != 0:
            return None
        out = r.stdout.decode('utf-8', 'replace')
        if out.endswith('\n'):
            out = out[:-1]
        return out.split('\n') if out else []

    def hgetall(self, key):
        v = self.cli('hgetall', key) or []
        if len(v) == 1 and v[0].startswith('ERR'):
            return {}
        return dict(zip(v[0::2], v[1::2]))

    def keys(self, pattern='*'):
        return self.cli('keys', pattern) or []

    def wait_hash(self, key, pred=lambda h: bool(h), timeout=8.0):
        """Wait until hgetall(key) satisfies pred; return it (or the last value)."""
        deadline = time.monotonic() + timeout
        while True:
            h = self.hgetall(key)
            if pred(h) or time.monotonic() >= deadline:
                return h
            time.sleep(0.1)


class Node(Proc):
    """An origin or edge process. sets: --set directives."""

    BINARY = None
    READY = None

    def __init__(self, name, redis, host='127.0.0.1', ns=None, sets=None, advertise=None):
        super().__init__(name, ns)
        self.host = host
        self.port = harness.free_port() if ns is None else random.randrange(20000, 60000)
        self.sets = {'redis': redis.addr, 'advertise_host': advertise or host,
                     'node_id': '%s-%d' % (name, self.port)}
        self.sets.update(sets or {})
        self.node_id = self.sets['node_id']

    def start(self, timeout=10.0):
        args = [self.binary(), '--listen', '%s:%d' % (self.host, self.port),
                '--log-level', os.environ.get('SC_LOG_LEVEL', 'info')]
        for k, v in self.sets.items():
            args += ['--set', '%s=%s' % (k, v)]
        self.spawn(args)
        if not self.wait_ready(timeout):
            self.stop()
            raise RuntimeError('%s did not start (rc=%s); log:\n%s'
                               % (self.name, self.proc.poll(), self.tail()))
        return self

    def url(self, stream, app='live'):
        return 'rtmp://%s:%d/%s/%s' % (self.host, self.port, app, stream)

    def client(self, timeout=10.0, **kw):
        with in_netns(self.client_ns):
            return rtmpclient.RtmpClient(self.host, self.port, timeout=timeout, **kw)

    client_ns = None   # namespace raw clients connect from (set by the test)


class Origin(Node):
    def __init__(self, name, redis, host='127.0.0.1', ns=None, sets=None, advertise=None):
        super().__init__(name, redis, host, ns, sets, advertise)
        if ns is None:
            pub, router = harness.free_port(), harness.free_port()
        else:
            pub, router = self.port + 1, self.port + 2
        base = {'cluster': 'on', 'play': 'off',
                'pub_listen': 'tcp://%s:%d' % (host, pub),
                'router_listen': 'tcp://%s:%d' % (host, router)}
        base.update(self.sets)
        self.sets = base

    def binary(self):
        return harness.origin_binary()

    def wait_ready(self, timeout):
        return self.wait_log(r'origin .* listening rtmp=', timeout) is not None and self.alive()


class Edge(Node):
    def __init__(self, name, redis, host='127.0.0.1', ns=None, sets=None, advertise=None,
                 workers=2):
        super().__init__(name, redis, host, ns, dict({'workers': workers}, **(sets or {})),
                         advertise)
        self.workers = int(self.sets['workers'])

    def binary(self):
        return edge_binary()

    def start(self, timeout=10.0):
        _live_edges.append(self)
        return super().start(timeout)

    def stop(self, sig=signal.SIGTERM, timeout=8.0):
        """SIGTERM the master (it stops its workers), then SIGKILL whatever is
        left. SIGKILLing only the master would orphan its workers."""
        if self.proc is None:
            return None
        workers = self.worker_pids()
        rc = super().stop(sig, timeout)
        self.kill_workers(workers)
        if self in _live_edges:
            _live_edges.remove(self)
        return rc

    def kill_workers(self, pids=None):
        for pid in (self.worker_pids() if pids is None else pids):
            try:
                with open('/proc/%d/cmdline' % pid, 'rb') as f:
                    argv = f.read().decode('utf-8', 'replace').split('\0')
            except OSError:
                continue
            if '%s:%d' % (self.host, self.port) in argv:    # ours, not a recycled pid
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def wait_ready(self, timeout):
        return self.wait_log(r'edge worker \d+ node=\S+ listening', timeout,
                             count=self.workers) is not None and self.alive()

    def worker_pids(self):
        """Current worker pids (children of the master)."""
        try:
            with open('/proc/%d/task/%d/children' % (self.pid, self.pid)) as f:
                return sorted(int(x) for x in f.read().split())
        except OSError:
            return []

    def connections_by_pid(self):
        """{worker pid: number of established RTMP connections it owns} (ss -tnp)."""
        r = harness.run(ns_prefix(self.ns) + ['ss', '-Htnp', 'state', 'established',
                                              '( sport = :%d )' % self.port], 10)
        out = {}
        for m in re.finditer(rb'pid=(\d+)', r.stdout):
            pid = int(m.group(1))
            out[pid] = out.get(pid, 0) + 1
        return out

    def worker_node_ids(self):
        return ['%s#%d' % (self.node_id, i) for i in range(self.workers)]


class Publisher(Proc):
    """ffmpeg publishing a test pattern (25 fps, keyframe every second, AAC)."""

    def __init__(self, url, source='testsrc', size='320x240', ns=None, name='pub'):
        super().__init__(name, ns)
        self.url, self.source, self.size = url, source, size

    def start(self):
        self.spawn(['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error', '-re',
                    '-f', 'lavfi', '-i', '%s=size=%s:rate=25' % (self.source, self.size),
                    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
                    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency',
                    '-g', '25', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-ac', '2', '-b:a', '64k',
                    '-f', 'flv', self.url])
        return self


# ---------------------------------------------------------------- players

class Recorder(threading.Thread):
    """A raw RTMP player reading in the background. Records, per message:
    (arrival monotonic seconds, type, timestamp, payload length, flags) where
    flags has 'k' keyframe, 's' sequence header; and the onStatus codes."""

    def __init__(self, node, stream, timeout=10.0):
        super().__init__(daemon=True)
        self.node, self.stream = node, stream
        self.client = node.client(timeout=timeout)
        self.client.connect()
        self.client.create_stream()
        self.msgs = []
        self.status = []        # (arrival, code)
        self.seq_headers = []   # (type, payload) of every sequence header
        self.error = None
        self.closed_at = None
        self._halt = threading.Event()
        self.lock = threading.Lock()
        self.t_play = None

    def start(self):
        self.t_play = time.monotonic()
        self.client.play(self.stream, wait=False)
        super().start()
        return self

    def run(self):
        try:
            while not self._halt.is_set():
                m = self.client.read_message(0.2)
                if m is None:
                    continue
                now = time.monotonic()
                self.client.received.clear()     # bounded history
                if m.type in (AUDIO, VIDEO):
                    flags = ('k' if m.is_video_keyframe() else '') + \
                            ('s' if m.is_video_seq_header() or m.is_audio_seq_header() else '')
                    with self.lock:
                        self.msgs.append((now, m.type, m.timestamp, len(m.payload), flags))
                        if 's' in flags:
                            self.seq_headers.append((m.type, m.payload))
                elif m.type == COMMAND_AMF0 and m.name == 'onStatus':
                    info = m.amf[3] if len(m.amf) > 3 and isinstance(m.amf[3], dict) else {}
                    with self.lock:
                        self.status.append((now, info.get('code')))
        except rtmpclient.ConnectionClosed as e:
            self.closed_at = time.monotonic()
            self.error = e
        except Exception as e:     # noqa: BLE001 - reported by the test
            self.closed_at = time.monotonic()
            self.error = e

    def stop(self):
        self._halt.set()
        self.join(timeout=3)
        self.client.close()

    def snapshot(self):
        with self.lock:
            return list(self.msgs)

    def media(self, since=0.0):
        return [m for m in self.snapshot() if m[0] >= since]

    def video(self, since=0.0):
        return [m for m in self.media(since) if m[1] == VIDEO]

    def wait(self, pred, timeout, what):
        """Wait until pred(self) is true; raise AssertionError with details otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred(self):
                return time.monotonic()
            if self.closed_at is not None:
                break
            time.sleep(0.02)
        raise AssertionError('player of %s on %s: %s not seen within %.1f s (closed=%s error=%r, '
                             '%d media messages, status=%r)'
                             % (self.stream, self.node.name, what, timeout,
                                self.closed_at is not None, self.error, len(self.msgs),
                                self.status[-5:]))

    def wait_keyframe(self, timeout=10.0, since=0.0):
        """Arrival time of the first coded video keyframe arriving at or after `since`."""
        self.wait(lambda r: any('k' in m[4] for m in r.video(since)), timeout,
                  'a video keyframe')
        return next(m[0] for m in self.video(since) if 'k' in m[4])

    def wait_video_count(self, n, timeout=10.0, since=0.0):
        self.wait(lambda r: len(r.video(since)) >= n, timeout, '%d video messages' % n)

    def backwards(self):
        """Media messages whose timestamp is lower than the one before."""
        out, prev = [], None
        for m in self.snapshot():
            if prev is not None and m[2] < prev[2]:
                out.append((prev, m))
            prev = m
        return out

    def largest_gap(self, since=0.0):
        """(gap seconds, message before, message after) of media arrivals after `since`."""
        ms = self.media(since)
        best = (0.0, None, None)
        for a, b in zip(ms, ms[1:]):
            if b[0] - a[0] > best[0]:
                best = (b[0] - a[0], a, b)
        return best


class Decoder(Proc):
    """ffmpeg decoding a stream in the background (-frames:v N, -f null)."""

    def __init__(self, url, frames=50, timeout=30.0, ns=None, name='dec'):
        super().__init__(name, ns)
        self.url, self.frames, self.timeout = url, frames, timeout
        self.out_path = self.log_path + '.progress'

    def start(self):
        self.t0 = time.monotonic()
        self.out = open(self.out_path, 'wb')
        self.args = ns_prefix(self.ns) + harness.decode_args(self.url, self.frames)
        self.proc = harness.spawn(self.args, self.log_path, stdout=self.out)
        return self

    def frames_so_far(self):
        try:
            with open(self.out_path, 'rb') as f:
                vals = re.findall(rb'^frame=(\d+)', f.read(), re.M)
            return int(vals[-1]) if vals else 0
        except OSError:
            return 0

    def result(self):
        left = self.timeout - (time.monotonic() - self.t0)
        try:
            rc = self.proc.wait(timeout=max(0.1, left))
        except subprocess.TimeoutExpired:
            harness.kill(self.proc)
            rc = None
        elapsed = time.monotonic() - self.t0
        harness.kill(self.proc)
        self.out.close()
        return harness.Decode(rc, self.frames_so_far(), self.tail(20), elapsed)


def probe_streams(url, ns=None, timeout=20.0):
    r = harness.run(ns_prefix(ns) + ['ffprobe', '-hide_banner', '-v', 'error', '-show_streams',
                                     '-of', 'json', url], timeout)
    if r.returncode != 0:
        raise AssertionError('ffprobe %s failed rc=%s: %s' % (url, r.returncode, r.stderr[-800:]))
    return json.loads(r.stdout or b'{}').get('streams', [])


def video_audio(streams):
    v = [s for s in streams if s.get('codec_type') == 'video']
    a = [s for s in streams if s.get('codec_type') == 'audio']
    return (v[0] if v else {}), (a[0] if a else {})


def percentile(values, p):
    s = sorted(values)
    if not s:
        return float('nan')
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * (len(s) - 1)))))
    return s[k]


# ---------------------------------------------------------------- test base

class ClusterTestCase(unittest.TestCase):
    """Tracks every process a test starts (self.track) and stops them all in
    cleanup; prints each process's log tail when the test fails."""

    def setUp(self):
        require_cluster_tools()
        self.procs = []
        self.recorders = []
        self.addCleanup(self._stop_all)

    def track(self, p):
        self.procs.append(p)
        return p

    def redis(self, **kw):
        return self.track(Redis(**kw).start())

    def origin(self, name, redis, **kw):
        return self.track(Origin(name, redis, **kw).start())

    def edge(self, name, redis, **kw):
        return self.track(Edge(name, redis, **kw).start())

    def publish(self, node, stream, wait_node=None, timeout=20.0, **kw):
        """Start ffmpeg publishing to node; if wait_node, wait until a raw player
        there gets a keyframe."""
        p = self.track(Publisher(node.url(stream), name='pub-' + stream.replace('/', '_'),
                                 **kw).start())
        if wait_node is not None:
            self.wait_playable(wait_node, stream, timeout, p)
        return p

    def wait_playable(self, node, stream, timeout=20.0, pub=None):
        t0 = time.monotonic()
        deadline = t0 + timeout
        last = None
        while time.monotonic() < deadline:
            if pub is not None and not pub.alive():
                raise AssertionError('publisher exited rc=%s: %s' % (pub.proc.poll(), pub.tail(10)))
            c = None
            try:
                c = node.client(timeout=5)
                c.connect()
                c.create_stream()
                c.play(stream, wait=False)
                c.read_until(lambda m: m.is_video_keyframe(),
                             timeout=max(0.1, min(5.0, deadline - time.monotonic())),
                             what='keyframe')
                return time.monotonic() - t0
            except (OSError, rtmpclient.ConnectionClosed, rtmpclient.ProtocolError,
                    TimeoutError) as e:
                last = e
                time.sleep(0.2)
            finally:
                if c:
                    c.close()
        raise AssertionError('%s not playable on %s within %.0f s: %r'
                             % (stream, node.name, timeout, last))

    def recorder(self, node, stream):
        r = Recorder(node, stream).start()
        self.recorders.append(r)
        return r

    def decoder(self, node, stream, frames=50, timeout=30.0, ns=None):
        return self.track(Decoder(node.url(stream), frames, timeout, ns=ns)).start()

    def assert_decodes(self, node, stream, frames=50, timeout=30.0, ns=None):
        res = self.decoder(node, stream, frames, timeout, ns).result()
        self.assertEqual(res.rc, 0, 'decode of %s from %s failed: %r' % (stream, node.name, res))
        self.assertGreaterEqual(res.frames, frames, 'too few frames of %s from %s: %r'
                                % (stream, node.name, res))
        return res

    def assert_monotonic(self, rec):
        back = rec.backwards()
        self.assertFalse(back, 'timestamps went backwards on %s (%d times), first: %r'
                         % (rec.node.name, len(back), back[:3]))

    def _stop_all(self):
        for r in self.recorders:
            r.stop()
        for p in reversed(self.procs):
            p.stop()

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            for p in getattr(self, 'procs', []):
                if isinstance(p, Decoder):
                    continue
                sys.stderr.write('\n----- last 30 lines of %s (%s) -----\n%s\n'
                                 % (p.name, p.log_path, p.tail(30)))
            sys.stderr.write('-----\n')
        return out


def main(limit=240):
    os.environ.setdefault('SC_TEST_FILE_TIMEOUT', str(limit))
    harness.main()
