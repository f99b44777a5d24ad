#!/usr/bin/env python3
"""The deployment files, validated without a Docker engine:

- deploy/docker/docker-compose.yml parses (PyYAML, and docker-compose's own
  schema check when installed); its services, ports, environment, health
  checks and restart policies agree with each other, with haproxy.cfg and with
  the binaries (every SC_* variable names a directive of `origin --help` /
  `edge --help`, and the binaries accept each service's environment with
  --check-config);
- deploy/docker/Dockerfile builds with the same install script and CMake
  steps as the tests, and its runtime stage installs exactly the packages of
  the libraries the binaries link against;
- both haproxy.cfg files pass `haproxy -c`; the systemd units pass
  `systemd-analyze verify` (skipped if absent) and say what operations need;
  the DNS zone passes named-checkzone (skipped if absent).
"""
import ipaddress
import os
import re
import tempfile
import unittest

import harness

ROOT = os.environ.get('SC_SOURCE_DIR') or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
DOCKER = os.path.join(ROOT, 'deploy', 'docker')
HOSTS = os.path.join(ROOT, 'deploy', 'hosts')
NODE_SERVICES = ('origin1', 'origin2', 'edge')


def binary(role):
    p = os.path.join(harness.BUILD_DIR, role)
    if not os.access(p, os.X_OK):
        raise unittest.SkipTest('%s not built in %s (set SC_BUILD_DIR)' % (role, harness.BUILD_DIR))
    return p


def directives(role):
    """{name: default} from `<role> --help`."""
    r = harness.run([binary(role), '--help'], 10)
    out = r.stdout.decode()
    found = dict(re.findall(r'^  ([a-z_0-9]+) \([a-z]+, default: ([^,)]*)', out, re.M))
    if not found:
        raise AssertionError('no directives in %s --help:\n%s' % (role, out))
    return found


def duration_ms(v):
    m = re.fullmatch(r'(\d+)(ms|s|m)?', v.strip())
    if not m:
        raise ValueError('not a duration: %r' % v)
    return int(m.group(1)) * {'ms': 1, None: 1, 's': 1000, 'm': 60000}[m.group(2)]


def conf_value(path, name):
    with open(path) as f:
        for line in f:
            m = re.match(r'\s*%s\s+(\S+)' % re.escape(name), line)
            if m:
                return m.group(1).strip('"')
    return None


def load_yaml(path):
    try:
        import yaml
    except ImportError:
        raise unittest.SkipTest('python3-yaml not installed')
    with open(path) as f:
        return yaml.safe_load(f)


def role_of(service):
    cmd = service.get('command') or []
    return cmd[0] if cmd else None


