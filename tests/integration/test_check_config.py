#!/usr/bin/env python3
"""Configuration as operators meet it: `--check-config` reports a wrong
directive, a bad value and a missing file as `file:line: directive: reason`
and exits non-zero; the sample configs pass and document exactly the
directives of `--help`; environment overrides (SC_ORIGIN_* / SC_EDGE_*) apply
between the file and the flags and bad values are reported; SIGHUP re-reads
the file without dropping sessions."""
import os
import re
import signal
import time
import unittest

import harness
import rtmpclient

ROOT = os.environ.get('SC_SOURCE_DIR') or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
ROLES = ('origin', 'edge')
# directives the samples deliberately set to something else than the built-in default
SAMPLE_DIFFERS = {'http_listen'}


def binary(role):
    p = os.path.join(harness.BUILD_DIR, role)
    if not os.access(p, os.X_OK):
        raise unittest.SkipTest('%s not built in %s (set SC_BUILD_DIR)' % (role, harness.BUILD_DIR))
    return p


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith('SC_')}
    env.update(extra)
    return env


def check(role, *args, env=None):
    r = harness.run([binary(role)] + list(args) + ['--check-config'], 10,
                    env=env if env is not None else clean_env())
    return r.returncode, (r.stdout + r.stderr).decode('utf-8', 'replace')


def help_directives(role):
    out = harness.run([binary(role), '--help'], 10).stdout.decode()
    return dict(re.findall(r'^  ([a-z_0-9]+) \([a-z]+, default: ([^,)]*)', out, re.M))


def sample_directives(role):
    """{name: (value, line number)} of the uncommented lines of deploy/<role>.conf."""
    out = {}
    with open(os.path.join(ROOT, 'deploy', role + '.conf')) as f:
        for i, line in enumerate(f, 1):
            s = line.strip()
            if not s or s.startswith('#'):
                continue
            name, _, value = s.partition(' ')
            out[name] = (value.strip().strip('"'), i)
    return out


def write(name, text):
    p = harness.tmp_path(name)
    with open(p, 'w') as f:
        f.write(text)
    return p


