"""Fault and load tests: real servers, real clients, real faults.

Every test builds a sample buildout with the server recipe, runs the server
through the generated control script (zdaemon, runzeo) and puts it under
load from THREADS client threads, each with its own ZEO client, while
something goes wrong or is done to it: the server is killed with SIGKILL,
its logs are rotated, it is packed, stopped, or buildout runs again.

Only commits that returned count as committed: a client may see an error
for a transaction the server has written, never the other way round.

The measured figures are printed to stderr on lines starting with
``FIGURE:`` and collected in ``$TMPDIR/zc.zodbrecipes-faults.json``.
"""
import collections
import gzip
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import transaction
import ZODB.blob
import ZODB.FileStorage
import ZODB.fsIndex
import ZODB.scripts.fstest
import ZODB.utils
from BTrees.OOBTree import OOBTree
from persistent.mapping import PersistentMapping

from zc.zodbrecipes import talk
from zc.zodbrecipes.commands import Logs
from zc.zodbrecipes.tests import harness
from zc.zodbrecipes.tests import tools


THREADS = 8
FIGURES = os.path.join(tempfile.gettempdir(), 'zc.zodbrecipes-faults.json')
PROCESS_TIMEOUT = 180     # seconds any command we run may take at most


def figure(test, name, value):
    """Report a measured figure (stderr and the JSON file)."""
    print('FIGURE: %s %s = %s' % (test, name, value), file=sys.stderr)
    try:
        with open(FIGURES) as f:
            figures = json.load(f)
    except (OSError, ValueError):
        figures = {}
    figures.setdefault(test, {})[name] = value
    figures[test]['recorded'] = time.strftime('%Y-%m-%dT%H:%M:%S')
    tmp = FIGURES + '.%d.tmp' % os.getpid()
    with open(tmp, 'w') as f:
        json.dump(figures, f, indent=2, sort_keys=True)
    os.replace(tmp, FIGURES)


