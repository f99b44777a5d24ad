#!/usr/bin/env python3
"""The status page and its player in a real browser (headless Chromium over
the DevTools protocol, see cdp.py).

redis + an origin + an edge (cluster mode, HTTP on free loopback ports);
ffmpeg publishes a 640x360 test pattern to the origin; Chromium opens the
edge's page with ?play=live/browser, which plays the stream with hls.js over
low-latency HLS (/live/browser.ll.m3u8). Passes when the video's currentTime
has advanced by 2 s and videoWidth is 640; the page's table must list the
stream with its resolution; every request the page made went to the node (no
CDN). A screenshot goes to $SC_BUILD_DIR/artifacts/browser.png either way.

Chromium missing is a failure, not a skip: CI installs it
(tests/packages.txt). The edge runs one worker (SC_BROWSER_WORKERS=N for
more: the page's /v1/streams then reaches any worker, which may not list the
stream); SC_BROWSER_DEBUG=1 prints the player's event log on success too.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request

import cluster
import harness

import cdp

STREAM = 'live/browser'
PLAY_TIMEOUT = 30.0      # page load -> 2 s of video played
ARTIFACTS = os.path.join(harness.BUILD_DIR, 'artifacts')


def say(fmt, *args):
    sys.stderr.write('  [' + (fmt % args) + '] ')
    sys.stderr.flush()


class Publisher640(cluster.Proc):
    """ffmpeg: 640x360 testsrc at 25 fps, one keyframe a second, H.264
    baseline/zerolatency and a sine in AAC, in real time."""

    def __init__(self, url):
        super().__init__('pub-browser')
        self.url = url

    def start(self):
        self.spawn(['ffmpeg', '-hide_banner', '-nostdin', '-loglevel', 'error', '-re',
                    '-f', 'lavfi', '-i', 'testsrc=size=640x360:rate=25',
                    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
                    '-c:v', 'libx264', '-preset', 'ultrafast', '-profile:v', 'baseline',
                    '-tune', 'zerolatency', '-g', '25', '-pix_fmt', 'yuv420p',
                    '-c:a', 'aac', '-ac', '2', '-b:a', '64k', '-f', 'flv', self.url])
        return self


def http_get(url, headers=None, timeout=5.0):
    """(status, headers, body); HTTP errors are answers too."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


