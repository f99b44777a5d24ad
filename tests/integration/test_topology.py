#!/usr/bin/env python3
"""The compose topology across "hosts": one network namespace each for Redis,
HAProxy (the origin load balancer, configured from deploy/hosts/haproxy.cfg),
origin A, origin B, edge 1, edge 2 and the clients, on a bridge in a
namespace of its own (10.78.N.0/24). Nothing is created in the root
namespace; everything is removed at the end, even on failure.

- Encoders publish through HAProxy; ffmpeg and raw players play from both
  edges; /metrics of every node parses as Prometheus text (strict parser
  below); /v1/streams/<app>/<name> counts the players each node really has,
  its bitrate matches what they receive; /v1/nodes lists the four nodes.
- Rolling restart while players watch: SIGTERM each edge master in turn
  (drain_timeout 3 s: its players are kept, then closed, and reconnect to the
  other edge), start it again; then SIGTERM the origin carrying the stream
  (the encoder reconnects through HAProxy, as an encoder with reconnect
  does): players on the edges keep their connection and their timestamps
  never go back. The numbers are printed.
"""
import http.client
import json
import math
import os
import re
import signal
import socket
import sys
import time
import unittest

import cluster
import harness
import rtmpclient

HOSTS = ('redis', 'lb', 'oA', 'oB', 'e1', 'e2', 'cl')
ROOT = os.environ.get('SC_SOURCE_DIR') or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
ORIGIN_HTTP, EDGE_HTTP, LB_PORT = 8080, 8081, 1935
DRAIN_S = 3.0


def say(fmt, *args):
    sys.stderr.write('  [' + (fmt % args) + ']\n')
    sys.stderr.flush()


# ---------------------------------------------------------------- Prometheus text format

METRIC_NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*')
LABEL_NAME = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*')
FLOAT = re.compile(r'NaN|[+-]?Inf|[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?')
TIMESTAMP = re.compile(r'-?\d+')
TYPES = ('counter', 'gauge', 'histogram', 'summary', 'untyped')


class PromError(ValueError):
    pass


def _unescape(s, allowed, n, what):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == '\\':
            if i + 1 >= len(s) or s[i + 1] not in allowed:
                raise PromError('line %d: bad escape in %s: %r' % (n, what, s[i:i + 2]))
            out.append('\n' if s[i + 1] == 'n' else s[i + 1])
            i += 2
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def _labels(s, i, n):
    """Parse {a="b",...} starting at s[i] == '{'; return (dict, index after '}')."""
    labels = {}
    i += 1
    while True:
        if i < len(s) and s[i] == '}':
            return labels, i + 1
        m = LABEL_NAME.match(s, i)
        if not m:
            raise PromError('line %d: bad label name at %r' % (n, s[i:i + 20]))
        name = m.group(0)
        if name.startswith('__'):
            raise PromError('line %d: reserved label name %s' % (n, name))
        if name in labels:
            raise PromError('line %d: duplicate label %s' % (n, name))
        i = m.end()
        if s[i:i + 2] != '="':
            raise PromError('line %d: expected =" after label %s' % (n, name))
        i += 2
        j = i
        while True:
            if j >= len(s):
                raise PromError('line %d: unterminated value of label %s' % (n, name))
            if s[j] == '\\':
                j += 2
                continue
            if s[j] == '"':
                break
            j += 1
        labels[name] = _unescape(s[i:j], '\\"n', n, 'label %s' % name)
        i = j + 1
        if i < len(s) and s[i] == ',':
            i += 1
        elif i >= len(s) or s[i] != '}':
            raise PromError('line %d: expected , or } after label %s' % (n, name))