class Compose(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.path = os.path.join(DOCKER, 'docker-compose.yml')
        cls.doc = load_yaml(cls.path)
        cls.services = cls.doc['services']
        with open(os.path.join(DOCKER, 'haproxy.cfg')) as f:
            cls.haproxy = f.read()

    def test_schema(self):
        """docker-compose's own validation (compose schema, merge keys, types)."""
        tools = []
        if harness.have('docker-compose'):
            tools.append(['docker-compose'])
        if harness.have('docker') and harness.run(['docker', 'compose', 'version'], 20).returncode == 0:
            tools.append(['docker', 'compose'])
        if not tools:
            self.skipTest('neither docker-compose nor the docker compose plugin installed')
        for t in tools:
            r = harness.run(t + ['-f', self.path, 'config', '-q'], 60)
            self.assertEqual(r.returncode, 0, '%s config: %s' % (' '.join(t), r.stderr.decode()))

    def test_services(self):
        self.assertEqual(set(self.services), {'redis', 'lb', 'origin1', 'origin2', 'edge'})
        for name, s in self.services.items():
            self.assertIn(s.get('restart'), ('always', 'unless-stopped', 'on-failure'),
                          '%s: restart policy' % name)
            self.assertIn('healthcheck', s, '%s has no healthcheck' % name)
            self.assertIn('test', s['healthcheck'], name)
        for name in NODE_SERVICES:
            s = self.services[name]
            self.assertEqual(s['build']['dockerfile'], 'deploy/docker/Dockerfile', name)
            ctx = os.path.normpath(os.path.join(DOCKER, s['build']['context']))
            self.assertEqual(ctx, os.path.normpath(ROOT), '%s: build context' % name)
            self.assertIn(role_of(s), ('origin', 'edge'), name)
            self.assertIn('redis', s.get('depends_on', {}), name)

    def test_edge_scales(self):
        """`--scale edge=N` must not fight over fixed host ports or names."""
        e = self.services['edge']
        self.assertNotIn('container_name', e)
        for p in e.get('ports', []):
            host = str(p).split(':')[0] if ':' in str(p) else ''
            self.assertTrue(host == '' or '-' in host, 'edge publishes a fixed host port: %r' % p)
        env = e.get('environment', {})
        self.assertNotIn('SC_EDGE_NODE_ID', env, 'one node_id for every replica')
        self.assertNotIn('SC_EDGE_ADVERTISE_HOST', env, 'one advertise_host for every replica')
        # players reach every replica through the lb: server-template on the edge service
        m = re.search(r'server-template\s+\S+\s+\d+-(\d+)\s+edge:(\d+)', self.haproxy)
        self.assertIsNotNone(m, 'haproxy.cfg has no server-template for the edge service')
        self.assertGreaterEqual(int(m.group(1)), 4)
        self.assertEqual(m.group(2), conf_value(os.path.join(ROOT, 'deploy', 'edge.conf'),
                                                'rtmp_listen').rsplit(':', 1)[1])

    def test_env_names_are_directives(self):
        known = {'origin': directives('origin'), 'edge': directives('edge')}
        for name in NODE_SERVICES:
            s = self.services[name]
            role = role_of(s)
            prefix = 'SC_%s_' % role.upper()
            for var in s.get('environment', {}):
                self.assertTrue(var.startswith(prefix), '%s: %s is not a %s variable'
                                % (name, var, prefix))
                d = var[len(prefix):].lower()
                self.assertIn(d, known[role], '%s: %s names no %s directive' % (name, var, role))

    def test_env_accepted_by_binary(self):
        """Each service's environment on top of its sample config passes --check-config."""
        for name in NODE_SERVICES:
            s = self.services[name]
            role = role_of(s)
            env = {k: v for k, v in os.environ.items() if not k.startswith('SC_')}
            env.update({k: str(v) for k, v in s.get('environment', {}).items()})
            conf = os.path.join(ROOT, 'deploy', '%s.conf' % role)
            r = harness.run([binary(role), '--config', conf, '--check-config'], 10, env=env)
            self.assertEqual(r.returncode, 0, '%s: %s' % (name, (r.stdout + r.stderr).decode()))

    def test_redis_address(self):
        """The redis directive takes a numeric address: it must be redis's fixed one."""
        fixed = self.services['redis']['networks']['sc']['ipv4_address']
        subnet = ipaddress.ip_network(self.doc['networks']['sc']['ipam']['config'][0]['subnet'])
        self.assertIn(ipaddress.ip_address(fixed), subnet)
        for name in NODE_SERVICES:
            s = self.services[name]
            var = 'SC_%s_REDIS' % role_of(s).upper()
            addr = s['environment'].get(var)
            self.assertIsNotNone(addr, '%s sets no %s' % (name, var))
            host, port = addr.rsplit(':', 1)
            ipaddress.ip_address(host)   # numeric, or the binary cannot use it
            self.assertEqual((host, port), (fixed, '6379'), name)

    def test_origins(self):
        for name in ('origin1', 'origin2'):
            env = self.services[name]['environment']
            self.assertEqual(env.get('SC_ORIGIN_CLUSTER'), 'on', name)
            self.assertEqual(env.get('SC_ORIGIN_ADVERTISE_HOST'), name,
                             '%s: edges reach the origin under its service name' % name)
            self.assertRegex(self.haproxy, r'server\s+\S+\s+%s:1935\b' % name,
                             'haproxy does not balance to %s' % name)
        ids = [self.services[n]['environment'].get('SC_ORIGIN_NODE_ID') for n in ('origin1', 'origin2')]
        self.assertEqual(len(set(ids)), 2, 'origins need distinct node ids: %r' % ids)
        m = re.search(r'(?ms)^backend origins\n(.*?)(?:^\S|\Z)', self.haproxy)
        self.assertIn('check', m.group(1), 'origins backend without health checks')

    def test_healthcheck_ports(self):
        """A node's healthcheck probes the port its http_listen opens."""
        for name in NODE_SERVICES:
            s = self.services[name]
            var = 'SC_%s_HTTP_LISTEN' % role_of(s).upper()
            port = s['environment'][var].rsplit(':', 1)[1]
            test = s['healthcheck']['test']
            self.assertEqual(test[:2], ['CMD', 'sc-healthcheck'], name)
            self.assertEqual(test[2], port, '%s: healthcheck port vs %s' % (name, var))

    def test_lb_ports_match_binds(self):
        binds = set(re.findall(r'^\s*bind\s+\S*:(\d+)', self.haproxy, re.M))
        for p in self.services['lb']['ports']:
            host, cont = str(p).split(':')
            self.assertIn(cont, binds, 'lb publishes %s but haproxy binds no such port' % p)
        cfg = self.services['lb']['volumes'][0].split(':')[0]
        self.assertEqual(os.path.normpath(os.path.join(DOCKER, cfg)),
                         os.path.join(DOCKER, 'haproxy.cfg'))

    def test_drain_grace(self):
        """compose must wait longer than the edge drains before it SIGKILLs."""
        e = self.services['edge']
        drain = duration_ms(e['environment'].get('SC_EDGE_DRAIN_TIMEOUT', '30s'))
        self.assertGreater(duration_ms(e['stop_grace_period']), drain)


class HaproxyConfigs(unittest.TestCase):

    def check(self, path):
        if not harness.have('haproxy'):
            self.skipTest('haproxy not installed')
        r = harness.run(['haproxy', '-c', '-f', path], 20)
        self.assertEqual(r.returncode, 0, '%s: %s' % (path, (r.stdout + r.stderr).decode()))
        return (r.stdout + r.stderr).decode()

    def test_docker_haproxy(self):
        out = self.check(os.path.join(DOCKER, 'haproxy.cfg'))
        # only "cannot resolve the compose service names here" is acceptable
        for line in out.splitlines():
            if 'WARNING' in line:
                self.assertIn('could not resolve address', line)

    def test_hosts_haproxy(self):
        path = os.path.join(HOSTS, 'haproxy.cfg')
        out = self.check(path)
        self.assertNotIn('WARNING', out)
        with open(path) as f:
            text = f.read()
        self.assertRegex(text, r'(?m)^\s*mode tcp')
        servers = re.findall(r'(?m)^\s*server\s+\S+\s+(\S+):1935', text)
        self.assertGreaterEqual(len(servers), 2)
        self.assertRegex(text, r'(?m)^\s*default-server .*\bcheck\b')


class Dockerfile(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        with open(os.path.join(DOCKER, 'Dockerfile')) as f:
            text = f.read()
        text = re.sub(r'\\\n', ' ', text)            # join continuation lines
        cls.stages = []
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            word, _, rest = line.partition(' ')
            if word.upper() == 'FROM':
                cls.stages.append([])
            cls.stages[-1].append((word.upper(), rest.strip()))

    def instr(self, stage, word):
        return [rest for w, rest in self.stages[stage] if w == word]

    def test_build_stage_uses_test_scripts(self):
        self.assertEqual(len(self.stages), 2)
        self.assertEqual(self.instr(0, 'FROM'), ['debian:bookworm-slim AS build'])
        run = ' && '.join(self.instr(0, 'RUN'))
        steps = [s.strip() for s in run.split('&&')]
        self.assertEqual(steps[0], './tests/install-deps.sh')
        self.assertTrue(os.access(os.path.join(ROOT, 'tests', 'install-deps.sh'), os.X_OK))
        # the same install script and configure step the test and local runs use
        for script in ('tests/run.sh', 'deploy/run-local.sh'):
            with open(os.path.join(ROOT, script)) as f:
                s = f.read()
            self.assertIn('./tests/install-deps.sh', s, script)
            self.assertRegex(s, r'cmake -S \. -B build ', script)
        self.assertTrue(any(re.match(r'cmake -S \. -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo', x)
                            for x in steps), steps)
        self.assertTrue(any(re.match(r'cmake --build build .*--target origin edge', x)
                            for x in steps), steps)

    def test_runtime_stage(self):
        st = 1
        self.assertEqual(self.instr(st, 'FROM'), ['debian:bookworm-slim'])
        user = self.instr(st, 'USER')
        self.assertTrue(user and user[-1] not in ('root', '0'), 'runs as root')
        self.assertTrue(self.instr(st, 'HEALTHCHECK'))
        exposed = set(' '.join(self.instr(st, 'EXPOSE')).split())
        for role, d in (('origin', 'rtmp_listen'), ('origin', 'http_listen'),
                        ('edge', 'http_listen')):
            port = conf_value(os.path.join(ROOT, 'deploy', role + '.conf'), d).rsplit(':', 1)[1]
            self.assertIn(port, exposed, '%s %s' % (role, d))
        for d in ('pub_listen', 'router_listen'):
            port = conf_value(os.path.join(ROOT, 'deploy', 'origin.conf'), d).rsplit(':', 1)[1]
            self.assertIn(port, exposed, d)
        for src in self.instr(st, 'COPY'):
            if src.startswith('--from'):
                continue
            for p in src.split()[:-1]:
                self.assertTrue(os.path.exists(os.path.join(ROOT, p)), 'COPY of missing %s' % p)

    def test_runtime_packages_match_linked_libraries(self):
        """The runtime apt-get install names exactly the packages of the
        libraries the binaries need (besides libc6)."""
        if not (harness.have('objdump') and harness.have('dpkg')):
            self.skipTest('objdump/dpkg not available')
        run = ' '.join(self.instr(1, 'RUN'))
        m = re.search(r'apt-get install -y --no-install-recommends ([^&]+)', run)
        self.assertIsNotNone(m, run)
        wanted = set(m.group(1).split())
        needed = {}
        for role in ('origin', 'edge'):
            out = harness.run(['objdump', '-p', binary(role)], 20).stdout.decode()
            resolved = dict(re.findall(r'^\s*(\S+) => (\S+)', harness.run(
                ['ldd', binary(role)], 20).stdout.decode(), re.M))
            for lib in re.findall(r'NEEDED\s+(\S+)', out):
                needed[lib] = resolved[lib]
        pkgs = set()
        for lib, path in needed.items():
            # the multiarch directory keeps e.g. libc6-i386 out
            pattern = '*/%s/%s' % (os.path.basename(os.path.dirname(path)), lib)
            r = harness.run(['dpkg', '-S', pattern], 20)
            self.assertEqual(r.returncode, 0, 'no package owns %s' % pattern)
            pkgs |= {l.split(':')[0] for l in r.stdout.decode().splitlines()}
        pkgs.discard('libc6')
        self.assertEqual(wanted, pkgs, 'runtime packages vs linked libraries %s' % sorted(needed))

    def test_scripts_parse(self):
        for name, sh in (('entrypoint.sh', 'sh'), ('healthcheck.sh', 'bash')):
            p = os.path.join(DOCKER, name)
            self.assertTrue(os.access(p, os.X_OK), '%s not executable' % name)
            r = harness.run([sh, '-n', p], 10)
            self.assertEqual(r.returncode, 0, r.stderr)


class HealthcheckScript(unittest.TestCase):
    """The image's healthcheck against a real origin's HTTP API."""

    def test_healthcheck(self):
        port, http = harness.free_port(), harness.free_port()
        p = harness.spawn([binary('origin'), '--listen', '127.0.0.1:%d' % port, '--set',
                           'http_listen=127.0.0.1:%d' % http], harness.tmp_path('hc-origin.log'))
        self.addCleanup(harness.kill, p)
        self.assertTrue(harness.wait_port(http, 10, p), harness.tail(harness.tmp_path('hc-origin.log')))
        script = os.path.join(DOCKER, 'healthcheck.sh')
        self.assertEqual(harness.run([script, str(http)], 10).returncode, 0)
        env = dict(os.environ, SC_ORIGIN_HTTP_LISTEN='0.0.0.0:%d' % http)
        self.assertEqual(harness.run([script], 10, env=env).returncode, 0)
        self.assertNotEqual(harness.run([script, str(port)], 10).returncode, 0,
                            'healthy although the port does not speak HTTP')
        harness.kill(p, 9)
        self.assertNotEqual(harness.run([script, str(http)], 10).returncode, 0,
                            'healthy with nothing listening')


class SystemdUnits(unittest.TestCase):

    def unit(self, role):
        with open(os.path.join(HOSTS, role + '.service')) as f:
            text = f.read()
        keys = {}
        for line in text.splitlines():
            m = re.match(r'([A-Za-z]+)=(.*)', line)
            if m:
                keys.setdefault(m.group(1), []).append(m.group(2))
        return text, keys

    def test_verify(self):
        if not harness.have('systemd-analyze'):
            self.skipTest('systemd-analyze not available: units not verified')
        d = tempfile.mkdtemp(prefix='units-', dir=harness.tmp_path(''))
        paths = []
        for role in ('origin', 'edge'):
            text, _ = self.unit(role)
            # verify checks that the binaries exist: point at the build
            text = text.replace('/usr/local/bin/%s ' % role, binary(role) + ' ')
            p = os.path.join(d, role + '.service')
            with open(p, 'w') as f:
                f.write(text)
            paths.append(p)
        r = harness.run(['systemd-analyze', 'verify'] + paths, 60)
        out = (r.stdout + r.stderr).decode()
        # systemd-analyze exits 0 on unknown keys and bad values: any line about our units fails
        ours = [l for l in out.splitlines() if '.service' in l]
        self.assertEqual(r.returncode, 0, out)
        self.assertEqual(ours, [], out)

    def test_operations(self):
        with open(os.path.join(HOSTS, 'streamcluster.sysusers')) as f:
            sysuser = re.search(r'(?m)^u\s+(\S+)', f.read()).group(1)
        drain = directives('edge').get('drain_timeout', '30s') or '30s'
        conf_drain = conf_value(os.path.join(ROOT, 'deploy', 'edge.conf'), 'drain_timeout')
        for role in ('origin', 'edge'):
            _, k = self.unit(role)
            self.assertEqual(k['ExecReload'], ['/bin/kill -HUP $MAINPID'], role)
            self.assertEqual(k['KillSignal'], ['SIGTERM'], role)
            self.assertEqual(k['KillMode'], ['mixed'], role)   # SIGTERM to the master only
            self.assertEqual(k['Restart'], ['on-failure'], role)
            self.assertEqual(k['User'], [sysuser], role)
            self.assertIn('--config /etc/streamcluster/%s.conf' % role, k['ExecStart'][0])
            self.assertIn('--check-config', k['ExecStartPre'][0])
            stop = duration_ms(k['TimeoutStopSec'][0])
            if role == 'edge':
                self.assertGreater(stop, duration_ms(drain), 'TimeoutStopSec vs drain_timeout')
                if conf_drain:
                    self.assertGreater(stop, duration_ms(conf_drain))


class DnsZone(unittest.TestCase):

    def test_zone(self):
        path = os.path.join(HOSTS, 'edges.zone')
        with open(path) as f:
            text = f.read()
        play = re.findall(r'(?m)^play\s+(?:\d+\s+)?IN\s+A\s+(\S+)', text)
        self.assertGreaterEqual(len(set(play)), 2, 'round robin needs several A records')
        if not harness.have('named-checkzone'):
            self.skipTest('named-checkzone (bind9-utils) not installed: zone syntax not checked')
        r = harness.run(['named-checkzone', 'example.net', path], 20)
        self.assertEqual(r.returncode, 0, (r.stdout + r.stderr).decode())


class Readme(unittest.TestCase):

    def test_deploy_section(self):
        with open(os.path.join(ROOT, 'README.md')) as f:
            text = f.read()
        m = re.search(r'(?ms)^## Deploy\n(.*?)(?=^## )', text)
        self.assertIsNotNone(m, 'README has no "## Deploy" section')
        sec = m.group(1)
        for ref in re.findall(r'deploy/[A-Za-z0-9_./-]+[A-Za-z0-9_]', sec):
            self.assertTrue(os.path.exists(os.path.join(ROOT, ref)), 'README names missing %s' % ref)
        for must in ('docker-compose.yml', 'run-local.sh', 'origin.service', 'edge.service',
                     'haproxy.cfg', 'edges.zone', '--scale edge='):
            self.assertIn(must, sec)


if __name__ == '__main__':
    harness.main()
