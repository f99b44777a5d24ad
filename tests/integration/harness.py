"""Integration test harness: server under test, client tools, process registry.

Server under test: env SC_TEST_SERVER = origin (default; binary from
$SC_BUILD_DIR/origin, SC_BUILD_DIR defaulting to /work/main/build) or nginx
(reference nginx-rtmp, started with a private config under a temp dir).

Every process started here is registered and killed by PID at exit (atexit
and SIGTERM/SIGINT), every subprocess wait has a hard timeout, and a whole
test file is bounded by a watchdog (SC_TEST_FILE_TIMEOUT, default 170 s).
On a failing test the last 40 lines of the server log are printed.
"""
import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rtmpclient  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.normpath(os.path.join(HERE, '..', 'data'))
SERVER_KIND = os.environ.get('SC_TEST_SERVER', 'origin')
BUILD_DIR = os.environ.get('SC_BUILD_DIR', '/work/main/build')
NGINX_MODULE = '/usr/lib/nginx/modules/ngx_rtmp_module.so'
KEEP = os.environ.get('SC_KEEP_LOGS') == '1'

_TMP = tempfile.mkdtemp(prefix='sc-it-')
_procs = {}              # pid -> Popen
_lock = threading.Lock()


# ---------------------------------------------------------------- process registry

def spawn(args, log_path=None, stdout=None, **kw):
    """Start a process, registered for kill-at-exit. stderr (and stdout unless given)
    go to log_path (or /dev/null)."""
    logf = open(log_path, 'ab') if log_path else subprocess.DEVNULL
    try:
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                             stdout=stdout if stdout is not None else logf,
                             stderr=logf, **kw)
    finally:
        if log_path:
            logf.close()
    p.log_path = log_path
    with _lock:
        _procs[p.pid] = p
    return p


def kill(p, sig=signal.SIGKILL, wait=5.0):
    """Signal one registered process by PID and reap it (bounded)."""
    if p.poll() is None:
        try:
            os.kill(p.pid, sig)
        except ProcessLookupError:
            pass
    try:
        p.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        if sig != signal.SIGKILL:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=5)
    with _lock:
        _procs.pop(p.pid, None)
    return p.returncode


def kill_all():
    with _lock:
        procs = list(_procs.values())
    for p in procs:
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGCONT)   # a SIGSTOPped process must die too
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for p in procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    with _lock:
        _procs.clear()


def _cleanup():
    kill_all()
    if not KEEP:
        shutil.rmtree(_TMP, ignore_errors=True)
    else:
        sys.stderr.write('integration logs kept in %s\n' % _TMP)


atexit.register(_cleanup)


def _on_signal(signum, frame):
    _cleanup()
    os._exit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)


def run(args, timeout, **kw):
    """subprocess.run with a hard timeout; on timeout the child is killed and
    a CompletedProcess with returncode None is returned."""
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, **kw)
    with _lock:
        _procs[p.pid] = p
    try:
        out, err = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate(timeout=5)
        rc = None
    with _lock:
        _procs.pop(p.pid, None)
    return subprocess.CompletedProcess(args, rc, out, err)


# ---------------------------------------------------------------- small utilities

def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=10.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def tmp_path(name):
    return os.path.join(_TMP, name)


def have(tool):
    return shutil.which(tool) is not None


def require_tools(*tools):
    missing = [t for t in tools if not have(t)]
    if missing:
        raise unittest.SkipTest('client tool(s) missing: %s' % ', '.join(missing))


def gst_has(*elements):
    if not have('gst-inspect-1.0'):
        return False
    for e in elements:
        if run(['gst-inspect-1.0', '--exists', e], timeout=20).returncode != 0:
            return False
    return True