class CheckConfig(unittest.TestCase):

    def test_samples_pass(self):
        for role in ROLES:
            conf = os.path.join(ROOT, 'deploy', role + '.conf')
            rc, out = check(role, '--config', conf)
            self.assertEqual(rc, 0, '%s %s: %s' % (role, conf, out))

    def test_samples_document_every_directive(self):
        for role in ROLES:
            helped = help_directives(role)
            sample = sample_directives(role)
            self.assertTrue(helped, 'no directives in %s --help' % role)
            self.assertEqual(sorted(set(helped) - set(sample)), [],
                             '%s --help directives missing from deploy/%s.conf' % (role, role))
            self.assertEqual(sorted(set(sample) - set(helped)), [],
                             'deploy/%s.conf directives unknown to %s --help' % (role, role))
            wrong = {n: (sample[n][0], d) for n, d in helped.items()
                     if n in sample and n not in SAMPLE_DIFFERS and sample[n][0] != d}
            self.assertEqual(wrong, {}, 'deploy/%s.conf values (sample, --help default) differ'
                             % role)

    def assert_reported(self, role, text, line, directive, reason_re):
        path = write('%s-bad-%d.conf' % (role, time.monotonic_ns()), text)
        rc, out = check(role, '--config', path)
        self.assertNotEqual(rc, 0, '%s accepted:\n%s\n%s' % (role, text, out))
        self.assertIn('%s:%d:' % (path, line), out, 'file:line missing: %r' % out)
        self.assertIn(directive, out)
        self.assertRegex(out, reason_re)
        return out

    def test_wrong_directive(self):
        for role in ROLES:
            self.assert_reported(role, '# a comment\nchunk_size 4096\nchunk_sise 8192\n', 3,
                                 'chunk_sise', r'unknown directive')

    def test_bad_values(self):
        cases = [('chunk_size 99\n', 'chunk_size', r'128'),            # below the range
                 ('chunk_size 12abc\n', 'chunk_size', r'.'),            # not a number
                 ('handshake_timeout soon\n', 'handshake_timeout', r'.'),
                 ('max_message_size 9q\n', 'max_message_size', r'.'),
                 ('log_level loud\n', 'log_level', r'.'),
                 ('chunk_size\n', 'chunk_size', r'.')]                  # no value
        for role in ROLES:
            for text, d, reason in cases:
                self.assert_reported(role, 'max_connections 100\n\n' + text, 3, d, reason)
        self.assert_reported('origin', 'cluster perhaps\n', 1, 'cluster', r'.')
        self.assert_reported('edge', 'workers -1\n', 1, 'workers', r'.')

    def test_bad_composite_values(self):
        """Values whose shape the directive types do not express (a rule
        list, a port range, an fsync policy) are checked too, by the module
        that uses them, so --check-config refuses what a start would."""
        cases = [('origin', 'relay_push=live', r'relay_push: item 1 .*want APP=URL'),
                 ('origin', 'relay_push=live=http://example.net/x', r'relay_push: item 1 \(live\)'),
                 ('origin', 'record_fsync=sometimes', r"record_fsync: 'sometimes'"),
                 ('origin', 'rtsp_udp_port_range=5000-4000', r'rtsp_udp_port_range "5000-4000"'),
                 ('edge', 'rtsp_udp_port_range=70000-70010', r'rtsp_udp_port_range "70000-70010"')]
        for role, setting, reason in cases:
            rc, out = check(role, '--set', setting)
            self.assertNotEqual(rc, 0, '%s --set %s: %s' % (role, setting, out))
            self.assertRegex(out, reason)
            self.assertIn('configuration refused', out)
        for role, setting in (('origin', 'relay_push=live=rtmp://example.net/app, tv/news=rtmps://x.example/a/b'),
                              ('origin', 'record_fsync=500ms'), ('edge', 'rtsp_udp_port_range=20000-20099')):
            rc, out = check(role, '--set', setting)
            self.assertEqual(rc, 0, '%s --set %s: %s' % (role, setting, out))

    def test_bad_addresses(self):
        """Malformed addresses are bad values for --check-config, with file
        and line. Host names are fine: they are resolved once at start-up."""
        for role in ROLES:
            for text, d in (('redis localhost\n', 'redis'),
                            ('rtmp_listen example.net:19350000\n', 'rtmp_listen'),
                            ('rtmp_listen bad/host:1935\n', 'rtmp_listen'),
                            ('http_listen 0.0.0.0:99999\n', 'http_listen')):
                self.assert_reported(role, 'chunk_size 4096\n' + text, 2, d, r'.')
            rc, out = check(role, '--config', write('%s-names-%d.conf' % (role, time.monotonic_ns()),
                                                    'redis localhost:6379\nrtmp_listen localhost:1935\n'))
            self.assertEqual(rc, 0, out)
        self.assert_reported('origin', 'chunk_size 4096\npub_listen bogus\n', 2, 'pub_listen', r'.')

    def test_missing_file(self):
        for role in ROLES:
            path = harness.tmp_path('no-such-%s.conf' % role)
            rc, out = check(role, '--config', path)
            self.assertNotEqual(rc, 0, out)
            self.assertIn(path, out)
            self.assertRegex(out, r'(?i)no such file|cannot open')

    def test_env_override_checked(self):
        rc, out = check('origin', env=clean_env(SC_ORIGIN_CHUNK_SIZE='12'))
        self.assertNotEqual(rc, 0, out)
        self.assertIn('SC_ORIGIN_CHUNK_SIZE', out)
        rc, out = check('edge', env=clean_env(SC_EDGE_WORKERS='many'))
        self.assertNotEqual(rc, 0, out)
        self.assertIn('SC_EDGE_WORKERS', out)
        rc, out = check('origin', env=clean_env(SC_ORIGIN_CHUNK_SIZE='8192'))
        self.assertEqual(rc, 0, out)
        # the other binary's prefix is not ours: ignored
        rc, out = check('origin', env=clean_env(SC_EDGE_CHUNK_SIZE='12'))
        self.assertEqual(rc, 0, out)

    def test_version(self):
        for role in ROLES:
            r = harness.run([binary(role), '--version'], 10)
            self.assertEqual(r.returncode, 0)
            self.assertRegex(r.stdout.decode(), r'^%s \d+\.\d+\.\d+' % role)


