"""Server parts built by our recipe, side by side with the peers.

Run as ``benchmarks/run [--quick] [--rounds N] [--pairs N] [--instructions]
[--instructions-only] [--json FILE] [--keep]`` (not part of the test
suite).  In one run, on this machine, it builds and
drives ZEO server parts made by

- ``ours``: this checkout's ``zc.zodbrecipes:server``, built as a wheel
  and installed by buildout into an eggs directory, as users get it (a
  develop egg would make buildout hash the source tree for every part);
- ``zc.zodbrecipes 3.1`` and ``plone.recipe.zeoserver 4.0.1`` from PyPI;
- each of these three run by its own buildout from its own scratch venv
  and eggs directory under the cache directory (see PEER_TOOLS and PEERS
  below);
- ``runzeo direct``: runzeo started by hand on an equivalent zeo.conf.

All four serve one FileStorage (no blobs) on 127.0.0.1 with ZEO, ZODB,
zdaemon and ZConfig at the versions this checkout's buildout uses: the
peers' buildouts are pinned to exactly those (read from ``bin/py``'s
working set at run time), with allow-picked-versions = false.

Figures, each measured once per round, rounds interleaved (3.1, plone,
ours, direct, then again); medians with min-max:

1. ``bin/server start`` invoked -> it returned.
2. ``start`` invoked (direct: runzeo spawned) -> a ZEO client commit
   succeeded.  Measured in the same run as 1: while ``start`` runs, this
   process polls every 5 ms (POLL) with a TCP connection that waits for
   the ZEO server's protocol announcement; when one comes, it commits
   through a fresh ``ZEO.DB`` (and goes on polling if that fails).  The
   same poller for everyone.
3. the same with a 200 MB FileStorage (200 records of 1 MB, made once per
   run with its index, copied into place before each start).
4. ``bin/server stop`` invoked -> it returned.
5. ``stop`` invoked (direct: SIGTERM sent) -> the runzeo process is gone
   (pid polled every 5 ms; a zombie counts as gone).
6. ``kill -9`` of runzeo -> a client commit succeeded (the same poller),
   once zdaemon restarted it.  Killed only after runzeo has run longer
   than zdaemon's backoff-limit, so that zdaemon restarts at once.
7. install cost per server part: a fresh buildout (no bin/, parts/, var/,
   .installed.cfg) with 1 server part and one with 50, (t50 - t1) / 49;
   also in CPU time (user + sys of the buildout process), which other
   work on the machine disturbs less than the elapsed time.
   With --instructions (needs valgrind, ~10 min more), the same in
   instructions executed (callgrind's Ir, PYTHONHASHSEED=0), which does
   not depend on the machine's load at all, once per candidate, and:
   - buildout alone: the candidate's buildouts with each server part's
     recipe replaced by a do-nothing recipe (built once, a wheel in the
     cache) that has the candidate's requirements - what buildout itself
     spends per part on a recipe with that dependency tree;
   - the candidate's buildouts run by zc.buildout 6.0.1 patched with
     zc.buildout-per-run-caches.patch (a proposal for zc.buildout: the
     recipe's requirements resolved and .installed.cfg sections rendered
     once per run instead of once per part).
8. a no-op buildout run on the 50-part buildout: files under bin/ and
   parts/ whose mtime or content changed (or that appeared or vanished),
   per part; and parts reinstalled (buildout's "Installing sNN." lines).
9. a no-op buildout run with one server part, and one with none (the same
   buildout section, no parts; zc.zodbrecipes 3.1's runzeo part stays).

Besides, per round, --pairs times (3; 2 with --quick): ours' start and
runzeo direct's start run back to back (alternating which comes first),
and the ratio of ours' ``start`` returning to direct's first commit is
recorded: the start target is judged on the median of these ratios, as
this machine's speed drifts more between rounds than within a pair.

Fairness: every candidate runs under the same Python (this checkout's
base interpreter), with the same environment less PYTHONDONTWRITEBYTECODE
(so that, after the warm-up round, every candidate's modules are imported
from bytecode, as in a real deployment) and less PYTHONPATH.  Buildouts run with -U (no user
defaults).  plone.recipe.zeoserver's parts get their own socket-name and
zeopack/repozo script names (its defaults are shared by all parts of a
buildout).  A warm-up round (unmeasured) comes first.

Every process started is stopped in a finally clause and at exit; anything
left whose command line names this run's scratch directory is killed by
pid.  The scratch directory is a temporary directory outside the
checkout, removed at the end unless --keep.
"""
import argparse
import atexit
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import transaction
import ZEO

from zc.zodbrecipes import talk
from zc.zodbrecipes.tests import harness

here = os.path.dirname(os.path.abspath(__file__))
checkout = os.path.dirname(here)
CACHE = os.environ.get('ZC_ZODBRECIPES_BENCH_CACHE') or os.path.join(
    here, '.cache')

POLL = 0.005            # seconds between polls, for every candidate
TIMEOUT = 120           # no single wait may take longer
PARTS = 50              # server parts in the install-cost buildout
BIG = 200               # the large FileStorage: BIG records of 1 MB

# The peers' scratch venvs.  Both peers run with zc.buildout 6.0.1 (the
# version this checkout's buildout uses) but need pkg_resources, which
# setuptools removed in 82: setuptools 81.0.0 is the last one with it.
PEER_TOOLS = ['zc.buildout==6.0.1', 'setuptools==81.0.0', 'pip==25.3']
PEERS = [
    # key, label, distribution, version, extra pins for its buildout
    ('zc31', 'zc.zodbrecipes 3.1', 'zc.zodbrecipes', '3.1', {}),
    ('plone', 'plone.recipe.zeoserver 4.0.1', 'plone.recipe.zeoserver',
     '4.0.1', {'ZopeUndo': '6.1'}),
]
ORDER = ['zc31', 'plone', 'ours', 'direct']
MANAGED = ['zc31', 'plone', 'ours']

for _name in ('ZEO', 'ZODB', 'txn'):
    logging.getLogger(_name).setLevel(logging.CRITICAL)


def now():
    return time.perf_counter()


def say(*args):
    print(*args, file=sys.stderr, flush=True)


class Failed(Exception):
    pass


# -- the environment the candidates share ------------------------------------

def closure(names):
    """{distribution name: Distribution} for names and what they require,
    as installed for this interpreter (bin/py)."""
    found = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        key = dist.metadata['Name']
        if key in found:
            continue
        found[key] = dist
        for req in dist.requires or ():
            if 'extra ==' in req:
                continue
            todo.append(re.match(r'\s*([A-Za-z0-9_.\-]+)', req).group(1))
    return found


SHARED = closure(['ZEO', 'ZODB', 'zdaemon', 'ZConfig', 'zc.recipe.egg'])
SHARED.pop('setuptools', None)
SHARED_PINS = {name: d.version for name, d in sorted(SHARED.items())}