class Load:
    """THREADS client threads committing as fast as they can.

    Each thread has its own ZEO client and writes only to its own mapping
    (root['wN']), so threads never conflict with each other.  In ``cycle``
    mode a thread opens a new client (with a client label of its own) for
    every commit and closes it afterwards; otherwise it keeps one client.
    """

    def __init__(self, address, threads=THREADS, wait_timeout=30,
                 cycle=False, blob_root=None):
        self.address = address
        self.threads = threads
        self.wait_timeout = wait_timeout
        self.cycle = cycle
        self.blob_root = blob_root
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.committed = {}   # key: expected value, commits that returned
        self.returns = []     # (started, returned, tid) per returned commit
        self.errors = []      # (time, thread, error)
        self.labels = []      # labels of the clients that connected
        self.workers = []

    # -- clients ---------------------------------------------------------

    def open(self, label, blob_dir=None):
        kw = dict(wait_timeout=self.wait_timeout, client_label=label)
        if blob_dir:
            kw.update(blob_dir=blob_dir, shared_blob_dir=False)
        db = harness.open_db(self.address, **kw)
        with self.lock:
            self.labels.append(label)
        return db

    def blob_dir(self, name):
        if not self.blob_root:
            return None
        return os.path.join(self.blob_root, name)

    def prepare(self):
        """Create every thread's mapping (before start)."""
        db = self.open('conn-prepare', self.blob_dir('prepare'))
        try:
            tm = transaction.TransactionManager()
            conn = db.open(tm)
            root = conn.root()
            for t in range(self.threads):
                if 'w%d' % t not in root:
                    root['w%d' % t] = PersistentMapping(tree=OOBTree(), n=-1)
            tm.commit()
            conn.close()
        finally:
            db.close()

    def start(self):
        for t in range(self.threads):
            target = self.cycling if self.cycle else self.steady
            worker = threading.Thread(target=target, args=(t,),
                                      name='load-%d' % t, daemon=True)
            self.workers.append(worker)
            worker.start()

    def stop(self, timeout=None):
        """Stop the threads; return the names of those still running."""
        self.stopping.set()
        if timeout is None:
            timeout = self.wait_timeout + 30
        deadline = time.monotonic() + timeout
        for worker in self.workers:
            worker.join(max(0, deadline - time.monotonic()))
        return [w.name for w in self.workers if w.is_alive()]

    # -- what the threads do ---------------------------------------------

    def steady(self, t):
        db = None
        try:
            db = self.open('conn-%d' % t, self.blob_dir('w%d' % t))
            tm = transaction.TransactionManager()
            conn = db.open(tm)
            i = 0
            while not self.stopping.is_set():
                self.commit_one(t, i, conn, tm)
                i += 1
        except Exception as e:
            self.error(t, e)
        finally:
            if db is not None:
                _quietly(db.close)

    def cycling(self, t):
        i = 0
        while not self.stopping.is_set():
            try:
                db = self.open('conn-%d-%d' % (t, i),
                               self.blob_dir('w%d-%d' % (t, i)))
            except Exception as e:
                self.error(t, e)
                continue
            try:
                tm = transaction.TransactionManager()
                conn = db.open(tm)
                self.commit_one(t, i, conn, tm)
                conn.close()
            except Exception as e:
                self.error(t, e)
            finally:
                _quietly(db.close)
            i += 1

    def commit_one(self, t, i, conn, tm):
        key = 'w%d-%d' % (t, i)
        if self.blob_root and i % 5 == 0:
            data = ('blob of %s\n' % key).encode() * 200
            value, expected = ZODB.blob.Blob(data), ('blob', data)
        else:
            value = expected = 'value of %s' % key
        started = time.monotonic()
        try:
            tm.begin()
            mapping = conn.root()['w%d' % t]
            mapping['tree'][key] = value
            mapping['n'] = i
            tm.commit()
            tid = mapping._p_serial
        except Exception as e:
            _quietly(tm.abort)
            self.error(t, e)
            return False
        returned = time.monotonic()
        with self.lock:
            self.committed[key] = expected
            self.returns.append((started, returned, tid))
        return True

    def error(self, t, e):
        with self.lock:
            self.errors.append((time.monotonic(), t, repr(e)))
        # A client that cannot reach the server must not spin: pace the
        # retries (and stop waiting at once when the load is stopped).
        self.stopping.wait(0.05)

    # -- what the test asks ----------------------------------------------

    def count(self):
        with self.lock:
            return len(self.returns)

    def wait_commits(self, n, timeout=60):
        harness.wait_until(lambda: self.count() >= n, timeout,
                           what='%d commits (%d so far, errors: %s)' % (
                               n, self.count(), self.errors[-3:]))

    def returned_between(self, start, end):
        with self.lock:
            return sum(1 for s, r, _ in self.returns if start <= r <= end)

    def last_tid(self):
        with self.lock:
            return max(tid for _, _, tid in self.returns)

    def errors_before(self, moment):
        with self.lock:
            return [e for e in self.errors if e[0] < moment]


def _quietly(function):
    try:
        function()
    except Exception:
        pass


def missing_commits(address, committed, blob_dir=None):
    """Check every returned commit through a new client; return problems."""
    kw = {}
    if blob_dir:
        kw.update(blob_dir=blob_dir, shared_blob_dir=False)
    db = harness.open_db(address, **kw)
    problems = []
    try:
        conn = db.open()
        root = conn.root()
        for key, expected in sorted(committed.items()):
            tree = root[key.split('-')[0]]['tree']
            if key not in tree:
                problems.append('%s is missing' % key)
                continue
            value = tree[key]
            if isinstance(expected, tuple):
                with value.open('r') as f:
                    value = ('blob', f.read())
            if value != expected:
                problems.append('%s is %r, not %r' % (key, value, expected))
        conn.close()
    finally:
        db.close()
    return problems


def index_facts(data):
    """What Data.fs.index says about Data.fs.

    (position, tid of the last transaction it covers, tids of the complete
    transactions in the file after that position).  After a clean close
    the last list is normally empty; runzeo (ZEO 6.2) handles SIGTERM by
    raising SystemExit in the thread that runs the storage, which can
    interrupt FileStorage's tpc_finish after it marked the transaction
    committed on disk but before it moved its end position: the index is
    then saved without that transaction (whose client got an error), and
    the next start reads it from the file.
    """
    info = ZODB.fsIndex.fsIndex.load(data + '.index')
    pos = int(info['pos'])
    with open(data, 'rb') as f:
        f.seek(pos - 8)
        length = ZODB.utils.u64(f.read(8))
        f.seek(pos - 8 - length)
        covered = f.read(8)
    it = ZODB.FileStorage.FileIterator(data, pos=pos)
    try:
        after = [t.tid for t in it]
    finally:
        it.close()
    return pos, covered, after