def read_text(path):
    try:
        with open(path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')
    except OSError:
        return ''


def tail(path, n=40):
    try:
        with open(path, 'rb') as f:
            lines = f.read().decode('utf-8', 'replace').splitlines()
        return '\n'.join(lines[-n:])
    except OSError as e:
        return '<no log: %s>' % e


# ---------------------------------------------------------------- server under test

def origin_binary():
    p = os.path.join(BUILD_DIR, 'origin')
    if os.path.isdir(p):
        p = os.path.join(p, 'origin')
    return p


class Server:
    """The RTMP server under test on a free port, its log in a per-test file."""

    # --set names translated for nginx-rtmp where it has an equivalent
    NGINX_MAP = {'chunk_size': 'chunk_size', 'max_message_size': 'max_message',
                 'handshake_timeout': 'timeout'}

    def __init__(self, name='server', sets=None, kind=None):
        self.kind = kind or SERVER_KIND
        self.name = name
        self.sets = dict(sets or {})
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=name + '-', dir=_TMP)
        self.log_path = os.path.join(self.dir, 'server.log')
        self.proc = None

    @property
    def is_origin(self):
        return self.kind == 'origin'

    def start(self, timeout=10.0):
        if self.is_origin:
            binary = origin_binary()
            if not os.access(binary, os.X_OK):
                raise RuntimeError('origin binary not found at %s (set SC_BUILD_DIR, or '
                                   'SC_TEST_SERVER=nginx for the reference server)' % binary)
            args = [binary, '--listen', '127.0.0.1:%d' % self.port, '--log-level',
                    os.environ.get('SC_LOG_LEVEL', 'info')]
            for k, v in self.sets.items():
                args += ['--set', '%s=%s' % (k, v)]
        elif self.kind == 'nginx':
            if not (have('nginx') and os.path.exists(NGINX_MODULE)):
                raise unittest.SkipTest('nginx / libnginx-mod-rtmp not installed')
            extra = ''.join('        %s %s;\n' % (self.NGINX_MAP[k], v)
                            for k, v in self.sets.items() if k in self.NGINX_MAP)
            if 'chunk_size' not in self.sets:
                extra += '        chunk_size 4096;\n'
            conf = os.path.join(self.dir, 'nginx.conf')
            with open(conf, 'w') as f:
                f.write('load_module %s;\ndaemon off;\nmaster_process off;\n'
                        'error_log stderr info;\npid %s/nginx.pid;\n'
                        'events { worker_connections 1024; }\n'
                        'rtmp {\n    server {\n        listen 127.0.0.1:%d;\n%s'
                        '        application live { live on; }\n    }\n}\n'
                        % (NGINX_MODULE, self.dir, self.port, extra))
            args = ['nginx', '-p', self.dir, '-e', 'stderr', '-c', conf]
        else:
            raise RuntimeError('unknown SC_TEST_SERVER %r' % self.kind)
        self.args = args
        self.proc = spawn(args, self.log_path)
        if not wait_port(self.port, timeout, self.proc):
            raise RuntimeError('server did not listen on %d (rc=%s); log:\n%s'
                               % (self.port, self.proc.poll(), tail(self.log_path)))
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=8.0):
        if self.proc is None:
            return None
        return kill(self.proc, sig, timeout)

    def url(self, name, app='live'):
        return 'rtmp://127.0.0.1:%d/%s/%s' % (self.port, app, name)

    def rss_kb(self):
        return rss_kb(self.proc.pid)

    def log(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def wait_log(self, regex, timeout=5.0):
        """Wait for a log line matching regex; return the match or None."""
        r = re.compile(regex)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log().splitlines():
                m = r.search(line)
                if m:
                    return m
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.1)

    def client(self, **kw):
        return rtmpclient.RtmpClient('127.0.0.1', self.port, **kw)


# ---------------------------------------------------------------- client tools

FFMPEG_PUBLISH = ['-re', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25',
                  '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
                  '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '25',
                  '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-ac', '2', '-b:a', '64k', '-f', 'flv']


def start_publisher(url, tag='pub'):
    """ffmpeg publishing the test pattern (25 fps, keyframe every second)."""
    return spawn(['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error'] + FFMPEG_PUBLISH
                 + [url], tmp_path('%s-%d.log' % (tag, time.monotonic_ns())))