def parse_prometheus(text):
    """Strict parser of the Prometheus text exposition format 0.0.4.

    Returns {family: {'type', 'help', 'samples': [(name, labels, value)]}}.
    Raises PromError for: a last line without newline, malformed HELP/TYPE,
    unknown types, a second HELP or TYPE, HELP/TYPE after the family's
    samples, families not grouped, bad metric or label names, reserved or
    duplicate labels, bad escapes, unterminated label values, bad values or
    timestamps, duplicate series, negative counters."""
    if text and not text.endswith('\n'):
        raise PromError('last line does not end with a newline')
    fams = {}
    closed = set()
    current = None
    series = set()

    def family(name, n):
        nonlocal current
        if name != current:
            if name in closed:
                raise PromError('line %d: lines of %s are not grouped together' % (n, name))
            if current is not None:
                closed.add(current)
            current = name
        return fams.setdefault(name, {'type': None, 'help': None, 'samples': []})

    for n, line in enumerate(text.split('\n')[:-1], 1):
        if line.strip() == '':
            continue
        if line.startswith('#'):
            m = re.match(r'#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$', line)
            if not m:
                if re.match(r'#[ \t]+(HELP|TYPE)\b', line):
                    raise PromError('line %d: malformed %r' % (n, line))
                continue            # plain comment
            kind, name, rest = m.group(1), m.group(2), m.group(3) or ''
            if not METRIC_NAME.fullmatch(name):
                raise PromError('line %d: bad metric name %r' % (n, name))
            f = family(name, n)
            if f['samples']:
                raise PromError('line %d: %s of %s after its samples' % (n, kind, name))
            if kind == 'HELP':
                if f['help'] is not None:
                    raise PromError('line %d: second HELP for %s' % (n, name))
                f['help'] = _unescape(rest, '\\n', n, 'HELP')
            else:
                if f['type'] is not None:
                    raise PromError('line %d: second TYPE for %s' % (n, name))
                if rest.strip() not in TYPES:
                    raise PromError('line %d: unknown type %r' % (n, rest))
                f['type'] = rest.strip()
            continue
        m = METRIC_NAME.match(line)
        if not m:
            raise PromError('line %d: bad metric name in %r' % (n, line))
        name, i = m.group(0), m.end()
        labels = {}
        if i < len(line) and line[i] == '{':
            labels, i = _labels(line, i, n)
        rest = line[i:]
        if not rest[:1] in (' ', '\t'):
            raise PromError('line %d: no blank before the value: %r' % (n, line))
        parts = rest.split()
        if len(parts) not in (1, 2) or not FLOAT.fullmatch(parts[0]):
            raise PromError('line %d: bad value in %r' % (n, line))
        if len(parts) == 2 and not TIMESTAMP.fullmatch(parts[1]):
            raise PromError('line %d: bad timestamp in %r' % (n, line))
        value = float(parts[0].replace('Inf', 'inf').replace('NaN', 'nan'))
        fam = name
        for suffix in ('_bucket', '_sum', '_count'):
            base = name[:-len(suffix)]
            if name.endswith(suffix) and fams.get(base, {}).get('type') in ('histogram', 'summary'):
                fam = base
        f = family(fam, n)
        key = (name, tuple(sorted(labels.items())))
        if key in series:
            raise PromError('line %d: duplicate series %s%r' % (n, name, labels))
        series.add(key)
        if f['type'] == 'counter' and not (value >= 0 or math.isnan(value)):
            raise PromError('line %d: negative counter %s' % (n, name))
        f['samples'].append((name, labels, value))
    return fams


class PrometheusParser(unittest.TestCase):
    """The parser itself: it must reject what Prometheus rejects."""

    GOOD = ('# HELP a_total Things, with \\\\ and \\n.\n# TYPE a_total counter\n'
            'a_total{x="1",y="q\\"uote\\\\ \\n"} 3\na_total{x="2",} 4 1700000000000\n'
            '# a comment\n\n# TYPE g gauge\ng -1.5e3\ng{k="v"} NaN\ng{k="w"} +Inf\n'
            '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n')

    def test_good(self):
        f = parse_prometheus(self.GOOD)
        self.assertEqual(f['a_total']['type'], 'counter')
        self.assertEqual(f['a_total']['samples'][0][1], {'x': '1', 'y': 'q"uote\\ \n'})
        self.assertEqual(len(f['h']['samples']), 4)
        self.assertEqual(f['g']['samples'][0][2], -1500.0)

    def test_bad(self):
        bad = ['a 1',                                       # no final newline
               '1a 1\n', 'a-b 1\n', 'a{1x="1"} 1\n', 'a{__x="1"} 1\n',
               'a{x="1",x="2"} 1\n', 'a{x="\\q"} 1\n', 'a{x="1} 1\n', 'a{x=1} 1\n',
               'a{x="1"}1\n', 'a one\n', 'a 1 2.5\n', 'a 1 2 3\n',
               '# TYPE a counter\n# TYPE a counter\na 1\n',
               '# TYPE a countr\na 1\n',
               '# HELP a x\n# HELP a y\na 1\n',
               'a 1\n# TYPE a gauge\n',
               '# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\n',     # a's lines not grouped
               'a{x="1"} 1\nb 1\na{x="2"} 1\n',
               'a 1\na 2\n',
               '# TYPE c counter\nc -1\n',
               '# HELP a bad \\q escape\na 1\n',
               '# TYPE\n']
        for text in bad:
            with self.assertRaises(PromError, msg=repr(text)):
                parse_prometheus(text)