class EnvApplied(unittest.TestCase):
    """The chunk size the origin announces shows which setting won:
    defaults < file < environment < flags."""

    def announced_chunk_size(self, env, args=()):
        port = harness.free_port()
        log = harness.tmp_path('env-%d.log' % port)
        p = harness.spawn([binary('origin'), '--listen', '127.0.0.1:%d' % port] + list(args),
                          log, env=clean_env(**env))
        self.addCleanup(harness.kill, p)
        self.assertTrue(harness.wait_port(port, 10, p), harness.tail(log))
        c = rtmpclient.RtmpClient('127.0.0.1', port, timeout=5)
        try:
            c.connect()
            sizes = [m for m in c.received if m.type == rtmpclient.SET_CHUNK_SIZE]
            self.assertTrue(sizes, c.summary())
            return int.from_bytes(sizes[0].payload[:4], 'big')
        finally:
            c.close()
            harness.kill(p)

    def test_precedence(self):
        conf = write('chunk.conf', 'chunk_size 2048\n')
        self.assertEqual(self.announced_chunk_size({}), 4096)
        self.assertEqual(self.announced_chunk_size({}, ['--config', conf]), 2048)
        self.assertEqual(self.announced_chunk_size({'SC_ORIGIN_CHUNK_SIZE': '8192'},
                                                   ['--config', conf]), 8192)
        self.assertEqual(self.announced_chunk_size({'SC_ORIGIN_CHUNK_SIZE': '8192'},
                                                   ['--config', conf, '--set', 'chunk_size=16384']),
                         16384)


class Reload(unittest.TestCase):
    """SIGHUP re-reads the file: reloadable settings apply to new sessions,
    open sessions stay, others are reported as needing a restart, and a
    broken file keeps the running configuration."""

    def start(self, role, text, extra=()):
        self.conf = write('%s-reload-%d.conf' % (role, time.monotonic_ns()), text)
        self.port = harness.free_port()
        self.log = harness.tmp_path('%s-reload-%d.log' % (role, self.port))
        self.proc = harness.spawn([binary(role), '--config', self.conf, '--listen',
                                   '127.0.0.1:%d' % self.port] + list(extra), self.log,
                                  env=clean_env())
        self.addCleanup(harness.kill, self.proc)
        self.assertTrue(harness.wait_port(self.port, 10, self.proc), harness.tail(self.log))
        time.sleep(0.3)   # edge: every worker listening

    def hup(self, text):
        with open(self.conf, 'w') as f:
            f.write(text)
        mark = len(harness.read_text(self.log))
        os.kill(self.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            new = harness.read_text(self.log)[mark:]
            if re.search(r'(?i)reload', new):
                time.sleep(0.3)
                return harness.read_text(self.log)[mark:]
            time.sleep(0.05)
        self.fail('no reload logged after SIGHUP:\n%s' % harness.tail(self.log))

    def client(self):
        return rtmpclient.RtmpClient('127.0.0.1', self.port, timeout=5)

    def test_origin_reload_limits(self):
        self.start('origin', 'max_connections 100\nlog_level info\n')
        a = self.client()
        self.addCleanup(a.close)
        a.connect()
        a.create_stream()
        new = self.hup('max_connections 1\nlog_level info\nchunk_size 8192\n')
        self.assertIsNone(self.proc.poll(), 'origin exited on SIGHUP')
        self.assertRegex(new, r'chunk_size.*(?i:restart)', 'non-reloadable change not reported')
        # the open session survived the reload
        a.command('createStream', None)
        self.assertIsNotNone(a.read_until(lambda m: m.name == '_result', 5, 'createStream result'))
        # the new limit applies: a second connection is refused
        b = self.client()
        self.addCleanup(b.close)
        try:
            b.connect()
            refused = False
        except (rtmpclient.ConnectionClosed, rtmpclient.ProtocolError, TimeoutError, OSError):
            refused = True
        self.assertTrue(refused, 'max_connections 1 not applied by SIGHUP')
        # a broken file keeps the running configuration
        new = self.hup('max_connections 1\nno_such_directive 1\n')
        self.assertIsNone(self.proc.poll(), 'origin exited on a bad config at SIGHUP')
        self.assertIn('no_such_directive', new)
        self.assertIn('%s:2' % self.conf, new)
        a.command('createStream', None)
        a.read_until(lambda m: m.name == '_result' and m.amf[1] == a.tx - 1, 5, 'result')

    def test_edge_reload(self):
        self.start('edge', 'workers 2\nmax_players 0\nplay_wait 10s\n',
                   ['--set', 'redis=127.0.0.1:%d' % harness.free_port()])
        a = self.client()
        self.addCleanup(a.close)
        a.connect()
        new = self.hup('workers 2\nmax_players 1\nplay_wait 2s\n')
        self.assertIsNone(self.proc.poll(), 'edge master exited on SIGHUP')
        self.assertNotRegex(new, r'(?i)worker \d+ (exited|died)')
        a.command('createStream', None)
        self.assertIsNotNone(a.read_until(lambda m: m.name == '_result', 5, 'createStream result'))


if __name__ == '__main__':
    harness.main()
