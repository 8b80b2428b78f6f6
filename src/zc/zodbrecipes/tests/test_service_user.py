"""A deployment-mode server whose deployment user is a real unprivileged
account, run the way production runs it.

The buildout is built as root with an interpreter every user can run (see
tests/service.py); root starts the server with the rc script, and the
service user, the cron line's user and logrotate's ``su`` use the same
scripts and files.  Every test starts the server it needs and stops it
again; its clean-up stops whatever is left, found by its zdaemon socket,
also when it fails.
"""
import collections
import gzip
import os
import shlex
import signal
import subprocess
import shutil
import threading
import time
import unittest

from zc.zodbrecipes import talk
from zc.zodbrecipes.tests import harness
from zc.zodbrecipes.tests import service
from zc.zodbrecipes.tests import tools
from zc.zodbrecipes.tests.service import mode
from zc.zodbrecipes.tests.service import owner
from zc.zodbrecipes.tests.service import process_user
from zc.zodbrecipes.tests.service import runas


class Fixture:

    def __init__(self, top, account, deployment):
        self.top = top
        self.account = account
        self.user = account.name
        self.deployment = deployment
        self.port = service.free_port()

    def parts(self, zeo_conf):
        """The server part of the deployment, serving zeo_conf."""
        import textwrap
        return textwrap.dedent('''
            [zeo]
            recipe = zc.zodbrecipes:server
            deployment = app
            shell-script = true
            pack = 0 3 * * sun 0
            systemd-directory = ${app:etc-directory}/../systemd
            supervisor-directory = ${app:etc-directory}/../supervisor
            zeo.conf =
            ''') + textwrap.indent(zeo_conf, '    ')

    def build(self):
        result = self.deployment.buildout(self.parts(
            service.server_zeo_conf('app', self.port)))
        if result.returncode:
            raise AssertionError('buildout failed:\n' + result.stdout)
        d = self.deployment.deploy
        self.rc = os.path.join(d, 'etc', 'init.d', 'app-zeo')
        self.run = os.path.join(d, 'var', 'run', 'app')
        self.log = os.path.join(d, 'var', 'log', 'app')
        self.lib = os.path.join(d, 'var', 'lib', 'app')
        self.socket = os.path.join(self.run, 'zeo-zdaemon.sock')
        self.logrotate = os.path.join(d, 'etc', 'logrotate.d', 'app-zeo')
        self.cron = os.path.join(d, 'etc', 'cron.d', 'pack-app-zeo')
        self.unit = os.path.join(d, 'etc', 'systemd', 'app-zeo.service')
        self.program = os.path.join(d, 'etc', 'supervisor', 'app-zeo.conf')

    def close(self):
        try:
            self.deployment.close()
        finally:
            self.account.close()
            # Nothing of value: a test database, its logs, a venv.
            shutil.rmtree(self.top, ignore_errors=True)


class ServiceUserLayer:
    """The user, the interpreter and the built deployment (zope.testrunner
    sets up layers, not setUpClass)."""

    fixture = None

    @classmethod
    def setUp(cls):
        top, account, interpreter, deployment = service.make_fixture()
        cls.fixture = Fixture(top, account, deployment)
        try:
            cls.fixture.build()
        except BaseException:
            cls.tearDown()
            raise

    @classmethod
    def tearDown(cls):
        if cls.fixture is not None:
            cls.fixture.close()
            cls.fixture = None