# ---------------------------------------------------------------- topology

class Topology78(cluster.Topology):
    """cluster.Topology on 10.78.N.0/24 (away from test_multihost's 10.77)."""

    def setup(self):
        import atexit
        atexit.register(self.cleanup)
        self._add_ns(self.bridge_ns)
        b = ['ip', '-n', self.bridge_ns]
        cluster.sh(b + ['link', 'add', 'br0', 'type', 'bridge'])
        cluster.sh(b + ['link', 'set', 'br0', 'up'])
        for i, host in enumerate(self.names):
            ns = '%s-%s' % (self.tag, host)
            ip = '10.78.%d.%d' % (self.net, i + 2)
            self._add_ns(ns)
            n = ['ip', '-n', ns]
            cluster.sh(n + ['link', 'set', 'lo', 'up'])
            cluster.sh(b + ['link', 'add', 'v%d' % i, 'type', 'veth', 'peer', 'name', 'eth0',
                            'netns', ns])
            cluster.sh(b + ['link', 'set', 'v%d' % i, 'master', 'br0', 'up'])
            cluster.sh(n + ['addr', 'add', ip + '/24', 'dev', 'eth0'])
            cluster.sh(n + ['link', 'set', 'eth0', 'up'])
            self.hosts[host] = (ns, ip)
        for host in self.names[1:]:
            self.check_reachable(self.names[0], host)
        return self


class Restartable:
    """A node started again on the same port and node id: readiness is
    looked for only in the log written since the last start."""

    _mark = 0

    def start(self, timeout=10.0):
        self._mark = self.mark()
        return super().start(timeout)


class TOrigin(Restartable, cluster.Origin):
    def wait_ready(self, timeout):
        return self.wait_log(r'origin .* listening rtmp=', timeout, after=self._mark) is not None \
            and self.alive()


class TEdge(Restartable, cluster.Edge):
    def wait_ready(self, timeout):
        return self.wait_log(r'edge worker \d+ node=\S+ listening', timeout, after=self._mark,
                             count=self.workers) is not None and self.alive()


class HAProxy(cluster.Proc):
    """haproxy -db with deploy/hosts/haproxy.cfg, its example origin
    addresses replaced by the test's and the daemon/chroot/user/socket lines
    (which need the Debian package's setup) left out."""

    DROP = re.compile(r'^\s*(chroot|user|group|daemon|stats socket)\b')

    def __init__(self, ns, ip, origins):
        super().__init__('haproxy', ns)
        self.ip = ip
        with open(os.path.join(ROOT, 'deploy', 'hosts', 'haproxy.cfg')) as f:
            text = f.read()
        lines = [l for l in text.splitlines() if not self.DROP.match(l)]
        text = '\n'.join(lines) + '\n'
        # connection logs to our log file; a maxconn this machine's fd limit allows
        text = text.replace('log /dev/log local0', 'log stderr format raw local0')
        text = re.sub(r'(?m)^(\s*maxconn) \d+', r'\1 1000', text)
        for example, o in zip(('192.0.2.11:1935', '192.0.2.12:1935'), origins):
            self.assert_in(example, text)
            text = text.replace(example, '%s:%d' % (o.host, o.port))
        self.cfg = harness.tmp_path('haproxy-%d.cfg' % time.monotonic_ns())
        with open(self.cfg, 'w') as f:
            f.write(text)

    @staticmethod
    def assert_in(s, text):
        if s not in text:
            raise AssertionError('deploy/hosts/haproxy.cfg no longer has %s' % s)

    def start(self):
        r = harness.run(['haproxy', '-c', '-q', '-f', self.cfg], 20)
        if r.returncode != 0:
            raise AssertionError('haproxy -c: %s' % (r.stdout + r.stderr).decode())
        self.spawn(['haproxy', '-db', '-f', self.cfg])
        return self

    def url(self, stream, app='live'):
        return 'rtmp://%s:%d/%s/%s' % (self.ip, LB_PORT, app, stream)


