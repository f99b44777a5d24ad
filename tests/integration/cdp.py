"""Headless Chromium driven over the DevTools protocol, for browser tests.

Chromium (/usr/bin/chromium, Debian package) runs in its own process group
with a private profile in a temp dir and --remote-debugging-port=0; the port
it picked is read from DevToolsActivePort. One page target is driven through
python3-websocket (Debian package; pyenv interpreters do not see Debian's
dist-packages, so that path is added when the plain import fails).

Everything is bounded: each command waits at most `timeout` seconds, and
close() ends the whole process group (SIGTERM, then SIGKILL), also from
harness's exit cleanup.
"""
import atexit
import base64
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.request

import harness

try:
    import websocket
except ImportError:
    sys.path.append('/usr/lib/python3/dist-packages')
    import websocket

CHROMIUM = os.environ.get('SC_CHROMIUM', '/usr/bin/chromium')

_open = []               # browsers not yet closed, for the exit cleanup


def _close_all():
    for b in list(_open):
        b.close()


atexit.register(_close_all)
# harness's watchdog and SIGTERM paths call harness._cleanup and skip atexit.
_prev_cleanup = harness._cleanup


def _cleanup_chained():
    _close_all()
    _prev_cleanup()


harness._cleanup = _cleanup_chained


class CdpError(Exception):
    pass