def wait_playable(server, name, timeout=15.0, proc=None):
    """Play with the raw client until a coded video keyframe arrives. Returns seconds."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError('publisher exited with %s: %s'
                                 % (proc.returncode, tail(proc.log_path, 10)))
        c = None
        try:
            c = server.client(timeout=5)
            c.connect()
            c.create_stream()
            c.play(name, wait=False)
            c.read_until(lambda m: m.is_video_keyframe(),
                         timeout=max(0.1, deadline - time.monotonic()), what='keyframe')
            return time.monotonic() - t0
        except (OSError, rtmpclient.ConnectionClosed, rtmpclient.ProtocolError,
                TimeoutError) as e:
            last = e
            time.sleep(0.2)
        finally:
            if c:
                c.close()
    raise AssertionError('stream %s not playable within %.0f s: %r' % (name, timeout, last))


class Decode:
    """Result of an ffmpeg decode: rc (None = killed on timeout), frames, stderr, elapsed."""

    def __init__(self, rc, frames, stderr, elapsed):
        self.rc, self.frames, self.stderr, self.elapsed = rc, frames, stderr, elapsed

    def __repr__(self):
        return 'Decode(rc=%s frames=%d elapsed=%.1fs stderr=%r)' % (
            self.rc, self.frames, self.elapsed, self.stderr[-600:])


def decode_args(url, frames):
    return ['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error', '-xerror',
            '-i', url, '-frames:v', str(frames), '-f', 'null', '-progress', 'pipe:1',
            '-nostats', '-']


class DecodeProc:
    """ffmpeg decoding in the background; result() waits (bounded)."""

    def __init__(self, url, frames, timeout):
        self.t0 = time.monotonic()
        self.timeout = timeout
        self.err_path = tmp_path('dec-%d.log' % time.monotonic_ns())
        self.out_path = self.err_path + '.progress'
        self.out = open(self.out_path, 'wb')
        self.proc = spawn(decode_args(url, frames), self.err_path, stdout=self.out)

    def frames_so_far(self):
        try:
            with open(self.out_path, 'rb') as f:
                vals = re.findall(rb'^frame=(\d+)', f.read(), re.M)
            return int(vals[-1]) if vals else 0
        except OSError:
            return 0

    def result(self):
        left = self.timeout - (time.monotonic() - self.t0)
        rc = None
        try:
            rc = self.proc.wait(timeout=max(0.1, left))
            elapsed = time.monotonic() - self.t0
        except subprocess.TimeoutExpired:
            elapsed = time.monotonic() - self.t0
            kill(self.proc)
            rc = None
        with _lock:
            _procs.pop(self.proc.pid, None)
        self.out.close()
        return Decode(rc, self.frames_so_far(), tail(self.err_path, 20), elapsed)

    def stop(self):
        kill(self.proc)
        return self.result()


def decode(url, frames=50, timeout=30.0):
    return DecodeProc(url, frames, timeout).result()


def probe_streams(url, timeout=20.0):
    """ffprobe -show_streams as a list of dicts (raises AssertionError on failure)."""
    r = run(['ffprobe', '-hide_banner', '-v', 'error', '-show_streams', '-of', 'json', url],
            timeout)
    if r.returncode != 0:
        raise AssertionError('ffprobe failed rc=%s: %s' % (r.returncode, r.stderr[-800:]))
    return json.loads(r.stdout or b'{}').get('streams', [])


def probe_first_video_frame(url, timeout=20.0):
    r = run(['ffprobe', '-hide_banner', '-v', 'error', '-select_streams', 'v', '-show_frames',
             '-read_intervals', '%+#1', '-of', 'json', url], timeout)
    if r.returncode != 0:
        raise AssertionError('ffprobe failed rc=%s: %s' % (r.returncode, r.stderr[-800:]))
    frames = json.loads(r.stdout or b'{}').get('frames', [])
    if not frames:
        raise AssertionError('ffprobe returned no video frame: %s' % r.stderr[-800:])
    return frames[0]


def probe_file(path, timeout=20.0):
    r = run(['ffprobe', '-hide_banner', '-v', 'error', '-show_streams', '-count_frames',
             '-of', 'json', path], timeout)
    if r.returncode != 0:
        raise AssertionError('ffprobe %s failed rc=%s: %s' % (path, r.returncode, r.stderr[-800:]))
    return json.loads(r.stdout or b'{}').get('streams', [])


# ---------------------------------------------------------------- test base

class ServerTestCase(unittest.TestCase):
    """Starts a fresh server per test (SETS: --set directives). Prints the
    server log tail when a test fails or errors."""

    SETS = {}
    TOOLS = ('ffmpeg', 'ffprobe')
    ORIGIN_ONLY = False

    def setUp(self):
        require_tools(*self.TOOLS)
        if self.ORIGIN_ONLY and SERVER_KIND != 'origin':
            self.skipTest('checks behaviour specific to our origin')
        self.server = Server(self.id().split('.')[-1], self.SETS)
        self.server.start()
        self.addCleanup(self._stop_server)

    def _stop_server(self):
        rc = self.server.stop()
        self.server_rc = rc

    def only_origin(self, what):
        if not self.server.is_origin:
            self.skipTest('%s: origin-specific behaviour (server under test is %s)'
                          % (what, self.server.kind))

    def publish(self, name, wait=True):
        p = start_publisher(self.server.url(name), 'pub-' + name)
        self.addCleanup(kill, p)
        if wait:
            t = wait_playable(self.server, name, 20, p)
            sys.stderr.write('  [%s playable after %.2f s] ' % (name, t))
        return p

    def raw(self, **kw):
        c = self.server.client(**kw)
        self.addCleanup(c.close)
        return c

    def assert_alive(self):
        self.assertTrue(self.server.alive(), 'server process died (rc=%s)' % self.server.proc.poll())

    def assert_decodes(self, name, frames=25, timeout=20.0):
        d = decode(self.server.url(name), frames, timeout)
        self.assertEqual(d.rc, 0, 'decode of %s failed: %r' % (name, d))
        self.assertGreaterEqual(d.frames, frames, 'too few frames for %s: %r' % (name, d))
        return d

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before and hasattr(self, 'server'):
            sys.stderr.write('\n----- last 40 lines of %s server log (%s) -----\n%s\n-----\n'
                             % (self.server.kind, self.server.log_path, tail(self.server.log_path)))
        return out


def main():
    """unittest.main with a whole-file watchdog; exits non-zero on failure."""
    limit = float(os.environ.get('SC_TEST_FILE_TIMEOUT', '170'))

    def watchdog():
        sys.stderr.write('\nTEST FILE TIMEOUT after %.0f s: killing everything\n' % limit)
        sys.stderr.flush()
        _cleanup()
        os._exit(3)
    t = threading.Timer(limit, watchdog)
    t.daemon = True
    t.start()
    try:
        unittest.main(verbosity=2)
    finally:
        t.cancel()