class ServiceUserTests(unittest.TestCase):

    layer = ServiceUserLayer

    def setUp(self):
        self.f = ServiceUserLayer.fixture
        self.addCleanup(self.f.deployment.close)

    def rc(self, command, user=None):
        """The rc script's command as user (None: root): (exit status,
        output)."""
        result = runas(user, [self.f.rc, command])
        return result.returncode, result.stdout

    def start(self, user=None):
        status, out = self.rc('start', user)
        self.assertEqual(status, 0, out)
        self.assertIn('serving on 127.0.0.1:%d' % self.f.port, out)
        found = talk.query(self.f.socket)
        self.assertTrue(found, 'no daemon manager answers')
        return int(found['manager']), int(found['application'])

    def stop(self, user=None):
        pids = [int(v) for k, v in (talk.query(self.f.socket) or {}).items()
                if k in ('manager', 'application')]
        status, out = self.rc('stop', user)
        self.assertEqual(status, 0, out)
        self.assertTrue(service.wait_stopped(pids), 'still running')

    def cron_commands(self):
        """The commands of the cron.d file, with their user."""
        with open(self.f.cron) as f:
            lines = [line.split(None, 6) for line in f
                     if line.strip() and not line.startswith('#')
                     and '=' not in line.split()[0]]
        return [(fields[5], fields[6].strip()) for fields in lines]

    # -- the tests -----------------------------------------------------------

    def test_root_starts_the_service_user_controls(self):
        manager, server = self.start()
        # Both run as the service user, and zdaemon's socket is its own.
        self.assertEqual(process_user(manager), self.f.user)
        self.assertEqual(process_user(server), self.f.user)
        self.assertEqual(owner(self.f.socket), self.f.user)
        self.assertEqual(owner(self.f.run), self.f.user)
        for command in ('status', 'logreopen'):
            status, out = self.rc(command, self.f.user)
            self.assertEqual(status, 0, '%s: %s' % (command, out))
        status, out = self.rc('status', self.f.user)
        self.assertIn('serving on', out)
        self.assertIn('pid %d' % server, out)
        # Root still can.
        status, out = self.rc('status')
        self.assertEqual(status, 0, out)
        self.stop(self.f.user)
        status, out = self.rc('status', self.f.user)
        self.assertNotEqual(status, 0, out)

    def test_the_service_user_starts_root_controls(self):
        manager, server = self.start(self.f.user)
        self.assertEqual(process_user(server), self.f.user)
        status, out = self.rc('status')
        self.assertEqual(status, 0, out)
        self.stop()

    def test_after_a_reboot(self):
        """The run directory is gone (a tmpfs after a reboot): start, as
        root, creates it again for the service user, and the pack job,
        run as its cron user, finds its lock directory."""
        self.assertFalse(talk.query(self.f.socket))
        shutil.rmtree(self.f.run)
        self.start()
        self.assertEqual(owner(self.f.run), self.f.user)
        self.assertEqual(mode(self.f.run) & 0o007, 0)
        commands = self.cron_commands()
        self.assertTrue(commands)
        for user, command in commands:
            self.assertEqual(user, self.f.user)
            result = runas(user, ['/bin/sh', '-c', command])
            self.assertEqual(result.returncode, 0, result.stdout)
            self.assertNotIn('Permission denied', result.stdout)
        self.stop(self.f.user)

    def test_data_and_logs_are_not_readable_by_others(self):
        self.start()
        harness.commit(('127.0.0.1', self.f.port), 'x', 1)
        self.stop()
        tools.require('logrotate')
        runas(None, [tools.find('logrotate'), '-f', '-s',
                     os.path.join(self.f.top, 'logrotate.state'),
                     self.f.logrotate])
        found = []
        for top in (self.f.lib, self.f.log):
            for d, dirs, names in os.walk(top):
                for n in dirs + names:
                    found.append(os.path.join(d, n))
        self.assertTrue(any(p.endswith('Data.fs') for p in found))
        readable = ['%s %o' % (p, mode(p)) for p in found
                    if mode(p) & 0o007]
        self.assertEqual(readable, [])

    def test_start_says_why_the_server_cannot_be_executed(self):
        runzeo = self.f.deployment.path('parts', 'zeo', 'runzeo')
        before = mode(runzeo)
        os.chmod(runzeo, 0o700)  # only root may run it
        self.addCleanup(os.chmod, runzeo, before)
        status, out = self.rc('start')
        self.assertEqual(status, 1, out)
        self.assertIn('cannot execute %s: Permission denied' % runzeo, out)
        self.assertFalse(talk.query(self.f.socket))

    def test_logrotate_as_the_service_user_loses_no_line(self):
        """Real logrotate -f with the generated file (su USER GROUP: the
        postrotate logreopen runs as the service user) while clients
        connect: every connection's handshake line is in exactly one of
        the event log's files."""
        logrotate = tools.require('logrotate')
        self.start()
        address = ('127.0.0.1', self.f.port)
        done = threading.Event()
        connections = collections.Counter()
        errors = []

        def connect():
            import ZEO.ClientStorage
            while not done.is_set():
                try:
                    s = ZEO.ClientStorage.ClientStorage(
                        address, wait_timeout=30)
                    s.close()
                    connections['made'] += 1
                except Exception as e:  # pragma: no cover (told below)
                    errors.append(repr(e))
                    return

        def handshakes():
            total = 0
            files = 0
            for name in os.listdir(self.f.log):
                if not name.startswith('zeo-events.log'):
                    continue
                path = os.path.join(self.f.log, name)
                opener = gzip.open if name.endswith('.gz') else open
                with opener(path, 'rb') as f:
                    text = f.read().decode('utf-8', 'replace')
                total += text.count('received handshake')
                files += 1
            return total, files
        # Earlier tests' lines, in the files they left.
        before, files_before = handshakes()

        thread = threading.Thread(target=connect)
        thread.start()
        try:
            state = os.path.join(self.f.top, 'rotation.state')
            for n in range(4):
                made = connections['made']
                harness.wait_until(lambda: connections['made'] >= made + 5
                                   or errors, 60, what='connections')
                result = runas(None, [logrotate, '-f', '-s', state,
                                      self.f.logrotate])
                self.assertEqual(result.returncode, 0, result.stdout)
                self.assertNotIn('error', result.stdout.lower())
            made = connections['made']
            harness.wait_until(lambda: connections['made'] >= made + 5
                               or errors, 60, what='connections')
        finally:
            done.set()
            thread.join(60)
        self.assertEqual(errors, [])
        made = connections['made']
        talk.wait_for(lambda: handshakes()[0] - before >= made, 15)
        total, files = handshakes()
        self.assertEqual(total - before, made)
        self.assertGreaterEqual(files - files_before, 4)
        # The server writes into the new file: it was reopened.
        harness.commit(address, 'after', time.time())
        current = os.path.join(self.f.log, 'zeo-events.log')
        talk.wait_for(lambda: os.path.getsize(current) > 0, 15)
        self.assertGreater(os.path.getsize(current), 0)
        self.stop()

    # -- systemd and supervisor, their lines run verbatim ----------------

    def run_verbatim(self, argv, user, directory, umask, stdout=None):
        """argv as systemd or supervisord start it: as user (its group and
        groups), in directory, with umask.  Stopped at clean-up."""
        import grp
        import pwd
        record = pwd.getpwnam(user)
        groups = sorted(g.gr_gid for g in grp.getgrall()
                        if user in g.gr_mem)

        def become():
            os.setgid(record.pw_gid)
            os.setgroups(groups)
            os.setuid(record.pw_uid)
            os.umask(umask)
        process = subprocess.Popen(
            argv, cwd=directory, preexec_fn=become,
            stdout=stdout or subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.addCleanup(harness.terminate, [process.pid])
        self.addCleanup(process.wait)
        harness.wait_until(
            lambda: talk.probe(('127.0.0.1', self.f.port))
            or process.poll() is not None, 60, what='the server')
        self.assertIsNone(process.poll(), 'the server exited')
        self.assertTrue(talk.probe(('127.0.0.1', self.f.port)))
        self.assertEqual(process_user(process.pid), user)
        return process

    def assert_rotation_reopens(self, process):
        """Real logrotate -f with the generated file (its postrotate, as
        the service user, runs the rc script's logreopen, which finds
        runzeo run without zdaemon): the server then writes into the new
        event log, not into the rotated one."""
        logrotate = tools.require('logrotate')
        events = os.path.join(self.f.log, 'zeo-events.log')
        harness.commit(('127.0.0.1', self.f.port), 'before', 1)
        result = runas(None, [logrotate, '-f', '-s', os.path.join(
            self.f.top, 'unmanaged.state'), self.f.logrotate])
        self.assertEqual(result.returncode, 0, result.stdout)
        rotated = os.path.getsize(events + '.1')

        def new_handshakes():
            with open(events) as f:
                return f.read().count('received handshake')
        self.assertEqual(new_handshakes(), 0)
        harness.commit(('127.0.0.1', self.f.port), 'after', 2)
        self.assertTrue(talk.wait_for(new_handshakes, 15),
                        'the new event log has no line of the new client')
        self.assertEqual(os.path.getsize(events + '.1'), rotated)
        self.assertEqual(mode(events) & 0o007, 0)

    def unit(self):
        """{key: value} of the server unit's [Service] section."""
        found = {}
        section = None
        with open(self.f.unit) as f:
            for line in f:
                line = line.strip()
                if line.startswith('['):
                    section = line
                elif section == '[Service]' and '=' in line:
                    key, value = line.split('=', 1)
                    found[key] = value
        return found

    def test_systemd_unit_lines_verbatim(self):
        service = self.unit()
        self.assertEqual(service['User'], self.f.user)
        self.assertNotIn('ExecStop', service)  # KillSignal= stops it
        process = self.run_verbatim(
            shlex.split(service['ExecStart']), service['User'],
            service['WorkingDirectory'], int(service['UMask'], 8))
        self.assert_rotation_reopens(process)
        # ExecReload, as systemd runs it: as User=, $MAINPID the server's.
        events = os.path.join(self.f.log, 'zeo-events.log')
        os.rename(events, events + '.moved')
        reload = shlex.split(service['ExecReload'].replace(
            '$MAINPID', str(process.pid)))
        result = runas(service['User'], reload)
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertTrue(talk.wait_for(lambda: os.path.exists(events), 15),
                        'ExecReload did not reopen the event log')
        process.send_signal(getattr(signal, service['KillSignal']))
        self.assertEqual(process.wait(60), 0)

    def test_supervisor_program_lines_verbatim(self):
        with open(self.f.program) as f:
            program = dict(line.strip().split('=', 1) for line in f
                           if '=' in line)
        self.assertEqual(program['user'], self.f.user)
        with open(program['stdout_logfile'], 'ab') as log:
            process = self.run_verbatim(
                shlex.split(program['command']), program['user'],
                program['directory'], int(program['umask'], 8), stdout=log)
        self.assert_rotation_reopens(process)
        process.send_signal(getattr(signal, 'SIG' + program['stopsignal']))
        self.assertIn(str(process.wait(60)),
                      program['exitcodes'].split(','))


class BuildTimeAccessTests(unittest.TestCase):
    """Built as root for the service user: what that user cannot run or
    write, and a path runzeo would resolve elsewhere than the build does,
    are errors of the build, naming the path, and the previous
    installation is left as it was."""

    layer = ServiceUserLayer

    def setUp(self):
        self.f = ServiceUserLayer.fixture
        self.addCleanup(self.f.deployment.close)
        self.installed = self.snapshot()

    def snapshot(self):
        """The files the installation wrote, with their times."""
        found = {}
        for top in (os.path.join(self.f.deployment.deploy, 'etc'),
                    self.f.deployment.path('parts')):
            for d, dirs, names in os.walk(top):
                for n in names:
                    path = os.path.join(d, n)
                    with open(path, 'rb') as f:
                        found[path] = (os.stat(path).st_mtime_ns, f.read())
        self.assertIn(self.f.rc, found)
        return found

    def fails(self, zeo_conf, python=None):
        result = self.f.deployment.buildout(self.f.parts(zeo_conf),
                                            python=python)
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertEqual(self.snapshot(), self.installed)
        errors = [line for line in result.stdout.splitlines()
                  if line.startswith('Error:')]
        self.assertEqual(len(errors), 1, result.stdout)
        return errors[0]

    def test_an_interpreter_the_user_cannot_execute(self):
        import sys
        from zc.zodbrecipes.server import access
        account = access.Account(self.f.user)
        # The interpreter this test runs under (below /root, 0700 on these
        # machines): the first directory the user cannot search.
        base = getattr(sys, '_base_executable', sys.executable)
        closed = [p for p in access._walk(os.path.realpath(base))[:-1]
                  if not account.allowed(os.stat(p), access.X)]
        if not closed:
            self.skipTest('every user can run %s' % base)
        error = self.fails(service.server_zeo_conf('app', self.f.port),
                           python=sys.executable)
        self.assertIn('Error: [zeo] deployment: the user %s cannot execute '
                      % self.f.user, error)
        self.assertIn('%s is mode %04o, owner root' % (
            closed[0], mode(closed[0])), error)

    def test_a_data_directory_the_user_cannot_write(self):
        closed = os.path.join(self.f.top, 'root-only')
        os.mkdir(closed)
        os.chmod(closed, 0o755)
        self.addCleanup(os.rmdir, closed)
        conf = service.server_zeo_conf('app', self.f.port).replace(
            '${app:lib-directory}/zeo-Data.fs', closed + '/Data.fs')
        self.assertIn(closed, conf)
        error = self.fails(conf)
        self.assertEqual(
            error, 'Error: [zeo] zeo.conf: the user %s cannot write %s (%s'
            ' is mode 0755, owner root, group root): the server and its jobs'
            ' run as that user' % (self.f.user, closed, closed))
        # The user's group may write: the same directory is accepted.
        os.chown(closed, 0, self.f.account.gid)
        os.chmod(closed, 0o770)
        from zc.zodbrecipes.server import access
        self.assertIsNone(access.blocking(
            access.Account(self.f.user), closed, access.W | access.X))

    def test_eggs_the_user_cannot_read(self):
        from zc.zodbrecipes.server import access
        account = access.Account(self.f.user)
        closed = os.path.join(self.f.top, 'closed', 'some.egg')
        os.makedirs(closed)
        self.addCleanup(shutil.rmtree, os.path.dirname(closed))
        os.chmod(os.path.dirname(closed), 0o700)
        self.assertEqual(
            access.blocking(account, closed, access.R | access.X),
            '%s is mode 0700, owner root, group root'
            % os.path.dirname(closed))
        os.chmod(os.path.dirname(closed), 0o711)  # searchable, not listable
        self.assertIsNone(access.blocking(account, closed, access.R))
        os.chmod(closed, 0o700)
        self.assertEqual(
            access.blocking(account, closed, access.R),
            '%s is mode 0700, owner root, group root' % closed)


    def test_relative_paths_in_zeo_conf(self):
        """runzeo runs in the run directory; buildout elsewhere."""
        conf = service.server_zeo_conf('app', self.f.port)
        for old, key, new in [
                ('${app:lib-directory}/zeo-Data.fs', 'path', 'var/Data.fs'),
                ('${app:lib-directory}/zeo-blobs', 'blob-dir', 'blobs'),
                ('${app:log-directory}/zeo-events.log', 'path',
                 './events.log')]:
            self.assertIn(old, conf)
            text = '%define REL var\n\n' + conf.replace(old, new)
            line = [t.strip() for t in text.splitlines()].index(
                '%s %s' % (key, new)) + 1
            error = self.fails(text)
            self.assertEqual(
                error, 'Error: [zeo] zeo.conf: line %d %r: %s %s is a'
                ' relative path: the server runs in %s; give an absolute'
                ' path' % (line, '%s %s' % (key, new), key, new,
                           self.f.run))
        # A %define-d one too (the line as written).
        error = self.fails(conf.replace(
            '${app:lib-directory}/zeo-Data.fs', '$REL/Data.fs').replace(
            '<zeo>', '%define REL var\n<zeo>'))
        self.assertIn("path var/Data.fs is a relative path", error)


class ManagerDiesDuringStartTests(unittest.TestCase):
    """A second server part whose program waits, once spawned, until the
    test has killed the daemon manager (SIGKILL, as the OOM killer would:
    no clean-up of its own) after that manager told start runzeo's pid,
    and then becomes runzeo: start must fail, say so, and leave no runzeo
    that nothing supervises."""

    layer = ServiceUserLayer

    def setUp(self):
        self.f = ServiceUserLayer.fixture
        self.addCleanup(self.f.deployment.close)

    def test_start_fails_when_the_manager_dies(self):
        import textwrap
        f = self.f
        pids = os.path.join(f.top, 'wrapper-pids')
        os.mkdir(pids)
        os.chown(pids, f.account.uid, f.account.gid)
        self.addCleanup(shutil.rmtree, pids)
        go = os.path.join(pids, 'go')
        os.mkfifo(go, 0o600)
        os.chown(go, f.account.uid, f.account.gid)
        wrapper = os.path.join(f.top, 'wrapper')
        with open(wrapper, 'w') as out:
            out.write(textwrap.dedent('''\
                #!/bin/sh
                echo $$ > %(pids)s/runzeo.tmp
                mv %(pids)s/runzeo.tmp %(pids)s/runzeo
                echo $PPID > %(pids)s/manager.tmp
                mv %(pids)s/manager.tmp %(pids)s/manager
                read line < %(pids)s/go
                exec %(runzeo)s "$@"
                ''') % dict(pids=pids, runzeo=f.deployment.path(
                    'parts', 'zeo', 'runzeo')))
        os.chmod(wrapper, 0o755)
        self.addCleanup(os.remove, wrapper)
        port = service.free_port()
        part = f.parts(service.server_zeo_conf('app', port, 'zeo2')).replace(
            '[zeo]', '[zeo2]').replace(
            'pack = 0 3 * * sun 0\n', 'runzeo = %s\n' % wrapper)
        result = f.deployment.buildout(
            f.parts(service.server_zeo_conf('app', f.port)) + part,
            parts='app zeo zeo2')
        # Afterwards: the deployment as the other tests know it.
        self.addCleanup(f.build)
        self.assertEqual(result.returncode, 0, result.stdout)

        def written():
            found = []
            for name in ('runzeo', 'manager'):
                try:
                    with open(os.path.join(pids, name)) as p:
                        found.append(int(p.read()))
                except (OSError, ValueError):
                    pass
            return found
        self.addCleanup(lambda: harness.terminate(written()))
        rc = os.path.join(f.deployment.deploy, 'etc', 'init.d', 'app-zeo2')
        start = subprocess.Popen([rc, 'start'], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        self.addCleanup(lambda: start.poll() is None and start.kill())
        harness.wait_until(lambda: len(written()) == 2, 60,
                           what='the program spawned')
        runzeo, manager = written()

        def waiting():
            """The manager has reported runzeo's pid and waits (select)
            for start to let it load zdaemon."""
            with open('/proc/%d/wchan' % manager) as w:
                return any(word in w.read() for word in ('poll', 'select'))
        harness.wait_until(waiting, 30, what='the manager waiting')
        os.kill(manager, signal.SIGKILL)
        with open(go, 'w') as release:
            release.write('go\n')  # the program becomes runzeo
        out = start.communicate(timeout=300)[0]
        self.assertEqual(start.returncode, 1, out)
        self.assertIn('start failed, the daemon manager exited', out)
        self.assertNotIn('serving on', out)
        self.assertFalse(talk.alive(manager))
        # start stopped the runzeo nothing supervised.
        self.assertFalse(talk.alive(runzeo))
        self.assertFalse(talk.probe(('127.0.0.1', port)))
        status = runas(None, [rc, 'status'])
        self.assertNotEqual(status.returncode, 0, status.stdout)

    def test_start_fails_when_the_manager_cannot_load_its_configuration(
            self):
        """The manager loads zdaemon.conf once start has seen runzeo serve
        (wait_supervised); as the service user it cannot read it here: it
        stops its runzeo and exits, and start says why."""
        f = self.f
        conf = os.path.join(f.deployment.deploy, 'etc', 'app',
                            'zeo-zdaemon.conf')
        before = mode(conf)
        os.chmod(conf, 0o600)  # root's alone
        self.addCleanup(os.chmod, conf, before)
        events = os.path.join(f.log, 'zeo-events.log')

        def listening():
            try:
                with open(events) as e:
                    return e.read().count('listening on')
            except FileNotFoundError:  # the layer's first start
                return 0
        served = listening()
        status = runas(None, [f.rc, 'start'])
        self.assertEqual(status.returncode, 1, status.stdout)
        self.assertIn('start failed, the daemon manager exited',
                      status.stdout)
        self.assertIn('daemon manager could not start', status.stdout)
        self.assertIn('Permission denied', status.stdout)
        self.assertNotIn('serving on', status.stdout)
        # runzeo served (start then let the manager load zdaemon: within
        # manager.GRACE seconds, else it loads on its own) ...
        self.assertEqual(listening(), served + 1)
        # ... and is stopped.
        self.assertFalse(talk.query(f.socket))
        self.assertFalse(talk.probe(('127.0.0.1', f.port)))
        self.assertEqual(
            subprocess.run(['pgrep', '-u', f.user, '-f', 'runzeo'],
                           stdout=subprocess.PIPE).stdout, b'')


class RunzeoOfAnotherPartTests(unittest.TestCase):
    """3.1's way: runzeo comes from a zc.recipe.egg part and zeo.conf
    %imports a package of that part's eggs."""

    layer = ServiceUserLayer

    def setUp(self):
        self.f = ServiceUserLayer.fixture
        self.addCleanup(self.f.deployment.close)

    def test_zeo_conf_imports_from_the_runzeo_part(self):
        import textwrap
        f = self.f
        # A database of its own: its records are compressed.
        conf = service.server_zeo_conf('app', f.port, 'zlib')
        self.addCleanup(shutil.rmtree, f.lib + '/zlib-blobs', True)
        for suffix in ('', '.index', '.lock', '.tmp'):
            self.addCleanup(
                lambda p=f.lib + '/zlib-Data.fs' + suffix: os.path.exists(p)
                and os.remove(p))
        storage = conf[conf.index('<filestorage'):
                       conf.index('</filestorage>') + len('</filestorage>')]
        conf = '%import zc.zlibstorage\n' + conf.replace(
            storage, '<zlibstorage>\n' + storage + '\n</zlibstorage>')
        parts = textwrap.dedent('''
            [zodb]
            recipe = zc.recipe.egg:script
            eggs =
                ZEO
                zc.zlibstorage
            ''') + f.parts(conf).replace(
            'pack = 0 3 * * sun 0\n',
            'runzeo = ${buildout:bin-directory}/runzeo\n')
        runzeo = f.deployment.path('bin', 'runzeo')
        self.assertFalse(os.path.exists(runzeo))
        result = f.deployment.buildout(parts, parts='app zodb zeo')
        # Afterwards: the deployment as the other tests know it.
        self.addCleanup(f.build)
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertTrue(os.path.exists(runzeo))
        # The server runs that runzeo, with that storage.
        zdaemon_conf = os.path.join(f.deployment.deploy, 'etc', 'app',
                                    'zeo-zdaemon.conf')
        with open(zdaemon_conf) as z:
            self.assertIn('program %s -C ' % runzeo, z.read())
        status = runas(None, [f.rc, 'start'])
        self.assertEqual(status.returncode, 0, status.stdout)
        self.addCleanup(lambda: runas(None, [f.rc, 'stop']))
        harness.commit(('127.0.0.1', f.port), 'zlib', 1)
        found = talk.query(f.socket)
        with open('/proc/%s/cmdline' % found['application'], 'rb') as c:
            self.assertIn(runzeo.encode(), c.read())
        status = runas(None, [f.rc, 'stop'])
        self.assertEqual(status.returncode, 0, status.stdout)