class Browser(cluster.ClusterTestCase):

    def setUp(self):
        super().setUp()
        self.redis_ = self.redis()
        self.origin_http = harness.free_port()
        self.edge_http = harness.free_port()
        self.o = self.origin('o', self.redis_,
                             sets={'http_listen': '127.0.0.1:%d' % self.origin_http})
        # One worker: a browser's parallel connections then all reach the
        # worker that holds the stream's HLS state.
        self.e = self.edge('e', self.redis_, workers=int(os.environ.get('SC_BROWSER_WORKERS', '1')),
                           sets={'http_listen': '127.0.0.1:%d' % self.edge_http})
        self.assertTrue(harness.wait_port(self.origin_http, 10) and
                        harness.wait_port(self.edge_http, 10), 'HTTP listeners not up')

    def test_01_every_node_serves_the_page(self):
        for name, port in (('origin', self.origin_http), ('edge', self.edge_http)):
            base = 'http://127.0.0.1:%d' % port
            st, h, body = http_get(base + '/')
            self.assertEqual(st, 200, '%s: GET / -> %s' % (name, st))
            self.assertTrue(h.get('Content-Type', '').startswith('text/html'), dict(h))
            self.assertEqual(h.get('Cache-Control'), 'no-cache', dict(h))
            self.assertIn(b'/vendor/hls.min.js', body)
            st, h, js = http_get(base + '/vendor/hls.min.js')
            self.assertEqual(st, 200, '%s: hls.min.js -> %s' % (name, st))
            self.assertEqual(h.get('Cache-Control'), 'max-age=3600', dict(h))
            etag = h.get('ETag')
            self.assertTrue(etag and etag.startswith('"'), dict(h))
            self.assertGreater(len(js), 100000)
            st, h, body = http_get(base + '/vendor/hls.min.js', {'If-None-Match': etag})
            self.assertEqual(st, 304, '%s: revalidation -> %s' % (name, st))
            self.assertEqual(body, b'')
            st, _, _ = http_get(base + '/status.js')
            self.assertEqual(st, 200)

    def test_02_play_in_chromium(self):
        pub = self.track(Publisher640(self.o.url('browser')).start())
        self.wait_playable(self.e, 'browser', 20, pub)
        t_start = time.monotonic()
        browser = cdp.Browser(timeout=15)
        self.addCleanup(browser.close)
        browser.enable('Page', 'Runtime', 'Log', 'Network')
        page = 'http://127.0.0.1:%d/?play=%s' % (self.edge_http, STREAM)
        state = {}
        first = None
        ok = False
        problem = None
        try:
            browser.navigate(page)
            deadline = time.monotonic() + PLAY_TIMEOUT
            while time.monotonic() < deadline:
                state = browser.eval('''(() => {
                    const v = document.getElementById('player');
                    const row = document.querySelector('tr[data-stream="%s"]');
                    const p = window.scPlayer || {};
                    return {t: v.currentTime, w: v.videoWidth, h: v.videoHeight,
                            ready: v.readyState, paused: v.paused,
                            state: p.state, engine: p.engine, url: p.url,
                            errors: p.errors || [], log: p.log || [],
                            row: row ? row.innerText : null};
                })()''' % STREAM)
                if first is None and state['ready'] >= 2:
                    first = (time.monotonic(), state['t'])
                if (first is not None and state['t'] - first[1] >= 2.0 and state['w'] == 640
                        and state['row'] and '640×360' in state['row']):
                    ok = True
                    break
                browser.pump(0.5)
        except (cdp.CdpError, OSError) as e:
            problem = repr(e)
        finally:
            try:
                shot = browser.screenshot(os.path.join(ARTIFACTS, 'browser.png'))
                say('screenshot %s', shot)
            except (cdp.CdpError, OSError) as e:
                say('no screenshot: %r', e)

        detail = ('page %s\nplayer state %s\nconsole:\n  %s\nedge log:\n%s'
                  % (page, json.dumps(state, ensure_ascii=False), '\n  '.join(browser.console[-30:])
                     or '(nothing)', self.e.tail(20)))
        self.assertIsNone(problem, 'DevTools session failed: %s\n%s' % (problem, detail))
        self.assertTrue(ok, 'within %.0f s of the page load, wanted: currentTime +2 s (first '
                        'frame: %s), videoWidth 640, the table row showing 640×360\n%s'
                        % (PLAY_TIMEOUT, first and '%.1f s after the browser start at t=%.2f'
                           % (first[0] - t_start, first[1]) or 'never', detail))
        say('first frame %.1f s, 2 s played %.1f s after the browser started (engine %s, '
            '%d player errors)', first[0] - t_start, time.monotonic() - t_start,
            state.get('engine'), len(state.get('errors') or []))
        # latency: the origin's ingest wall clock of the frame on screen
        # (hls.js playingDate, from EXT-X-PROGRAM-DATE-TIME) against now;
        # sampled over a few seconds of steady play. A figure, not a check.
        lat = []
        for _ in range(6):
            browser.pump(0.5)
            v = browser.eval('''(() => { const h = (window.scPlayer || {}).hls;
                const d = h && h.playingDate; return d ? Date.now() - d.getTime() : null; })()''')
            if isinstance(v, (int, float)):
                lat.append(v)
        if lat:
            lat.sort()
            say('hls.js latency (ingest -> on screen) median %.0f ms, max %.0f ms', lat[len(lat) // 2],
                lat[-1])
        if os.environ.get('SC_BROWSER_DEBUG'):
            sys.stderr.write('\n' + detail + '\n')
        self.assertEqual(state['engine'], 'hls.js', state)
        self.assertTrue(state['url'].endswith('/live/browser.ll.m3u8'), state)
        foreign = [u for u in browser.requested_urls()
                   if not u.startswith('http://127.0.0.1:%d/' % self.edge_http)
                   and not u.startswith(('data:', 'blob:', 'about:'))]
        self.assertEqual(foreign, [], 'the page fetched from elsewhere than the node')


if __name__ == '__main__':
    cluster.main(200)