def alive(pid):
    return bool(pid) and talk.alive(pid)


def start_time(pid):
    """When a process started (to tell it from a later one with its pid)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def tree_state(*tops):
    """{path: (mtime_ns, inode, size)} of every file below the tops."""
    state = {}
    for top in tops:
        for d, dirs, names in os.walk(top):
            for n in names:
                p = os.path.join(d, n)
                st = os.lstat(p)
                state[p] = (st.st_mtime_ns, st.st_ino, st.st_size)
    return state


class FaultTests(unittest.TestCase):

    def setUp(self):
        self.clock = time.monotonic()
        self.doc = _Doc()
        harness.setUp(self.doc)        # chdir()s into the sample buildout
        self.addCleanup(harness.tearDown, self.doc)
        self.sample = self.doc.globs['sample_buildout']
        self.base = os.path.dirname(self.sample)
        self.pids = {}    # pid: start time, of every process we saw
        self.loads = []
        # Cleanups run last in, first out: this one runs before the
        # buildout's tear-down, and stops the clients before the servers
        # and the servers gently before SIGKILL of any process left.
        self.addCleanup(self.stop_everything)
        # Disconnections are what these tests are about: the clients'
        # complaints would only fill the output (errors are recorded).
        for name in ('ZEO', 'ZODB', 'txn'):
            logger = logging.getLogger(name)
            self.addCleanup(logger.setLevel, logger.level)
            logger.setLevel(logging.CRITICAL + 1)
        self.port = harness.free_port()
        self.address = ('127.0.0.1', self.port)
        self.figure_name = self.id().rsplit('.', 1)[-1]

    def stop_everything(self):
        # The clients first (quick while their server is up), the servers,
        # then what is left of either.  Client threads are daemon threads:
        # one stuck in a wait cannot hang the test run.
        for load in self.loads:
            load.stopping.set()
        for load in self.loads:
            load.stop(timeout=5)
        harness.stop_servers(self.base)
        for pid, started in self.pids.items():
            if alive(pid) and start_time(pid) == started:
                _quietly(lambda: os.kill(pid, signal.SIGKILL))
        for load in self.loads:
            load.stop(timeout=5)
        figure(self.figure_name, 'test_seconds',
               round(time.monotonic() - self.clock, 2))

    def figure(self, name, value):
        figure(self.figure_name, name, value)

    # -- helpers -----------------------------------------------------------

    def command(self, argv, ok=True, timeout=PROCESS_TIMEOUT):
        """Run a command in the sample buildout; return (status, output)."""
        p = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout,
                           cwd=self.sample)
        out = p.stdout.decode('utf-8', 'replace')
        if ok:
            self.assertEqual(p.returncode, 0, '%s failed (exit status %s):\n%s'
                             % (' '.join(argv), p.returncode, out))
        return p.returncode, out

    def buildout(self, config):
        with open(os.path.join(self.sample, 'buildout.cfg'), 'w') as f:
            f.write(config)
        return self.command([os.path.join(self.sample, 'bin', 'buildout')])[1]

    def signature(self, part):
        """The recipe signature buildout recorded for a part."""
        section = None
        with open(os.path.join(self.sample, '.installed.cfg')) as f:
            for line in f:
                m = re.match(r'\[(.+)\]\s*$', line)
                if m:
                    section = m.group(1)
                elif section == part and line.startswith(
                        '__buildout_signature__ ='):
                    return line.split('=', 1)[1].strip()

    def status(self, sock):
        """zdaemon's status (dict); remembers the pids for the clean-up."""
        status = talk.query(sock) or {}
        for key in ('application', 'manager'):
            pid = int(status.get(key, 0) or 0)
            if pid and pid not in self.pids:
                self.pids[pid] = start_time(pid)
        return status

    def pids_of(self, sock):
        status = self.status(sock)
        return (int(status.get('manager', 0) or 0),
                int(status.get('application', 0) or 0))

    def start(self, control, sock):
        status, out = self.command([control, 'start'])
        self.assertIn('serving on 127.0.0.1:%d' % self.port, out)
        manager, server = self.pids_of(sock)
        self.assertTrue(alive(manager) and alive(server), out)
        return manager, server

    def load(self, **kw):
        load = Load(self.address, **kw)
        self.loads.append(load)
        load.prepare()
        load.start()
        return load

    def stop_load(self, load):
        still = load.stop()
        self.assertEqual(still, [], 'client threads did not stop')

    def assert_gone(self, *pids):
        harness.wait_until(lambda: not any(alive(p) for p in pids), 30,
                           what='processes %s to exit' % (pids,))

    # -- configurations ------------------------------------------------------

    def plain_config(self, extra=''):
        return '\n'.join([
            '[buildout]',
            'parts = server',
            '',
            '[server]',
            'recipe = zc.zodbrecipes:server',
            'zeo-address = 127.0.0.1:%d' % self.port,
            'blob-storage =',
            extra,
            ''])

    def deployment_config(self):
        import pwd
        me = pwd.getpwuid(os.getuid()).pw_name
        fmt = 'format %(asctime)s %(levelname)s %(name)s %(message)s'
        return '\n'.join([
            '[buildout]',
            'parts = app zeo',
            '',
            '[app]',
            'recipe = zc.recipe.deployment',
            'prefix = ${buildout:directory}/deploy',
            'user = %s' % me,
            'etc-user = %s' % me,
            '',
            '[zeo]',
            'recipe = zc.zodbrecipes:server',
            'deployment = app',
            'zeo.conf =',
            '   <zeo>',
            '     address 127.0.0.1:%d' % self.port,
            '   </zeo>',
            '   <filestorage 1>',
            '     path ${app:lib-directory}/Data.fs',
            '     blob-dir ${app:lib-directory}/blobs',
            '   </filestorage>',
            '   <eventlog>',
            '     <logfile>',
            '       path ${app:log-directory}/zeo-events.log',
            '       ' + fmt,
            '     </logfile>',
            '     <logfile>',
            '       path STDOUT',
            '       ' + fmt,
            '     </logfile>',
            '   </eventlog>',
            'pack = 0 3 * * sun 0',
            ''])

    def deployment_paths(self):
        deploy = os.path.join(self.sample, 'deploy')
        return dict(
            control=os.path.join(deploy, 'etc', 'init.d', 'app-zeo'),
            sock=os.path.join(deploy, 'var', 'run', 'app',
                              'zeo-zdaemon.sock'),
            log=os.path.join(deploy, 'var', 'log', 'app'),
            lib=os.path.join(deploy, 'var', 'lib', 'app'),
            logrotate=os.path.join(deploy, 'etc', 'logrotate.d', 'app-zeo'),
            pack=os.path.join(deploy, 'etc', 'cron.d', 'pack-app-zeo'),
        )

    # -- the tests ---------------------------------------------------------

    def kill_9(self, load, sock, logs):
        """SIGKILL to runzeo; wait until zdaemon has started a new one and
        a commit begun after the old one died has returned.  Return the
        new pid and the figures."""
        manager, server = self.pids_of(sock)
        status = self.status(sock)
        age = float(status['now']) - float(status['lasttime'])
        before = load.count()
        killed_at = time.monotonic()
        os.kill(server, signal.SIGKILL)
        harness.wait_until(lambda: not alive(server), 10, 0.001,
                           what='runzeo to die')
        dead_at = time.monotonic()

        def new_server():
            m, s = self.pids_of(sock)
            return s not in (0, server) and talk.probe(self.address)
        harness.wait_until(new_server, 60, 0.005,
                           what='zdaemon to restart runzeo')
        answering_at = time.monotonic()

        # A commit that began after the old server was dead was served by
        # the new one.
        def served_again():
            with load.lock:
                return [r for s, r, _ in load.returns if s > dead_at]
        harness.wait_until(served_again, 60,
                           what='a commit served by the new server')
        committed_at = min(served_again())
        new_manager, new_server_pid = self.pids_of(sock)
        self.assertEqual(new_manager, manager, 'zdaemon itself restarted')
        self.assertNotIn(new_server_pid, (0, server))
        backoff = re.search(r'sleep (\d+) to avoid rapid restarts',
                            logs.new_text())
        return new_server_pid, dict(
            server_age_seconds=round(age, 1),
            commits_before_kill=before,
            seconds_kill_to_server_answering=round(
                answering_at - killed_at, 3),
            seconds_kill_to_first_commit=round(committed_at - killed_at, 3),
            zdaemon_backoff_seconds=int(backoff.group(1)) if backoff else 0)

    def test_kill_9_under_load(self):
        """SIGKILL to runzeo while 8 clients commit, twice: zdaemon
        restarts it and every commit that returned is there."""
        self.buildout(self.plain_config())
        control = os.path.join(self.sample, 'bin', 'server')
        sock = os.path.join(self.sample, 'var', 'run', 'server-zdaemon.sock')
        transcript = os.path.join(self.sample, 'var', 'log', 'server.log')
        manager, server = self.start(control, sock)
        load = self.load(wait_timeout=60)

        # First a server that has been up longer than zdaemon's
        # backoff-limit (a crash in production: restarted at once)...
        def established():
            status = self.status(sock)
            return (float(status['now']) - float(status['lasttime'])
                    > float(status['backofflimit']) + 0.5)
        harness.wait_until(established, 60, 0.1,
                           what='the server to run for backoff-limit')
        load.wait_commits(300)
        first_kill = time.monotonic()
        logs = Logs([transcript])
        server, established_figures = self.kill_9(load, sock, logs)
        load.wait_commits(load.count() + 200)
        # ... then, at once, the new one (zdaemon backs off).
        logs = Logs([transcript])
        server, young_figures = self.kill_9(load, sock, logs)
        load.wait_commits(load.count() + 200)
        self.stop_load(load)

        self.assertEqual(load.errors_before(first_kill), [],
                         'client errors before the kill')
        problems = missing_commits(self.address, load.committed)
        self.assertEqual(problems, [], '%d of %d returned commits lost' % (
            len(problems), len(load.committed)))

        for name, value in established_figures.items():
            self.figure('established_' + name, value)
        for name, value in young_figures.items():
            self.figure('young_' + name, value)
        self.figure('commits_total', len(load.committed))
        self.figure('client_errors_after_kills', len(load.errors))

        self.command([control, 'stop'])
        self.assert_gone(manager, server)

    def test_stop_under_load(self):
        """bin/server stop while 8 clients commit: the index is written, the
        next start does not rebuild it, nothing that returned is lost."""
        self.buildout(self.plain_config())
        control = os.path.join(self.sample, 'bin', 'server')
        sock = os.path.join(self.sample, 'var', 'run', 'server-zdaemon.sock')
        transcript = os.path.join(self.sample, 'var', 'log', 'server.log')
        data = os.path.join(self.sample, 'var', 'filestorage', 'Data.fs')
        index = data + '.index'
        manager, server = self.start(control, sock)

        load = self.load(wait_timeout=3)
        load.wait_commits(400)
        index_before = os.stat(index).st_mtime_ns   # from the creation
        logs = Logs([transcript])
        stop_at = time.monotonic()
        status, out = self.command([control, 'stop'])
        stopped_in = time.monotonic() - stop_at
        self.assertIn('stopped', out)
        self.assertEqual(self.pids_of(sock), (0, 0))
        self.assert_gone(manager, server)
        during_stop = load.returned_between(stop_at, time.monotonic())
        self.stop_load(load)
        self.assertEqual(load.errors_before(stop_at), [])
        self.assertGreaterEqual(len(load.committed), 400)
        stop_log = logs.new_text()

        # The index was written at the close, after the last write to
        # Data.fs, and covers every commit that returned.
        st_index, st_data = os.stat(index), os.stat(data)
        self.assertGreater(st_index.st_mtime_ns, index_before,
                           'the stop did not write the index')
        self.assertGreaterEqual(st_index.st_mtime_ns, st_data.st_mtime_ns)
        pos, covered, after = index_facts(data)
        self.assertGreaterEqual(covered, load.last_tid(),
                                'a returned commit is not in the index')
        # At most the transaction whose tpc_finish the SIGTERM interrupted
        # (only one at a time holds the commit lock; see index_facts).
        self.assertLessEqual(len(after), 1, 'the index is stale')
        fs = ZODB.FileStorage.FileStorage(data, read_only=True)
        try:
            used_index = fs._used_index
        finally:
            fs.close()
        self.assertEqual(used_index, 1, 'FileStorage ignored the index')

        # The next start uses the index as it is.
        logs = Logs([transcript])
        mtime = os.stat(index).st_mtime_ns
        manager, server = self.start(control, sock)
        text = logs.new_text()
        self.assertNotIn('Ignoring index', text)
        self.assertNotIn('loading index', text)
        self.assertEqual(os.stat(index).st_mtime_ns, mtime,
                         'the start wrote the index again')
        problems = missing_commits(self.address, load.committed)
        self.assertEqual(problems, [], '%d of %d returned commits lost' % (
            len(problems), len(load.committed)))
        self.command([control, 'stop'])
        self.assert_gone(manager, server)
        ZODB.scripts.fstest.check(data)   # raises FormatError

        self.figure('commits_before_stop', len(load.committed))
        self.figure('commits_returned_during_stop', during_stop)
        self.figure('client_errors_after_stop', len(load.errors))
        self.figure('seconds_to_stop', round(stopped_in, 3))
        # Transactions on disk beyond the index (see index_facts).
        self.figure('transactions_after_index', len(after))
        self.figure('failure_in_finish_logged',
                    'Failure in _finish' in stop_log)

    def test_buildout_while_running(self):
        """buildout runs while the server serves: a run without change
        touches nothing; a change applies at the next restart only."""
        self.buildout(self.plain_config('transaction-timeout = 300'))
        control = os.path.join(self.sample, 'bin', 'server')
        sock = os.path.join(self.sample, 'var', 'run', 'server-zdaemon.sock')
        transcript = os.path.join(self.sample, 'var', 'log', 'server.log')
        zeo_conf = os.path.join(self.sample, 'parts', 'server', 'zeo.conf')
        tops = [os.path.join(self.sample, d) for d in ('parts', 'bin')]
        manager, server = self.start(control, sock)
        load = self.load(wait_timeout=30)
        load.wait_commits(100)

        # No change: nothing rewritten, the server untouched.  (Buildout
        # reinstalls a part when the recipe's develop egg changed, which
        # its source directory being edited meanwhile does: then again.)
        for attempt in range(1, 4):
            signature = self.signature('server')
            before = tree_state(*tops)
            out = self.buildout(self.plain_config(
                'transaction-timeout = 300'))
            if self.signature('server') == signature:
                break
        else:
            self.fail('the recipe kept changing during the test')
        self.assertIn('Updating server.', out)
        self.assertNotIn('Installing server', out)
        after = tree_state(*tops)
        changed = sorted(p for p in set(before) | set(after)
                         if before.get(p) != after.get(p))
        self.assertEqual(changed, [], 'files rewritten by a no-op run')
        self.assertEqual(self.pids_of(sock), (manager, server))

        def handshakes_since(logs):
            """The log lines of new client handshakes since logs."""
            return [line for line in logs.new_text().splitlines()
                    if 'received handshake' in line]

        # A change: written, but the running server goes on as it was.
        marker = 'CHANGED-FORMAT'
        changed_config = self.plain_config(
            'transaction-timeout = 120\n'
            'zeo-log-format = %s %%(levelname)s %%(name)s %%(message)s'
            % marker)
        count = load.count()
        out = self.buildout(changed_config)
        self.assertIn('Installing server.', out)
        with open(zeo_conf) as f:
            conf = f.read()
        self.assertIn('transaction-timeout 120', conf)
        self.assertIn(marker, conf)
        self.assertEqual(self.pids_of(sock), (manager, server))
        load.wait_commits(count + 100)
        logs = Logs([transcript])
        harness.commit(self.address, 'after-change', 1)
        harness.wait_until(lambda: handshakes_since(logs), 10,
                           what='the handshake in the log')
        old_format = handshakes_since(logs)
        self.assertFalse(any(marker in line for line in old_format),
                         old_format)
        restart_at = time.monotonic()
        self.assertEqual(load.errors_before(restart_at), [])

        # The operator restarts: the change is in effect.
        status, out = self.command([control, 'restart'])
        self.assertIn('serving on', out)
        new_manager, new_server = self.pids_of(sock)
        self.assertNotEqual(new_server, server)
        self.assertTrue(alive(new_server))
        self.assert_gone(server)
        logs = Logs([transcript])
        harness.commit(self.address, 'after-restart', 2)
        self.assertEqual(harness.read(self.address, 'after-restart'), 2)
        harness.wait_until(lambda: handshakes_since(logs), 10,
                           what='the handshake in the log')
        new_format = handshakes_since(logs)
        self.assertTrue(all(line.startswith(marker + ' INFO ')
                            for line in new_format), new_format)
        count = load.count()
        load.wait_commits(count + 50)
        self.stop_load(load)
        problems = missing_commits(self.address, load.committed)
        self.assertEqual(problems, [])

        self.figure('commits', len(load.committed))
        self.figure('client_errors_during_restart', len(load.errors))
        self.figure('files_compared', len(before))
        self.figure('no_change_runs', attempt)
        self.command([control, 'stop'])
        self.assert_gone(manager, new_manager, new_server)

    def test_log_rotation_under_load(self):
        """logrotate -f and renaming + logreopen, alternately every second
        or so while clients connect and commit: every log line is in
        exactly one file."""
        logrotate = tools.require('logrotate')
        self.buildout(self.deployment_config())
        p = self.deployment_paths()
        manager, server = self.start(p['control'], p['sock'])
        state = os.path.join(self.sample, 'logrotate.state')
        events, transcript = 'zeo-events.log', 'zeo-zeo.log'

        load = self.load(wait_timeout=30, cycle=True)
        rotations = collections.Counter()
        for n in range(8):
            # About a second apart, with new connections in every file.
            labels = len(load.labels)
            not_before = time.monotonic() + 1.0
            harness.wait_until(
                lambda: (time.monotonic() >= not_before
                         and len(load.labels) >= labels + 10), 60,
                what='new connections')
            if n % 2 == 0:
                status, out = self.command(
                    [logrotate, '-s', state, '-f', p['logrotate']])
                self.assertNotIn('error', out.lower())
                rotations['logrotate'] += 1
            else:
                for name in (events, transcript):
                    os.rename(os.path.join(p['log'], name),
                              os.path.join(p['log'], '%s.moved-%d' % (
                                  name, n)))
                self.command([p['control'], 'logreopen'])
                rotations['logreopen'] += 1
        labels = len(load.labels)
        harness.wait_until(lambda: len(load.labels) >= labels + 10, 60,
                           what='connections after the last rotation')
        self.stop_load(load)
        self.assertEqual(load.errors, [])
        expected = set(load.labels)

        def read_logs(prefix):
            texts = {}
            for name in sorted(os.listdir(p['log'])):
                if not name.startswith(prefix):
                    continue
                path = os.path.join(p['log'], name)
                opener = gzip.open if name.endswith('.gz') else open
                with opener(path, 'rb') as f:
                    texts[name] = f.read().decode('utf-8', 'replace')
            return texts

        disconnected = re.compile(
            r'\((conn-[\d-]+|conn-prepare) [^)]*\) disconnected$')

        def tally(prefix):
            texts = read_logs(prefix)
            handshakes = sum(t.count('received handshake')
                             for t in texts.values())
            labels = collections.Counter(
                m.group(1) for t in texts.values()
                for line in t.splitlines()
                for m in [disconnected.search(line)] if m)
            reopened = sum(t.count('Log files reopened successfully')
                           for t in texts.values())
            return texts, handshakes, labels, reopened

        for prefix in (events, transcript):
            # The server logs a disconnection shortly after the client
            # went: wait for the last ones.
            talk.wait_for(lambda: tally(prefix)[1:3] == (
                len(expected), collections.Counter(expected)), 15)
            texts, handshakes, labels, reopened = tally(prefix)
            self.assertGreaterEqual(len(texts), 9, sorted(texts))
            self.assertEqual(handshakes, len(expected), prefix)
            duplicated = sorted(k for k, v in labels.items() if v > 1)
            self.assertEqual(duplicated, [], prefix + ': duplicated lines')
            self.assertEqual(sorted(expected - set(labels)), [],
                             prefix + ': lost lines')
            self.assertEqual(sorted(set(labels) - expected), [])
            # Each rotated file got lines: the rotations happened under
            # load, not before or after it.
            empty = sorted(n for n, t in texts.items()
                           if 'disconnected' not in t)
            self.assertEqual(empty, [], prefix + ': files without lines')
            self.assertEqual(reopened, sum(rotations.values()))
            self.figure('files_' + prefix, len(texts))
            self.figure('disconnect_lines_' + prefix, sum(labels.values()))
            self.figure('handshake_lines_' + prefix, handshakes)
            self.figure('log_lines_' + prefix, sum(
                len(t.splitlines()) for t in texts.values()))

        self.assertEqual(self.pids_of(p['sock']), (manager, server))
        problems = missing_commits(self.address, load.committed)
        self.assertEqual(problems, [])
        self.figure('connections', len(expected))
        self.figure('commits', len(load.committed))
        self.figure('rotations_logrotate', rotations['logrotate'])
        self.figure('rotations_rename_logreopen', rotations['logreopen'])
        self.command([p['control'], 'stop'])
        self.assert_gone(manager, server)

    def test_pack_under_load(self):
        """The generated cron.d pack job, run as cron runs it, while 8
        clients commit (with blobs): exit status 0, no client error, all
        data there."""
        tools.require('flock')
        self.buildout(self.deployment_config())
        p = self.deployment_paths()
        manager, server = self.start(p['control'], p['sock'])
        blobs = os.path.join(self.sample, 'client-blobs')
        load = self.load(wait_timeout=30, blob_root=blobs)
        load.wait_commits(300)

        with open(p['pack']) as f:
            commands = [line.split(None, 6)[6].rstrip('\n') for line in f
                        if line.strip() and not line.startswith('#')
                        and not line.startswith('MAILTO=')]
        self.assertEqual(len(commands), 1, commands)
        old = os.path.join(p['lib'], 'Data.fs.old')
        logs = Logs([os.path.join(p['log'], 'zeo-events.log')])
        during, seconds = [], []
        for round_ in range(2):
            count = load.count()
            load.wait_commits(count + 100)
            began, wall = time.monotonic(), time.time()
            status, out = self.command(['sh', '-c', commands[0]], ok=False)
            ended = time.monotonic()
            self.assertEqual(status, 0, out)
            # The pack renamed Data.fs to Data.fs.old (again).
            self.assertGreaterEqual(os.stat(old).st_ctime, int(wall))
            during.append(load.returned_between(began, ended))
            seconds.append(round(ended - began, 3))
        load.wait_commits(load.count() + 100)
        self.stop_load(load)
        self.assertEqual(load.errors, [])
        # Commits went on while the pack jobs ran.
        self.assertTrue(all(during), during)
        harness.wait_until(
            lambda: logs.new_text().count(') complete') >= 2, 10,
            what='the packs in the log')
        self.assertEqual(logs.new_text().count('pack(time='), 4)

        problems = missing_commits(self.address, load.committed,
                                   os.path.join(blobs, 'check'))
        self.assertEqual(problems, [], '%d of %d returned commits lost' % (
            len(problems), len(load.committed)))
        self.assertEqual(self.pids_of(p['sock']), (manager, server))
        self.command([p['control'], 'stop'])
        self.assert_gone(manager, server)
        ZODB.scripts.fstest.check(os.path.join(p['lib'], 'Data.fs'))

        self.figure('commits', len(load.committed))
        self.figure('blob_commits', sum(
            1 for v in load.committed.values() if isinstance(v, tuple)))
        self.figure('commits_during_pack_jobs', during)
        self.figure('pack_job_seconds', seconds)


class _Doc:
    """What harness.setUp needs of a doctest: a namespace."""

    def __init__(self):
        self.globs = {}


def test_suite():
    return unittest.defaultTestLoader.loadTestsFromTestCase(FaultTests)