class Browser:
    """One headless Chromium with one page. Events of the enabled domains are
    kept (bounded) in self.events; console errors and exceptions also in
    self.console as readable lines."""

    MAX_EVENTS = 5000

    def __init__(self, timeout=15.0, window='1280,900'):
        if not os.access(CHROMIUM, os.X_OK):
            raise RuntimeError('%s not found: install the Debian package chromium '
                               '(tests/install-deps.sh does)' % CHROMIUM)
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix='chromium-', dir=harness.tmp_path(''))
        self.log_path = os.path.join(self.profile, 'chromium.log')
        args = [CHROMIUM, '--headless=new', '--no-sandbox', '--disable-gpu',
                '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check',
                '--disable-extensions', '--disable-background-networking',
                '--disable-component-update', '--disable-sync', '--mute-audio',
                '--autoplay-policy=no-user-gesture-required',
                '--remote-debugging-port=0', '--remote-debugging-address=127.0.0.1',
                '--user-data-dir=' + self.profile, '--window-size=' + window, 'about:blank']
        self.proc = harness.spawn(args, self.log_path, start_new_session=True)
        _open.append(self)
        self.ws = None
        self.next_id = 0
        self.events = []
        self.console = []
        try:
            self.port = self._wait_port()
            self.ws = websocket.create_connection(self._page_ws_url(), timeout=timeout,
                                                  suppress_origin=True)
        except Exception:
            self.close()
            raise

    # ------------------------------------------------------------ startup

    def _wait_port(self):
        path = os.path.join(self.profile, 'DevToolsActivePort')
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('chromium exited rc=%s: %s'
                                   % (self.proc.returncode, harness.tail(self.log_path, 20)))
            try:
                with open(path) as f:
                    first = f.readline().strip()
                if first.isdigit():
                    return int(first)
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError('chromium wrote no DevToolsActivePort within %.0f s: %s'
                           % (self.timeout, harness.tail(self.log_path, 20)))

    def _page_ws_url(self):
        deadline = time.monotonic() + self.timeout
        last = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen('http://127.0.0.1:%d/json/list' % self.port,
                                            timeout=2) as r:
                    targets = json.loads(r.read())
                for t in targets:
                    if t.get('type') == 'page' and t.get('webSocketDebuggerUrl'):
                        return t['webSocketDebuggerUrl']
                last = 'no page target in %r' % targets
            except OSError as e:
                last = e
            time.sleep(0.1)
        raise RuntimeError('no DevTools page target: %s' % last)

    # ------------------------------------------------------------ protocol

    def send(self, method, params=None, timeout=None):
        """One command; returns its result, raises CdpError on a protocol error."""
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({'id': mid, 'method': method, 'params': params or {}}))
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CdpError('%s: no answer within %.0f s' % (method, timeout or self.timeout))
            msg = self._recv(left)
            if msg is None:
                continue
            if msg.get('id') == mid:
                if 'error' in msg:
                    raise CdpError('%s: %s' % (method, msg['error']))
                return msg.get('result', {})

    def pump(self, seconds):
        """Read events for up to `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._recv(deadline - time.monotonic())

    def _recv(self, timeout):
        self.ws.settimeout(max(0.01, timeout))
        try:
            raw = self.ws.recv()
        except websocket.WebSocketTimeoutException:
            return None
        msg = json.loads(raw)
        if 'method' in msg:
            self._event(msg['method'], msg.get('params', {}))
        return msg

    def _event(self, method, p):
        if len(self.events) < self.MAX_EVENTS:
            self.events.append((method, p))
        line = None
        if method == 'Runtime.consoleAPICalled' and p.get('type') in ('error', 'warning', 'assert'):
            args = [a.get('value', a.get('description', '')) for a in p.get('args', [])]
            line = 'console.%s: %s' % (p['type'], ' '.join(str(a) for a in args))
        elif method == 'Runtime.exceptionThrown':
            d = p.get('exceptionDetails', {})
            exc = d.get('exception', {})
            line = 'exception: %s (%s:%s)' % (exc.get('description') or d.get('text'),
                                              d.get('url', ''), d.get('lineNumber', ''))
        elif method == 'Log.entryAdded':
            e = p.get('entry', {})
            if e.get('level') in ('error', 'warning'):
                line = 'log.%s: %s %s' % (e.get('level'), e.get('text'), e.get('url', ''))
        if line is not None and len(self.console) < 200:
            self.console.append(line)

    # ------------------------------------------------------------ helpers

    def enable(self, *domains):
        for d in domains:
            self.send(d + '.enable')

    def navigate(self, url, timeout=None):
        """Load url and wait for its load event."""
        self.events = [e for e in self.events if e[0] != 'Page.loadEventFired']
        res = self.send('Page.navigate', {'url': url})
        if res.get('errorText'):
            raise CdpError('navigate %s: %s' % (url, res['errorText']))
        deadline = time.monotonic() + (timeout or self.timeout)
        while not any(e[0] == 'Page.loadEventFired' for e in self.events):
            if time.monotonic() > deadline:
                raise CdpError('%s: no load event within %.0f s' % (url, timeout or self.timeout))
            self._recv(deadline - time.monotonic())

    def eval(self, expr):
        """Value of a JavaScript expression (JSON-able); raises on an exception."""
        r = self.send('Runtime.evaluate', {'expression': expr, 'returnByValue': True,
                                           'awaitPromise': True})
        if 'exceptionDetails' in r:
            d = r['exceptionDetails']
            raise CdpError('eval %r: %s' % (expr, d.get('exception', {}).get('description')
                                            or d.get('text')))
        return r.get('result', {}).get('value')

    def screenshot(self, path):
        data = self.send('Page.captureScreenshot', {'format': 'png'}, timeout=20)['data']
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(base64.b64decode(data))
        return path

    def requested_urls(self):
        return [p.get('request', {}).get('url', '') for m, p in self.events
                if m == 'Network.requestWillBeSent']

    def close(self):
        """End the browser and every process it started (its process group)."""
        if self.ws is not None:
            try:
                self.ws.close()
            except Exception:      # noqa: BLE001 - closing anyway
                pass
            self.ws = None
        if self.proc is not None:
            for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=wait)
                except Exception:  # noqa: BLE001 - escalate
                    continue
                # the leader is gone; its children may linger a moment
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                break
            harness.kill(self.proc)
            self.proc = None
        if self in _open:
            _open.remove(self)
        if not harness.KEEP:
            shutil.rmtree(self.profile, ignore_errors=True)