def checkout_version():
    """The checkout's commit, '+' when src/ has uncommitted changes."""
    try:
        head = subprocess.run(
            ['git', '-C', checkout, 'rev-parse', '--short', 'HEAD'],
            capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(
            ['git', '-C', checkout, 'status', '--porcelain', 'src', 'setup.py'],
            capture_output=True, text=True).stdout.strip()
    except OSError:
        return 'unknown'
    return (head or 'unknown') + ('+' if dirty else '')


def base_python():
    return getattr(sys, '_base_executable', None) or sys.executable


def clean_env():
    env = dict(os.environ)
    for key in list(env):
        if key.startswith('ZC_ZODBRECIPES') or key in (
                'PYTHONPATH', 'SUPERVISOR_ENABLED', 'PYTHONSTARTUP',
                'PYTHONDONTWRITEBYTECODE'):
            del env[key]
    return env


ENV = clean_env()


def run(cmd, log=None, check=True, env=None, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=env or ENV, **kw)
    out = p.stdout.decode('utf-8', 'replace')
    if log:
        with open(log, 'a') as f:
            f.write('$ %s\n%s' % (' '.join(cmd), out))
    if check and p.returncode:
        raise Failed('%s exited %s:\n%s' % (
            ' '.join(cmd), p.returncode, out[-3000:]))
    return p.returncode, out


def buildout_cmd(script, directory):
    return [script, '-U', '-c', os.path.join(directory, 'buildout.cfg')]


# What a cache entry (a venv, eggs, a wheel) was made from, in its
# root's stamp.json: made again when that changes.

def stamped(root, wanted):
    try:
        with open(os.path.join(root, 'stamp.json')) as f:
            return json.load(f) == wanted
    except (OSError, ValueError):
        return False


def write_stamp(root, wanted):
    with open(os.path.join(root, 'stamp.json'), 'w') as f:
        json.dump(wanted, f, indent=1, sort_keys=True)


def remove_eggs(eggs, prefix):
    """Remove installed eggs whose names start with prefix (so that
    buildout installs the new build of a distribution of that name)."""
    for top, dirs, files in os.walk(eggs):
        for d in list(dirs):
            if d.startswith(prefix):
                shutil.rmtree(os.path.join(top, d))
                dirs.remove(d)


# -- processes -----------------------------------------------------------------

# The control script's own helpers: is a process there (a zombie is not),
# and zdaemon's status from its socket.
alive = talk.alive


def zd_status(sock_path):
    return talk.query(sock_path, timeout=5)


def processes_under(directory):
    """pids of processes whose command line names directory."""
    pids = []
    me = os.getpid()
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                cmdline = f.read().replace(b'\0', b' ').decode(
                    'utf-8', 'replace')
        except OSError:
            continue
        if directory in cmdline:
            pids.append(int(entry))
    return pids


def kill_all(pids, grace=10):
    harness.terminate(pids, grace)


# -- ZEO client side -----------------------------------------------------------

def announces(address, timeout=1.0):
    """Does a ZEO server at address send its protocol announcement?"""
    return talk.probe(address, timeout)


def commit(address):
    try:
        db = ZEO.DB(address, wait_timeout=5)
    except Exception:
        return False
    try:
        tm = transaction.TransactionManager()
        conn = db.open(tm)
        conn.root()['bench'] = time.time()
        tm.commit()
        conn.close()
        return True
    except Exception:
        return False
    finally:
        db.close()


def wait_commit(address, t0, why):
    """Poll every POLL s until a client commit succeeds; seconds from t0."""
    deadline = t0 + TIMEOUT
    while now() < deadline:
        if announces(address) and commit(address):
            return now() - t0
        time.sleep(POLL)
    raise Failed('no commit to %s:%s within %ss (%s)' % (
        address + (TIMEOUT, why)))


class Waiter(threading.Thread):
    """Waits for a process; remembers when it returned, from t0."""

    def __init__(self, proc, t0, log):
        threading.Thread.__init__(self, daemon=True)
        self.proc, self.t0, self.log, self.elapsed = proc, t0, log, None
        self.start()

    def run(self):
        self.proc.wait()
        self.elapsed = now() - self.t0

    def result(self, what):
        self.join(TIMEOUT)
        if self.elapsed is None:
            raise Failed('%s did not return within %ss' % (what, TIMEOUT))
        if self.proc.returncode:
            with open(self.log, 'rb') as f:
                out = f.read()[-2000:].decode('utf-8', 'replace')
            raise Failed('%s exited %s: %s' % (
                what, self.proc.returncode, out.strip()[-2000:]))
        return self.elapsed


def ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(('127.0.0.1', 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


# -- FileStorages --------------------------------------------------------------

def make_storage(path, records=0, size=1000000):
    """A FileStorage with an index: records of size bytes (not blobs),
    committed 20 to a transaction."""
    import persistent.mapping
    import ZODB
    import ZODB.FileStorage
    db = ZODB.DB(ZODB.FileStorage.FileStorage(path))
    try:
        tm = transaction.TransactionManager()
        conn = db.open(tm)
        root = conn.root()
        root['made'] = time.time()
        tm.commit()
        for i in range(records):
            m = persistent.mapping.PersistentMapping()
            m['data'] = os.urandom(size)
            root['r%04d' % i] = m
            if i % 20 == 19 or i == records - 1:
                tm.commit()
        conn.close()
    finally:
        db.close()


def put_storage(master, path):
    """Copy a master FileStorage (and index) to path; flush it to disk."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    for suffix in ('', '.index', '.lock', '.tmp', '.old', '.pack'):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass
    shutil.copyfile(master, path)
    shutil.copyfile(master + '.index', path + '.index')
    os.sync()


# -- the candidates ------------------------------------------------------------

def storage_path(name):
    return '${buildout:directory}/var/%s/Data.fs' % name


class Candidate:
    key = None
    label = None
    pins = {}

    def __init__(self, work):
        self.dir = os.path.join(work, self.key)
        self.log = os.path.join(work, self.key + '.log')
        self.run_dir = os.path.join(self.dir, 'run')
        self.port = None
        self.started_wall = None

    # building
    def header(self, parts):
        text = ('[buildout]\nparts = %s\neggs-directory = %s\n'
                'newest = false\n' % (' '.join(parts), self.eggs))
        if self.pins:
            text += 'allow-picked-versions = false\n\n[versions]\n' + ''.join(
                '%s = %s\n' % kv for kv in sorted(self.pins.items()))
        return text + '\n'

    def write_buildout(self, directory, names_ports):
        os.makedirs(directory, exist_ok=True)
        names = [n for n, p in names_ports]
        text = self.header(self.extra_parts() + names) + self.extra_text()
        for name, port in names_ports:
            text += '[%s]\n%s\n' % (name, self.part(name, port))
        with open(os.path.join(directory, 'buildout.cfg'), 'w') as f:
            f.write(text)

    def extra_parts(self):
        return []

    def extra_text(self):
        return ''

    def buildout(self, directory, log=None):
        """Run buildout: (seconds, output); self.cpu: its user+sys time."""
        cmd = buildout_cmd(self.buildout_script, directory)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = now()
        code, out = run(cmd, log or self.log)
        elapsed = now() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu = (after.ru_utime + after.ru_stime
                    - before.ru_utime - before.ru_stime)
        return elapsed, out

    # running
    def ctl(self):
        return os.path.join(self.run_dir, 'bin', 'server')

    def address(self):
        return ('127.0.0.1', self.port)

    def socket_name(self):
        with open(os.path.join(self.run_dir, self.zdaemon_conf)) as f:
            m = re.search(r'^\s*socket-name\s+(\S+)\s*$', f.read(), re.M)
        return m.group(1)

    def status(self):
        return zd_status(self.socket_name())

    def runzeo_pid(self):
        status = self.status() or {}
        pid = int(status.get('application') or 0)
        if pid:
            return pid
        raise Failed('%s: no runzeo pid in zdaemon status %r' % (
            self.label, status))

    def data_fs(self):
        return os.path.join(self.run_dir, 'var', 'server', 'Data.fs')

    def setup_run(self):
        self.port = ports(1)[0]
        self.write_buildout(self.run_dir, [('server', self.port)])
        os.makedirs(os.path.join(self.run_dir, 'var', 'server'),
                    exist_ok=True)
        self.buildout(self.run_dir)

    def start(self):
        """(start returned, first commit) in seconds from invocation."""
        out = open(self.log, 'ab')
        t0 = now()
        self.started_wall = time.time()
        proc = subprocess.Popen([self.ctl(), 'start'], stdout=out,
                                stderr=subprocess.STDOUT, env=ENV)
        waiter = Waiter(proc, t0, self.log)
        try:
            committed = wait_commit(self.address(), t0, self.label)
        finally:
            returned = waiter.result('%s start' % self.label)
            out.close()
        return returned, committed

    def stop(self):
        """(stop returned, runzeo gone) in seconds from invocation."""
        pid = self.runzeo_pid()
        out = open(self.log, 'ab')
        t0 = now()
        proc = subprocess.Popen([self.ctl(), 'stop'], stdout=out,
                                stderr=subprocess.STDOUT, env=ENV)
        waiter = Waiter(proc, t0, self.log)
        try:
            while alive(pid) and now() - t0 < TIMEOUT:
                time.sleep(POLL)
            gone = now() - t0
            if alive(pid):
                raise Failed('%s: runzeo %s still there after stop' % (
                    self.label, pid))
        finally:
            returned = waiter.result('%s stop' % self.label)
            out.close()
        return returned, gone

    def kill9(self):
        """kill -9 runzeo -> a commit succeeded, in seconds."""
        status = self.status() or {}
        pid = int(status.get('application') or 0)
        if not pid:
            raise Failed('%s: no runzeo pid in %r' % (self.label, status))
        # zdaemon restarts at once only when the program ran longer than
        # backoff-limit; otherwise it sleeps a second first.
        lasttime = float(status.get('lasttime') or 0) or self.started_wall
        limit = float(status.get('backofflimit') or 10)
        pause = lasttime + limit + 0.5 - time.time()
        if pause > 0:
            time.sleep(pause)
        t0 = now()
        os.kill(pid, signal.SIGKILL)
        while alive(pid) and now() - t0 < TIMEOUT:
            time.sleep(POLL)
        elapsed = wait_commit(self.address(), t0, self.label + ' kill -9')
        new = self.runzeo_pid()
        if new == pid:
            raise Failed('%s: runzeo pid unchanged after kill -9' % self.label)
        return elapsed

    def quiet_stop(self):
        try:
            run([self.ctl(), 'stop'], self.log, check=False, timeout=TIMEOUT)
        except Exception:
            pass

    def pids(self):
        try:
            status = self.status() or {}
        except Exception:
            return []
        return [int(status.get(k) or 0) for k in ('application', 'manager')]


class Peer(Candidate):

    def __init__(self, work, key, label, dist, version, extra):
        self.key, self.label, self.dist, self.version = (
            key, label, dist, version)
        Candidate.__init__(self, work)
        self.root = os.path.join(CACHE, '%s-%s' % (dist, version))
        self.venv = os.path.join(self.root, 'venv')
        self.eggs = os.path.join(self.root, 'eggs')
        self.buildout_script = os.path.join(self.venv, 'bin', 'buildout')
        self.pins = dict(SHARED_PINS, **extra)
        self.pins[dist] = version

    def ensure(self):
        """The scratch venv and eggs, made once and kept in the cache."""
        wanted = dict(tools=PEER_TOOLS, pins=self.pins,
                      python=base_python(), version=sys.version)
        if stamped(self.root, wanted) and os.path.exists(
                self.buildout_script):
            return False
        say('setting up %s in %s (once)' % (self.label, self.root))
        shutil.rmtree(self.root, ignore_errors=True)
        os.makedirs(self.root)
        log = os.path.join(self.root, 'setup.log')
        run([base_python(), '-m', 'venv', self.venv], log)
        run([os.path.join(self.venv, 'bin', 'python'), '-m', 'pip',
             'install', '-q', '--disable-pip-version-check'] + PEER_TOOLS,
            log)
        # One buildout like the measured ones fetches every egg it needs.
        prime = os.path.join(self.root, 'prime')
        self.write_buildout(prime, [('server', 8100)])
        self.buildout(prime, log)
        shutil.rmtree(prime)
        write_stamp(self.root, wanted)
        return True


class ZC31(Peer):
    zdaemon_conf = 'parts/server/zdaemon.conf'

    def extra_parts(self):
        return ['runzeo']

    def extra_text(self):
        # 3.1 runs bin/runzeo, which the buildout must make itself.
        return ('[runzeo]\nrecipe = zc.recipe.egg:scripts\neggs = ZEO\n'
                'scripts = runzeo\n\n')

    def part(self, name, port):
        return ('recipe = zc.zodbrecipes:server\nzeo.conf =\n'
                '  <zeo>\n    address 127.0.0.1:%s\n  </zeo>\n'
                '  <filestorage 1>\n    path %s\n  </filestorage>\n'
                % (port, storage_path(name)))


class Plone(Peer):
    zdaemon_conf = 'parts/server/etc/zeo.conf'

    def part(self, name, port):
        # socket-name and the script names are per part: the defaults
        # (var/zeo.zdsock, bin/zeopack, bin/repozo) are shared by all
        # parts of a buildout.
        return ('recipe = plone.recipe.zeoserver\n'
                'zeo-address = 127.0.0.1:%s\nfile-storage = %s\n'
                'blob-storage =\n'
                'socket-name = ${buildout:directory}/var/%s/zeo.zdsock\n'
                'zeopack-script-name = zeopack-%s\n'
                'repozo-script-name = repozo-%s\n'
                % (port, storage_path(name), name, name, name))


class Ours(Peer):
    """Our recipe as its users get it: a built distribution installed by
    buildout into an eggs directory (not the checkout's develop egg, whose
    source tree buildout would hash again for every part), in a scratch
    venv and eggs directory like the peers'."""

    zdaemon_conf = 'parts/server/zdaemon.conf'

    def __init__(self, work):
        Peer.__init__(self, work, 'ours', 'ours', 'zc.zodbrecipes',
                      our_version(), {})
        self.wheels = os.path.join(self.root, 'wheels')

    def header(self, parts):
        return Candidate.header(self, parts).replace(
            'newest = false\n', 'newest = false\nfind-links = %s\n'
            % self.wheels, 1)

    def ensure(self):
        """The scratch venv (once), and a wheel of the checkout installed
        in the cached eggs directory (again whenever the wheel's files
        differ from the installed one's)."""
        log = os.path.join(self.root, 'setup.log')
        if not os.path.exists(self.buildout_script):
            say('setting up %s in %s (once)' % (self.label, self.root))
            shutil.rmtree(self.root, ignore_errors=True)
            os.makedirs(self.root)
            run([base_python(), '-m', 'venv', self.venv], log)
            run([os.path.join(self.venv, 'bin', 'python'), '-m', 'pip',
                 'install', '-q', '--disable-pip-version-check']
                + PEER_TOOLS, log)
        built = os.path.join(self.root, 'built')
        shutil.rmtree(built, ignore_errors=True)
        run([os.path.join(self.venv, 'bin', 'python'), '-m', 'pip', 'wheel',
             '-q', '--no-deps', '--no-build-isolation',
             '--disable-pip-version-check', '-w', built, checkout], log)
        wheel = [n for n in os.listdir(built) if n.endswith('.whl')][0]
        wanted = dict(
            tools=PEER_TOOLS, pins=self.pins, python=base_python(),
            version=sys.version,
            wheel=wheel_digest(os.path.join(built, wheel)))
        if stamped(self.root, wanted):
            shutil.rmtree(built)
            return False
        shutil.rmtree(self.wheels, ignore_errors=True)
        os.rename(built, self.wheels)
        remove_eggs(self.eggs, 'zc.zodbrecipes-')
        prime = os.path.join(self.root, 'prime')
        self.write_buildout(prime, [('server', 8100)])
        self.buildout(prime, log)
        shutil.rmtree(prime)
        write_stamp(self.root, wanted)
        return True

    def part(self, name, port):
        # Like plone.recipe.zeoserver's parts, ours write bin/zeopack and
        # bin/repozo: one of each per part.
        return ('recipe = zc.zodbrecipes:server\n'
                'zeo-address = 127.0.0.1:%s\nfile-storage = %s\n'
                'blob-storage =\n'
                'zeopack-script-name = zeopack-%s\n'
                'repozo-script-name = repozo-%s\n'
                % (port, storage_path(name), name, name))


def our_version():
    with open(os.path.join(checkout, 'setup.py')) as f:
        return re.search(r"version='([^']+)'", f.read()).group(1)


def wheel_digest(path):
    """A hash of a wheel's member files (not of its timestamps)."""
    import zipfile
    h = hashlib.sha256()
    with zipfile.ZipFile(path) as z:
        for name in sorted(z.namelist()):
            h.update(name.encode() + b'\0' + z.read(name))
    return h.hexdigest()


class Direct(Candidate):
    """runzeo started by hand: no recipe, no zdaemon."""
    key = 'direct'
    label = 'runzeo direct'

    def setup_run(self):
        self.port = ports(1)[0]
        os.makedirs(os.path.join(self.run_dir, 'var', 'server'))
        paths = sorted({str(d.locate_file(''))
                        for d in closure(['ZEO']).values()})
        self.runzeo = os.path.join(self.run_dir, 'runzeo')
        with open(self.runzeo, 'w') as f:
            f.write('#!%s\nimport sys\nsys.path[0:0] = %r\n'
                    'import ZEO.runzeo\nZEO.runzeo.main()\n'
                    % (sys.executable, paths))
        os.chmod(self.runzeo, 0o755)
        self.conf = os.path.join(self.run_dir, 'zeo.conf')
        with open(self.conf, 'w') as f:
            f.write('<zeo>\n  address 127.0.0.1:%s\n</zeo>\n'
                    '<filestorage 1>\n  path %s\n</filestorage>\n'
                    '<eventlog>\n  <logfile>\n    path STDOUT\n'
                    '  </logfile>\n</eventlog>\n' % (self.port, self.data_fs()))
        self.proc = None

    def start(self):
        out = open(self.log, 'ab')
        t0 = now()
        self.proc = subprocess.Popen([self.runzeo, '-C', self.conf],
                                     stdout=out, stderr=subprocess.STDOUT,
                                     env=ENV)
        out.close()
        return None, wait_commit(self.address(), t0, self.label)

    def stop(self):
        pid = self.proc.pid
        t0 = now()
        os.kill(pid, signal.SIGTERM)
        while alive(pid) and now() - t0 < TIMEOUT:
            time.sleep(POLL)
        gone = now() - t0
        self.proc.wait(TIMEOUT)
        self.proc = None
        return None, gone

    def quiet_stop(self):
        if self.proc is not None:
            kill_all([self.proc.pid])
            self.proc.wait()
            self.proc = None

    def pids(self):
        return [self.proc.pid] if self.proc is not None else []


# -- measurements ----------------------------------------------------------------

class Results:

    def __init__(self):
        self.samples = {}
        self.errors = []
        self.notes = {}

    def add(self, figure, key, value):
        if value is not None:
            self.samples.setdefault(figure, {}).setdefault(key, []).append(
                value)

    def error(self, what, e):
        text = '%s: %s' % (what, e)
        self.errors.append(text)
        say('ERROR ' + text)


def guarded(results, what, cand, func):
    try:
        return func()
    except Failed as e:
        results.error(what, e)
    except Exception as e:
        results.error(what, '%s: %s' % (type(e).__name__, e))
    cand.quiet_stop()
    return None


def start_stop_cycle(cand, master, results, big=False):
    put_storage(master, cand.data_fs())

    def cycle():
        returned, committed = cand.start()
        if big:
            results.add('start_big', cand.key, returned)
            results.add('commit_big', cand.key, committed)
        else:
            results.add('start', cand.key, returned)
            results.add('commit', cand.key, committed)
        stopped, gone = cand.stop()
        if not big:
            results.add('stop', cand.key, stopped)
            results.add('gone', cand.key, gone)
        return True
    guarded(results, '%s %s cycle' % (cand.label, '200 MB' if big
                                      else 'start/stop'), cand, cycle)


def kill_phase(cands, master, results, turn=0):
    # Each round kills in another order: the first kill of a round meets
    # a quieter machine than the last.
    cands = cands[turn % len(cands):] + cands[:turn % len(cands)]
    running = []
    try:
        for cand in cands:
            put_storage(master, cand.data_fs())
            if guarded(results, cand.label + ' start before kill -9', cand,
                       cand.start):
                running.append(cand)
        for cand in running:
            results.add('kill9', cand.key, guarded(
                results, cand.label + ' kill -9', cand, cand.kill9))
    finally:
        for cand in running:
            cand.quiet_stop()


def snapshot(directory):
    files = {}
    for top in ('bin', 'parts'):
        for root, dirs, names in os.walk(os.path.join(directory, top)):
            for name in names:
                path = os.path.join(root, name)
                try:
                    st = os.lstat(path)
                    if os.path.islink(path):
                        digest = os.readlink(path)
                    else:
                        with open(path, 'rb') as f:
                            digest = hashlib.sha1(f.read()).hexdigest()
                except OSError:
                    continue
                files[os.path.relpath(path, directory)] = (
                    st.st_mtime_ns, st.st_size, st.st_mode, digest)
    return files


def fresh(directory):
    for name in ('bin', 'parts', 'var', 'develop-eggs'):
        shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
    try:
        os.remove(os.path.join(directory, '.installed.cfg'))
    except FileNotFoundError:
        pass


def install_phase(cand, one, many, names, results):
    def measure():
        fresh(one)
        t1, _ = cand.buildout(one)
        c1 = cand.cpu
        # A no-op run with one server part, against one with none.
        empty = os.path.join(os.path.dirname(one), 'empty')
        cand.buildout(empty)
        results.add('noop_empty', cand.key, cand.buildout(empty)[0])
        results.add('noop1', cand.key, cand.buildout(one)[0])
        fresh(many)
        t50, _ = cand.buildout(many)
        c50 = cand.cpu
        results.add('buildout1', cand.key, t1)
        results.add('buildout50', cand.key, t50)
        results.add('per_part', cand.key, (t50 - t1) / (PARTS - 1) * 1000)
        results.add('per_part_cpu', cand.key,
                    (c50 - c1) / (PARTS - 1) * 1000)
        before = snapshot(many)
        time.sleep(0.01)
        tnoop, out = cand.buildout(many)
        after = snapshot(many)
        changed = sorted(k for k in set(before) | set(after)
                         if before.get(k) != after.get(k))
        results.notes.setdefault('noop_changed_s01', {})[cand.key] = [
            k for k in changed if '/s01' in k or k.endswith('-s01')]
        changed = len(changed)
        installed = set(re.findall(r'^Installing (\S+?)\.?$', out, re.M))
        results.add('noop_time', cand.key, tnoop)
        results.add('noop_files', cand.key, changed / PARTS)
        results.add('noop_files_total', cand.key, changed)
        results.add('noop_reinstalled', cand.key,
                    len(installed & set(names)))
        return True
    guarded(results, cand.label + ' install', cand, measure)


def paired_starts(ours, direct, master, results, pairs):
    """``start`` of ours against runzeo direct's first commit, measured
    back to back (in alternating order) ``pairs`` times: the ratio of
    each pair.  This machine's speed drifts between and within rounds;
    a pair shares the drift that separate medians do not."""
    for i in range(pairs):
        r = Results()
        for cand in (ours, direct) if i % 2 == 0 else (direct, ours):
            start_stop_cycle(cand, master, r)
        results.errors.extend(r.errors)
        try:
            results.add('start_pair', 'ours', r.samples['start']['ours'][0]
                        / r.samples['commit']['direct'][0])
        except (KeyError, IndexError, ZeroDivisionError):
            pass


# -- install cost in instructions --------------------------------------------

PATCH = os.path.join(here, 'zc.buildout-per-run-caches.patch')


def count_instructions(cmds, log):
    """The instructions each command executes (valgrind's callgrind, Ir),
    as many at once as there are cores.  Deterministic, unlike time on a
    shared machine: the same buildout gives the same count to within
    a few thousandths of a percent."""
    env = dict(ENV, PYTHONHASHSEED='0')
    counts = [None] * len(cmds)
    pending = list(enumerate(cmds))
    running = []
    while pending or running:
        while pending and len(running) < max(1, os.cpu_count() or 1):
            i, cmd = pending.pop(0)
            cmd = ['valgrind', '--tool=callgrind',
                   '--callgrind-out-file=/dev/null'] + cmd
            running.append((i, cmd, subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                env=env)))
        i, cmd, proc = running.pop(0)
        out = proc.communicate()[0].decode('utf-8', 'replace')
        with open(log, 'a') as f:
            f.write('$ %s\n%s' % (' '.join(cmd), out))
        m = re.search(r'Collected : (\d+)', out)
        if proc.returncode or not m:
            raise Failed('%s exited %s:\n%s' % (
                ' '.join(cmd), proc.returncode, out[-3000:]))
        counts[i] = int(m.group(1))
    return counts


def requirements_of(cand):
    """The requirements of the candidate's recipe distribution (no
    extras), read from the egg buildout installed."""
    prefix = '%s-%s-' % (cand.dist, cand.version)
    for root, dirs, files in os.walk(cand.eggs):
        for d in dirs:
            if d.startswith(prefix):
                egg = os.path.join(root, d)
                break
        else:
            continue
        break
    else:
        raise Failed('no %s egg in %s' % (prefix, cand.eggs))
    for name in os.listdir(egg):
        if name.endswith('.dist-info'):
            with open(os.path.join(egg, name, 'METADATA')) as f:
                return [line.split(':', 1)[1].strip()
                        for line in f if line.startswith('Requires-Dist:')
                        and 'extra ==' not in line]
    with open(os.path.join(egg, 'EGG-INFO', 'requires.txt')) as f:
        return f.read().split('\n[')[0].split()


def floor_wheel(cand, log):
    """A do-nothing recipe distribution with the candidate's requirements,
    as a wheel: what a part costs buildout itself, before any recipe
    code, for a recipe with that dependency tree."""
    name = 'zodbrecipes_bench_floor_' + cand.key
    reqs = requirements_of(cand)
    root = os.path.join(CACHE, 'floor-' + cand.key)
    wheels = os.path.join(root, 'wheels')
    wanted = dict(reqs=reqs, tools=PEER_TOOLS)
    if stamped(root, wanted):
        return name, wheels
    shutil.rmtree(root, ignore_errors=True)
    src = os.path.join(root, 'src')
    os.makedirs(src)
    with open(os.path.join(src, name + '.py'), 'w') as f:
        f.write('class Recipe:\n'
                '    def __init__(self, buildout, name, options):\n'
                '        for key in list(options):\n'
                '            options[key]  # (no "unused option" warnings)\n'
                '    def install(self):\n'
                '        return ()\n'
                '    update = install\n')
    with open(os.path.join(src, 'setup.py'), 'w') as f:
        f.write('from setuptools import setup\n'
                'setup(name=%r, version="1", py_modules=[%r],\n'
                '      install_requires=%r,\n'
                '      entry_points={"zc.buildout": ["default = %s:Recipe"]})\n'
                % (name, name, reqs, name))
    run([os.path.join(cand.venv, 'bin', 'python'), '-m', 'pip', 'wheel',
         '-q', '--no-deps', '--no-build-isolation',
         '--disable-pip-version-check', '-w', wheels, src], log)
    remove_eggs(cand.eggs, name + '-')
    write_stamp(root, wanted)
    return name, wheels


def write_floor_buildout(cand, directory, names_ports, name, wheels):
    """The candidate's buildout, each server part's recipe replaced by
    the do-nothing one (the same options, so the same .installed.cfg
    sections, less what the recipe publishes)."""
    os.makedirs(directory, exist_ok=True)
    names = [n for n, p in names_ports]
    text = cand.header(cand.extra_parts() + names) + cand.extra_text()
    links = [wheels] + ([cand.wheels] if getattr(cand, 'wheels', None)
                        else [])
    text = re.sub(r'^find-links = .*\n', '', text, flags=re.M)
    text = text.replace('newest = false\n', 'newest = false\nfind-links =\n'
                        + ''.join('    %s\n' % l for l in links), 1)
    text = text.replace('[versions]\n', '[versions]\n%s = 1\n' % name, 1)
    for part, port in names_ports:
        body = cand.part(part, port).split('\n', 1)[1]
        text += '[%s]\nrecipe = %s\n%s\n' % (part, name, body)
    with open(os.path.join(directory, 'buildout.cfg'), 'w') as f:
        f.write(text)


def patched_buildout(log):
    """zc.buildout 6.0.1 with PATCH applied, in a venv of its own."""
    root = os.path.join(CACHE, 'zc.buildout-6.0.1-patched')
    script = os.path.join(root, 'venv', 'bin', 'buildout')
    with open(PATCH, 'rb') as f:
        wanted = dict(tools=PEER_TOOLS, python=base_python(),
                      patch=hashlib.sha256(f.read()).hexdigest())
    if stamped(root, wanted) and os.path.exists(script):
        return script
    say('setting up zc.buildout 6.0.1 with %s in %s (once)' % (
        os.path.basename(PATCH), root))
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    venv = os.path.join(root, 'venv')
    run([base_python(), '-m', 'venv', venv], log)
    python = os.path.join(venv, 'bin', 'python')
    run([python, '-m', 'pip', 'install', '-q', '--disable-pip-version-check']
        + PEER_TOOLS, log)
    site = run([python, '-c', 'import sysconfig; '
                'print(sysconfig.get_paths()["purelib"])'])[1].strip()
    run(['patch', '-p1', '-d', site, '-i', PATCH], log)
    write_stamp(root, wanted)
    return script


def instruction_phase(managed, names, install_ports, work, results):
    """Row 7 again, in instructions: (Ir(50 parts) - Ir(1 part)) / 49
    for each candidate's buildout, for a do-nothing recipe with the same
    requirements (buildout's own share), and for each candidate with
    zc.buildout patched by PATCH."""
    log = os.path.join(work, 'instructions.log')
    patched = patched_buildout(log)
    jobs = []  # (figure, candidate key, one dir, many dir, buildout)
    for cand in managed:
        jobs.append(('ir_part', cand.key, os.path.join(cand.dir, 'one'),
                     os.path.join(cand.dir, 'many'), cand.buildout_script))
        name, wheels = floor_wheel(cand, log)
        base = os.path.join(cand.dir, 'floor')
        for suffix, n in (('-one', 1), ('-many', PARTS)):
            write_floor_buildout(cand, base + suffix,
                                 list(zip(names, install_ports))[:n],
                                 name, wheels)
        jobs.append(('ir_floor', cand.key, base + '-one', base + '-many',
                     cand.buildout_script))
        jobs.append(('ir_patched', cand.key, os.path.join(cand.dir, 'one'),
                     os.path.join(cand.dir, 'many'), patched))
    for cand in managed:
        # Row 9 in instructions: a no-op run with one server part and one
        # with none, after a run that installed (or emptied) each; and one
        # with the do-nothing recipe in that part.
        cmds = [buildout_cmd(cand.buildout_script, os.path.join(cand.dir, d))
                for d in ('one', 'empty', 'floor-one')]
        try:
            fresh(os.path.join(cand.dir, 'one'))
            fresh(os.path.join(cand.dir, 'floor-one'))
            for cmd in cmds:
                run(cmd, log)
            one, empty, floor = count_instructions(cmds, log)
        except Failed as e:
            results.error('no-op instructions %s' % cand.key, e)
            continue
        results.add('ir_noop1', cand.key, one / 1e6)
        results.add('ir_noop_empty', cand.key, empty / 1e6)
        results.add('ir_noop_floor', cand.key, floor / 1e6)
        say('  no-op %s: %.0f M instructions with one server part, %.0f M'
            ' with none, %.0f M with a do-nothing recipe' % (
                cand.key, one / 1e6, empty / 1e6, floor / 1e6))
    for figure, key, one, many, script in jobs:
        cmds = [buildout_cmd(script, d) for d in (one, many)]
        try:
            # once without valgrind: installs what is missing (the floor
            # egg), so that the counted runs install nothing
            for d, cmd in zip((one, many), cmds):
                fresh(d)
                run(cmd, log)
                fresh(d)
            i1, i50 = count_instructions(cmds, log)
        except Failed as e:
            results.error('%s %s' % (figure, key), e)
            continue
        per_part = (i50 - i1) / (PARTS - 1) / 1e6
        results.add(figure, key, per_part)
        say('  %s %s: %.1f M instructions per part' % (figure, key, per_part))


# -- the table ---------------------------------------------------------------------

FIGURES = [
    # key, label, unit scale, format, row ratio against direct's figure
    ('start', '1. `start` returns after (s)', 1, '%.3f', 'commit'),
    ('start_pair', '   `start` / direct first commit, paired', 1, '%.2f',
     None),
    ('commit', '2. first commit possible after (s)', 1, '%.3f', 'commit'),
    ('commit_big', '3. first commit, 200 MB FileStorage (s)', 1, '%.3f',
     'commit_big'),
    ('start_big', '   `start` returns, 200 MB (s)', 1, '%.3f', 'commit_big'),
    ('stop', '4. `stop` returns after (s)', 1, '%.3f', 'gone'),
    ('gone', '5. process gone after stop (s)', 1, '%.3f', 'gone'),
    ('kill9', '6. kill -9 -> serving again (s)', 1, '%.3f', None),
    ('per_part', '7. install cost per server part (ms)', 1, '%.1f', None),
    ('per_part_cpu', '   the same in CPU time (ms)', 1, '%.1f', None),
    ('ir_part', '   the same in instructions (M)', 1, '%.1f', None),
    ('ir_floor', '   buildout alone: do-nothing recipe, same'
     ' requirements (M)', 1, '%.1f', None),
    ('ir_patched', '   with zc.buildout per-run caches (M)', 1, '%.1f',
     None),
    ('buildout1', '   buildout, 1 server part (s)', 1, '%.2f', None),
    ('buildout50', '   buildout, 50 server parts (s)', 1, '%.2f', None),
    ('noop_files', '8. files rewritten by no-op, per part', 1, '%.2f', None),
    ('noop_reinstalled', '   parts reinstalled by no-op (of 50)', 1, '%g',
     None),
    ('noop_time', '   no-op buildout, 50 parts (s)', 1, '%.2f', None),
    ('noop1', '9. no-op buildout, 1 server part (s)', 1, '%.3f', None),
    ('noop_empty', '   no-op buildout, no server part (s)', 1, '%.3f',
     None),
    ('ir_noop1', '   no-op, 1 server part (M instructions)', 1, '%.0f',
     None),
    ('ir_noop_empty', '   no-op, no server part (M instructions)', 1,
     '%.0f', None),
    ('ir_noop_floor', '   no-op, do-nothing recipe, same requirements (M)',
     1, '%.0f', None),
]


def summary(values):
    return dict(median=statistics.median(values), min=min(values),
                max=max(values), n=len(values))


def cell(s, fmt):
    if s is None:
        return '-'
    med = fmt % s['median']
    if s['min'] == s['max']:
        return med
    return '%s (%s-%s)' % (med, fmt % s['min'], fmt % s['max'])


def ratio(a, b):
    if a is None or b is None:
        return None
    if b['median'] == 0:
        return None
    return a['median'] / b['median']


def tabulate(results):
    table = {}
    for key, label, scale, fmt, direct in FIGURES:
        row = {c: summary(v) for c, v in results.samples.get(key, {}).items()}
        if not row:
            continue
        ours = row.get('ours')
        # For start/stop, "direct" compares with runzeo's own figure:
        # commit for start, SIGTERM -> gone for stop.
        direct_s = row.get('direct')
        if direct:
            direct_s = summary(results.samples.get(direct, {})[
                'direct']) if results.samples.get(direct, {}).get(
                    'direct') else None
        table[key] = dict(
            label=label, fmt=fmt, cells=row,
            ratios={'ours/3.1': ratio(ours, row.get('zc31')),
                    'ours/plone': ratio(ours, row.get('plone')),
                    'ours/direct': ratio(ours, direct_s)})
    return table


def render(table, rounds):
    heads = ['figure', 'ours', 'zc.zodbrecipes 3.1', 'plone.recipe.zeoserver',
             'runzeo direct', 'ours/3.1', 'ours/plone', 'ours/direct']
    rows = []
    for key, row in table.items():
        fmt = row['fmt']
        rows.append([row['label']] + [
            cell(row['cells'].get(c), fmt)
            for c in ('ours', 'zc31', 'plone', 'direct')] + [
            '-' if v is None else '%.2f' % v for v in row['ratios'].values()])
    widths = [max(len(r[i]) for r in rows + [heads]) for i in range(8)]
    lines = []
    for r in [heads] + [['-' * w for w in widths]] + rows:
        lines.append('  '.join(
            r[i].ljust(widths[i]) if i == 0 else r[i].rjust(widths[i])
            for i in range(8)).rstrip())
    lines.append('')
    lines.append('median (min-max) over %d rounds; ours/direct compares'
                 ' start with runzeo direct\'s first commit' % rounds)
    lines.append('and stop with runzeo direct\'s SIGTERM -> gone.')
    return '\n'.join(lines)


def targets(table):
    def med(key, c):
        try:
            return table[key]['cells'][c]['median']
        except KeyError:
            return None
    out = []

    def check(label, ok, detail):
        out.append(dict(target=label, ok=ok, detail=detail))
    def check_ratio(label, ours, other, factor):
        known = None not in (ours, other)
        check(label, ours <= factor * other if known else None,
              '%.3f vs %.3f (%.2fx)' % (ours, other, ours / other)
              if known else None)
    pair = table.get('start_pair', {}).get('cells', {}).get('ours')
    if pair:
        s, c = med('start', 'ours'), med('commit', 'direct')
        check('start <= 1.25 x runzeo direct commit',
              pair['median'] <= 1.25,
              '%.2fx: median of %d back-to-back pairs (%.2f-%.2f); medians'
              ' of rounds %s' % (
                  pair['median'], pair['n'], pair['min'], pair['max'],
                  '%.3f vs %.3f (%.2fx)' % (s, c, s / c)
                  if None not in (s, c) else 'not measured'))
    else:
        check_ratio('start <= 1.25 x runzeo direct commit',
                    med('start', 'ours'), med('commit', 'direct'), 1.25)
    check_ratio('stop <= 2 x SIGTERM direct',
                med('stop', 'ours'), med('gone', 'direct'), 2)
    k = med('kill9', 'ours')
    peers = [v for v in (med('kill9', 'zc31'), med('kill9', 'plone'))
             if v is not None]
    check('kill -9 recovery no slower than peers',
          None if k is None or not peers else k <= min(peers),
          None if k is None or not peers else '%.3f vs %s' % (
              k, ' / '.join('%.3f' % p for p in peers)))
    p, q = med('per_part', 'ours'), med('per_part', 'zc31')
    check('install cost per part <= 1/2 of 3.1',
          None if None in (p, q) else p <= q / 2,
          None if None in (p, q) else '%.1f ms vs %.1f ms' % (p, q))
    p, q = med('ir_part', 'ours'), med('ir_part', 'zc31')
    if None not in (p, q):
        floor = med('ir_floor', 'ours')
        check('install cost per part <= 1/2 of 3.1, in instructions',
              p <= q / 2, '%.1f M vs %.1f M (%.2fx)%s' % (
                  p, q, p / q, '' if floor is None else
                  '; buildout alone, for a recipe with our requirements:'
                  ' %.1f M (%.2fx)' % (floor, floor / q)))
    check_ratio('no-op run with 1 part <= 1.1 x with none',
                med('noop1', 'ours'), med('noop_empty', 'ours'), 1.1)
    o, e = med('ir_noop1', 'ours'), med('ir_noop_empty', 'ours')
    if None not in (o, e):
        floor = med('ir_noop_floor', 'ours')
        check('no-op run with 1 part <= 1.1 x with none, in instructions',
              o <= 1.1 * e, '%.0f M vs %.0f M (%.2fx)%s' % (
                  o, e, o / e, '' if floor is None else
                  '; buildout alone, for a recipe with our requirements:'
                  ' %.0f M (%.2fx)' % (floor, floor / e)))
    f, r = med('noop_files', 'ours'), med('noop_reinstalled', 'ours')
    check('no-op: 0 parts reinstalled, 0 files rewritten (50 parts)',
          None if None in (f, r) else f == 0 and r == 0,
          None if None in (f, r) else '%g files, %g parts' % (f * PARTS, r))
    return out


# -- main ------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0])
    parser.add_argument('--quick', action='store_true',
                        help='3 rounds, no 200 MB FileStorage')
    parser.add_argument('--rounds', type=int, default=None,
                        help='rounds (default 7, --quick 3)')
    parser.add_argument('--json', help='write machine readable results')
    parser.add_argument('--keep', action='store_true',
                        help='keep the scratch directory')
    parser.add_argument('--pairs', type=int, default=None,
                        help='back-to-back start pairs, ours and direct,'
                        ' per round (default 3, --quick 2)')
    parser.add_argument('--instructions', action='store_true',
                        help='also count the install cost in instructions'
                        ' (valgrind; ~10 min more)')
    parser.add_argument('--instructions-only', action='store_true',
                        help='only that: no warm-up, no rounds')
    args = parser.parse_args()
    rounds = args.rounds if args.rounds is not None else (
        3 if args.quick else 7)
    pairs = args.pairs if args.pairs is not None else (
        2 if args.quick else 3)
    if args.instructions_only:
        rounds, args.instructions = 0, True
    if args.instructions and not shutil.which('valgrind'):
        parser.error('--instructions needs valgrind')
    began = time.monotonic()
    load = dict(before=os.getloadavg())
    version = checkout_version()

    work = tempfile.mkdtemp(prefix='zodbrecipes-bench-')
    cands = {}
    done = []

    def cleanup():
        if done:
            return
        done.append(1)
        for cand in cands.values():
            try:
                cand.quiet_stop()
            except Exception:
                pass
            kill_all(cand.pids())
        kill_all(processes_under(work))
        if args.keep:
            say('scratch directory kept: ' + work)
        else:
            shutil.rmtree(work, ignore_errors=True)

    atexit.register(cleanup)

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)

    results = Results()
    try:
        peers = {key: cls(work, key, label, dist, version, extra)
                 for (key, label, dist, version, extra), cls in zip(
                     PEERS, (ZC31, Plone))}
        setup_started = time.monotonic()
        peers['ours'] = Ours(work)
        for peer in peers.values():
            peer.ensure()
        setup_time = time.monotonic() - setup_started
        cands.update(peers)
        cands['direct'] = Direct(work)
        order = [cands[k] for k in ORDER]
        managed = [c for c in order if c.key in MANAGED]

        say('building the server parts in %s' % work)
        names = ['s%02d' % i for i in range(1, PARTS + 1)]
        install_ports = ports(PARTS)
        for cand in order:
            guarded(results, cand.label + ' setup', cand, cand.setup_run)
            if cand.key != 'direct':
                cand.write_buildout(os.path.join(cand.dir, 'one'),
                                    [('s01', install_ports[0])])
                cand.write_buildout(os.path.join(cand.dir, 'empty'), [])
                cand.write_buildout(os.path.join(cand.dir, 'many'),
                                    list(zip(names, install_ports)))

        small = os.path.join(work, 'small.fs')
        make_storage(small)
        big = None
        if not args.quick and rounds:
            say('making the %d MB FileStorage' % BIG)
            big = os.path.join(work, 'big.fs')
            make_storage(big, BIG)

        if rounds:
            say('warming up')
        warm = Results()
        for cand in order if rounds else []:
            start_stop_cycle(cand, small, warm)
            if cand.key != 'direct':
                install_phase(cand, os.path.join(cand.dir, 'one'),
                              os.path.join(cand.dir, 'many'), names, warm)
        for error in warm.errors:
            results.errors.append('warm-up: ' + error)

        for r in range(rounds):
            say('round %d of %d (%.0f s so far)' % (
                r + 1, rounds, time.monotonic() - began))
            results.add('load', 'before round', os.getloadavg()[0])
            for cand in order:
                start_stop_cycle(cand, small, results)
            if big:
                for cand in order:
                    start_stop_cycle(cand, big, results, big=True)
                    put_storage(small, cand.data_fs())
            paired_starts(cands['ours'], cands['direct'], small, results,
                          pairs)
            kill_phase(managed, small, results, r)
            for cand in managed:
                install_phase(cand, os.path.join(cand.dir, 'one'),
                              os.path.join(cand.dir, 'many'), names, results)
        if args.instructions:
            say('counting instructions (%.0f s so far)' % (
                time.monotonic() - began))
            instruction_phase(managed, names, install_ports, work, results)
    finally:
        cleanup()

    elapsed = time.monotonic() - began
    load['after'] = os.getloadavg()
    table = tabulate(results)
    print('Server parts: ours (checkout %s) vs zc.zodbrecipes 3.1 vs'
          ' plone.recipe.zeoserver 4.0.1 vs runzeo direct' % version)
    print('%s, %d cores, Python %s; %s' % (
        platform.platform(terse=True), os.cpu_count(),
        platform.python_version(), ', '.join(
            '%s %s' % (n, SHARED_PINS[n]) for n in (
                'ZEO', 'ZODB', 'zdaemon', 'ZConfig') if n in SHARED_PINS)))
    print('peers: zc.buildout 6.0.1, setuptools 81.0.0 (own venvs);'
          ' %d rounds%s; %.0f s; load average %.1f before, %.1f after' % (
              rounds, ', no 200 MB (--quick)' if args.quick else '',
              elapsed, load['before'][0], load['after'][0]))
    print()
    print(render(table, rounds))
    checks = targets(table)
    print()
    print('targets:')
    for c in checks:
        print('  [%s] %s: %s' % (
            {True: 'ok', False: 'MISSED', None: '??'}[c['ok']],
            c['target'], c['detail'] or 'not measured'))
    if results.errors:
        print()
        print('errors:')
        for e in results.errors:
            print('  ' + e.replace('\n', '\n    '))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(
                rounds=rounds, quick=args.quick, seconds=elapsed,
                checkout=version,
                peer_setup_seconds=setup_time,
                machine=dict(platform=platform.platform(),
                             cores=os.cpu_count(),
                             python=platform.python_version()),
                peer_tools=PEER_TOOLS, shared_pins=SHARED_PINS,
                peers={k: dict(label=l, distribution=d, version=v,
                               extra_pins=e) for k, l, d, v, e in PEERS},
                poll_seconds=POLL, parts=PARTS, big_records=BIG,
                samples=results.samples,
                figures={k: dict(label=v['label'], **{
                    c: s for c, s in v['cells'].items()},
                    ratios=v['ratios']) for k, v in table.items()},
                targets=checks, errors=results.errors,
                notes=results.notes, load=load), f, indent=1)
    return 1 if results.errors else 0


if __name__ == '__main__':
    sys.exit(main())