def http_get(ns, host, port, path, timeout=5.0):
    """(status, content-type, body str) of GET http://host:port/path from namespace ns."""
    with cluster.in_netns(ns):
        s = socket.create_connection((host, port), timeout=timeout)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    conn.sock = s
    try:
        conn.request('GET', path, headers={'Connection': 'close'})
        r = conn.getresponse()
        return r.status, r.getheader('Content-Type', ''), r.read().decode('utf-8', 'replace')
    finally:
        conn.close()


def edge_supports(directive):
    r = harness.run([cluster.edge_binary(), '--help'], 10)
    return re.search(r'^  %s \(' % directive, r.stdout.decode(), re.M) is not None


class Topology(cluster.ClusterTestCase):
    topo = None

    @classmethod
    def setUpClass(cls):
        why = cluster.netns_available()
        if why:
            raise unittest.SkipTest('network namespaces unavailable (%s): the topology test '
                                    'needs root and iproute2' % why)
        cluster.require_cluster_tools()
        harness.require_tools('haproxy')
        cls.topo = Topology78(HOSTS)
        try:
            cls.topo.setup()
        except Exception:
            cls.topo.cleanup()
            raise
        cls.addClassCleanup(cls.topo.cleanup)
        cls.drain = edge_supports('drain_timeout')

    def setUp(self):
        super().setUp()
        self.problems = []

    def problem(self, fmt, *args):
        msg = fmt % args
        self.problems.append(msg)
        say('PROBLEM: %s', msg)

    def build(self):
        t = self.topo
        cl = t.ns('cl')
        r = self.track(cluster.Redis(host=t.ip('redis'), port=6379, ns=t.ns('redis')).start())
        self.origins = []
        for h in ('oA', 'oB'):
            o = TOrigin(h, r, host=t.ip(h), ns=t.ns(h),
                        sets={'http_listen': '%s:%d' % (t.ip(h), ORIGIN_HTTP)})
            self.origins.append(self.track(o.start()))
        self.lb = self.track(HAProxy(t.ns('lb'), t.ip('lb'), self.origins).start())
        esets = {'http_listen': '%s:%d' % ('0.0.0.0', EDGE_HTTP)}
        if self.drain:
            esets['drain_timeout'] = '%ds' % DRAIN_S
        else:
            self.problem('edge --help has no drain_timeout: SIGTERM drain not configurable')
        self.edges = []
        for h in ('e1', 'e2'):
            e = TEdge(h, r, host=t.ip(h), ns=t.ns(h), workers=1, sets=esets)
            self.edges.append(self.track(e.start()))
        for n in self.origins + self.edges:
            n.client_ns = cl
        self.wait_lb()
        self.redis_ = r
        return r

    def wait_lb(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with cluster.in_netns(self.topo.ns('cl')):
                    socket.create_connection((self.lb.ip, LB_PORT), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError('haproxy not listening: %s' % self.lb.tail())

    def publish_lb(self, stream, wait_node=None):
        p = self.track(cluster.Publisher(self.lb.url(stream), ns=self.topo.ns('cl'),
                                         name='pub-' + stream))
        p.start()
        if wait_node is not None:
            self.wait_playable(wait_node, stream, 20, p)
        return p

    def api(self, node, path, port):
        return http_get(self.topo.ns('cl'), node.host, port, path)

    def node_json(self, node, path, port):
        status, ctype, body = self.api(node, path, port)
        self.assertEqual(status, 200, '%s %s: %s %s' % (node.name, path, status, body[:300]))
        self.assertIn('application/json', ctype)
        return json.loads(body)

    def owner(self, stream, timeout=8.0):
        claim = self.redis_.wait_hash('sc:stream:live/%s' % stream,
                                      lambda h: bool(h.get('owner')), timeout)
        return next((o for o in self.origins if o.node_id == claim.get('owner')), None), claim

    # ------------------------------------------------------------ API and metrics

    def test_1_api_and_metrics(self):
        self.build()
        e1, e2 = self.edges
        self.publish_lb('tp', wait_node=e1)
        owner, claim = self.owner('tp')
        self.assertIsNotNone(owner, 'stream published through haproxy has no origin: %r' % claim)
        say('published through haproxy -> %s', owner.name)
        # real players: ffmpeg decodes from both edges
        d1 = self.decoder(e1, 'tp', 50, 30, ns=self.topo.ns('cl'))
        d2 = self.decoder(e2, 'tp', 50, 30, ns=self.topo.ns('cl'))
        for d in (d1.result(), d2.result()):
            self.assertEqual(d.rc, 0, d)
            self.assertGreaterEqual(d.frames, 50, d)
        # raw players: 2 on e1, 3 on e2
        recs = {e1: [self.recorder(e1, 'tp') for _ in range(2)],
                e2: [self.recorder(e2, 'tp') for _ in range(3)]}
        for rs in recs.values():
            for rec in rs:
                rec.wait_keyframe(10)

        # viewer counts: what each node says vs the players connected to it
        for node, rs in recs.items():
            seen = None
            deadline = time.monotonic() + 6
            while time.monotonic() < deadline:
                st = self.node_json(node, '/v1/streams/live/tp', EDGE_HTTP)
                seen = st.get('viewers', {}).get('rtmp')
                if seen == len(rs) and st.get('players') == len(rs):
                    break
                time.sleep(0.3)
            say('%s /v1/streams/live/tp viewers=%r players=%r (clients connected: %d)',
                node.name, st.get('viewers'), st.get('players'), len(rs))
            self.assertEqual(seen, len(rs), '%s viewers vs connected players: %r' % (node.name, st))
            self.assertEqual(st.get('stream'), 'live/tp')
        listed = self.node_json(e2, '/v1/streams', EDGE_HTTP)
        self.assertIn('live/tp', [s.get('stream') for s in listed.get('streams', [])], listed)

        # bitrate: what the origin measures vs what a player receives
        rec = recs[e2][0]
        t0 = time.monotonic()
        time.sleep(4)
        got = sum(m[3] for m in rec.media(since=t0)) * 8 / (time.monotonic() - t0)
        ost = self.node_json(owner, '/v1/streams/live/tp', ORIGIN_HTTP)
        est = self.node_json(e2, '/v1/streams/live/tp', EDGE_HTTP)
        say('bitrate: player receives %.0f kbit/s; origin says %s, edge says %s (bps)',
            got / 1000, ost.get('bitrate_bps'), est.get('bitrate_bps'))
        self.assertIsNotNone(ost.get('publisher'), 'origin shows no publisher: %r' % ost)
        self.assertIn(ost.get('video', {}).get('codec'), ('h264', 'avc', 'H.264', 'AVC'), ost)
        self.assertEqual((ost['video'].get('width'), ost['video'].get('height')), (320, 240), ost)
        self.assertIn(ost.get('audio', {}).get('codec'), ('aac', 'AAC'), ost)
        for who, st in (('origin', ost), ('edge', est)):
            b = st.get('bitrate_bps') or 0
            self.assertTrue(0.5 * got <= b <= 2.0 * got, '%s bitrate %s vs received %.0f bps: %r'
                            % (who, b, got, st))

        # /v1/nodes: every node, from any node
        expect = {self.origins[0].node_id, self.origins[1].node_id}
        expect |= {e.worker_node_ids()[0] for e in self.edges}
        for node, port in ((self.origins[0], ORIGIN_HTTP), (self.origins[1], ORIGIN_HTTP),
                           (e1, EDGE_HTTP), (e2, EDGE_HTTP)):
            nodes = self.node_json(node, '/v1/nodes', port).get('nodes', [])
            ids = {n.get('id') for n in nodes}
            self.assertEqual(ids, expect, '/v1/nodes from %s: %r' % (node.name, nodes))
            roles = sorted(n.get('role') for n in nodes)
            self.assertEqual(roles, ['edge', 'edge', 'origin', 'origin'], nodes)
        say('/v1/nodes lists %s', sorted(expect))

        # /metrics: strict Prometheus text on all four nodes, consistent with the players
        for node, port in ((self.origins[0], ORIGIN_HTTP), (self.origins[1], ORIGIN_HTTP),
                           (e1, EDGE_HTTP), (e2, EDGE_HTTP)):
            status, ctype, body = self.api(node, '/metrics', port)
            self.assertEqual(status, 200, body[:300])
            self.assertRegex(ctype, r'^text/plain; version=0\.0\.4', node.name)
            try:
                fams = parse_prometheus(body)
            except PromError as e:
                self.fail('%s /metrics is not Prometheus text: %s\n%s' % (node.name, e, body))
            self.assertTrue(fams, node.name)
            if node in recs:
                sp = [s for s in fams.get('sc_stream_players', {}).get('samples', [])
                      if s[1].get('stream') == 'live/tp']
                self.assertEqual([s[2] for s in sp], [float(len(recs[node]))],
                                 '%s sc_stream_players: %r' % (node.name, sp))
        for rs in recs.values():
            for rec in rs:
                self.assertIsNone(rec.closed_at, rec.error)
                self.assert_monotonic(rec)

    # ------------------------------------------------------------ rolling restart

    def restart_edge(self, edge, other, players, stats):
        """SIGTERM edge's master, watch its players, reconnect them to other,
        start edge again. Returns the players now on other (new ones)."""
        workers = edge.worker_pids()
        t_term = time.monotonic()
        os.kill(edge.pid, signal.SIGTERM)
        # stop accepting: a new player must not get in while it drains
        time.sleep(0.5)
        accepted = False
        try:
            c = edge.client(timeout=1.5)
            c.handshake()
            c.connect()
            accepted = True
            c.close()
        except (OSError, rtmpclient.ConnectionClosed, rtmpclient.ProtocolError, TimeoutError):
            pass
        if accepted and edge.alive():
            self.problem('%s accepted a new player 0.5 s after SIGTERM (draining)', edge.name)
        try:
            rc = edge.proc.wait(timeout=DRAIN_S + 12)
        except Exception:
            self.problem('%s master still running %.0f s after SIGTERM', edge.name, DRAIN_S + 12)
            edge.stop()
            rc = None
        t_exit = time.monotonic() - t_term
        left = [p for p in workers if os.path.exists('/proc/%d' % p)
                and not open('/proc/%d/stat' % p).read().split()[2] == 'Z']
        if left:
            self.problem('%s workers %r outlived their master', edge.name, left)
            for p in left:
                os.kill(p, signal.SIGKILL)
        # the players: closed, and when
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and any(r.closed_at is None for r in players):
            time.sleep(0.05)
        closed = [r.closed_at - t_term for r in players if r.closed_at is not None]
        kept_during_drain = [x for x in closed if x >= DRAIN_S * 0.8]
        say('%s: SIGTERM -> exit %.2f s (rc=%s); %d/%d players disconnected after %s s',
            edge.name, t_exit, rc, len(closed), len(players),
            ', '.join('%.2f' % x for x in sorted(closed)))
        if self.drain and len(kept_during_drain) != len(closed):
            self.problem('%s closed players before drain_timeout: %r', edge.name, closed)
        if self.drain and not (DRAIN_S * 0.8 <= t_exit <= DRAIN_S + 5):
            self.problem('%s exited %.2f s after SIGTERM (drain_timeout %.0f s)', edge.name, t_exit,
                         DRAIN_S)
        if rc not in (0, None) and rc != -signal.SIGTERM:
            self.problem('%s master exit status %s after SIGTERM', edge.name, rc)
        # the players that got no video for a second after SIGTERM stopped watching
        stats['edge_players_disconnected'] += len(closed)
        # reconnect the lost ones to the other edge (what a player does: DNS gives another edge)
        moved = []
        for r in players:
            if r.closed_at is None:
                continue
            nr = self.recorder(other, 'tp')
            try:
                nr.wait_keyframe(10)
                moved.append(nr)
                stats['edge_players_reconnected'] += 1
            except AssertionError as e:
                self.problem('reconnect to %s failed: %s', other.name, e)
        # and start the edge again on the same port and node id
        edge.start()
        self.wait_playable(edge, 'tp', 15)
        say('%s restarted; %d players reconnected to %s', edge.name, len(moved), other.name)
        return moved

    def test_2_rolling_restart(self):
        self.build()
        e1, e2 = self.edges
        pub = self.publish_lb('tp', wait_node=e1)
        players = {e1: [self.recorder(e1, 'tp') for _ in range(3)],
                   e2: [self.recorder(e2, 'tp') for _ in range(3)]}
        for rs in players.values():
            for r in rs:
                r.wait_keyframe(10)
        stats = {'players': 6, 'edge_players_disconnected': 0, 'edge_players_reconnected': 0,
                 'origin_restart_players_lost': 0}

        # --- edges, one after the other
        moved = self.restart_edge(e1, e2, players[e1], stats)
        players[e2] += moved
        players[e1] = [self.recorder(e1, 'tp') for _ in range(2)]   # new players find e1 again
        for r in players[e1]:
            r.wait_keyframe(10)
        moved = self.restart_edge(e2, e1, players[e2], stats)
        players[e1] += moved
        players[e2] = []
        watching = [r for r in players[e1] if r.closed_at is None]

        # --- the origin carrying the stream
        owner, claim = self.owner('tp')
        self.assertIsNotNone(owner, claim)
        other = next(o for o in self.origins if o is not owner)
        t_term = time.monotonic()
        os.kill(owner.pid, signal.SIGTERM)
        try:
            pub.proc.wait(timeout=5)
            pub_note = 'encoder disconnected by the origin after %.2f s' % (time.monotonic() - t_term)
        except Exception:
            pub_note = 'encoder NOT disconnected within 5 s'
            self.problem('origin %s kept its publisher 5 s after SIGTERM', owner.name)
        pub.stop()
        try:
            rc = owner.proc.wait(timeout=10)
        except Exception:
            rc = None
            self.problem('origin %s still running 10 s after SIGTERM', owner.name)
            owner.stop()
        t_exit = time.monotonic() - t_term
        # the encoder reconnects through haproxy (ffmpeg has no reconnect: the test does it)
        pub = self.publish_lb('tp')
        claim = self.redis_.wait_hash('sc:stream:live/tp',
                                      lambda h: h.get('owner') == other.node_id, 15)
        t_claim = time.monotonic() - t_term
        if claim.get('owner') != other.node_id:
            self.problem('stream not taken over by %s: %r', other.name, claim)
        got_video = 0
        for r in watching:
            try:
                r.wait_keyframe(20, since=t_term + 0.05)
                r.wait_video_count(len(r.video()) + 25, 10)
                got_video += 1
            except AssertionError as e:
                self.problem('player on %s after origin restart: %s', r.node.name, e)
        lost = [r for r in watching if r.closed_at is not None]
        stats['origin_restart_players_lost'] = len(lost)
        back = [r for r in watching if r.backwards()]
        gaps = [r.largest_gap(since=t_term - 1)[0] for r in watching]
        say('origin %s: SIGTERM -> exit %.2f s (rc=%s), %s; %s claims after %.2f s; '
            '%d/%d edge players lost, %d got video again, largest gap %.2f s, '
            '%d with timestamps going back', owner.name, t_exit, rc, pub_note, other.name, t_claim,
            len(lost), len(watching), got_video, max(gaps or [0]), len(back))
        for r in lost:
            self.problem('player on %s lost in origin restart: %r', r.node.name, r.error)
        for r in back:
            self.problem('timestamps went back on %s: %r', r.node.name, r.backwards()[:2])
        owner.start()
        say('origin %s restarted', owner.name)
        say('ROLLING RESTART: %d players; edges: %d disconnected (expected: all players of the '
            'restarted edge), %d reconnected to the other edge; origin: %d of %d lost',
            stats['players'], stats['edge_players_disconnected'],
            stats['edge_players_reconnected'], stats['origin_restart_players_lost'], len(watching))
        self.assertEqual(stats['edge_players_reconnected'], stats['edge_players_disconnected'])
        self.assertEqual(self.problems, [])


if __name__ == '__main__':
    cluster.main(230)
