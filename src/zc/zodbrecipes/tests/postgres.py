"""A private PostgreSQL server for a test: its own cluster in a temporary
directory, on a free port of 127.0.0.1, owned by an unprivileged user.

initdb and pg_ctl refuse to run as root, and the tests run as root: the
cluster belongs to ``postgres`` (Debian's package creates that user) or,
without it, to a system user ``zc-zodbrecipes-pg`` created here.  A test
that needs PostgreSQL calls ``start`` in its set-up and ``Cluster.stop``
in its tear-down (or registers it at once, so that a failure stops it
too).  Without PostgreSQL, ``start`` raises unittest.SkipTest naming the
tool, or, when CI=true, fails: there a missing PostgreSQL is a broken CI
set-up (bin/test installs Debian's postgresql package: the ``postgresql``
row of tools.TOOLS).
"""
import os
import pwd
import subprocess

from zc.zodbrecipes.tests import harness
from zc.zodbrecipes.tests import tools

USER = 'zc-zodbrecipes-pg'
TIMEOUT = 60  # seconds initdb, start or stop may take


def bindir():
    """The directory of initdb and pg_ctl, or None (see tools.py)."""
    return tools.find('postgresql')


def missing():
    """Skip naming PostgreSQL (fail when CI=true): tools.require."""
    tools.require('postgresql')


def _owner():
    """(uid, gid, name) of the unprivileged user the cluster runs as."""
    if os.getuid() != 0:
        entry = pwd.getpwuid(os.getuid())
        return entry.pw_uid, entry.pw_gid, entry.pw_name
    for name in ('postgres', USER):
        try:
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid, name
        except KeyError:
            pass
    subprocess.run(['useradd', '--system', '--no-create-home', '--shell',
                    '/usr/sbin/nologin', USER], check=True,
                   capture_output=True)
    entry = pwd.getpwnam(USER)
    return entry.pw_uid, entry.pw_gid, USER


class Cluster:
    """A running cluster: ``port``, ``dsn(dbname)``, ``stop()``."""

    def __init__(self, directory):
        self.bin = bindir()
        if self.bin is None:
            missing()
        self.directory = directory
        self.data = os.path.join(directory, 'pgdata')
        self.uid, self.gid, self.user = _owner()
        self.port = None
        self.running = False

    def _as_owner(self, argv, **kw):
        def demote():
            os.setgid(self.gid)
            os.setuid(self.uid)
        preexec = demote if os.getuid() == 0 else None
        result = subprocess.run(
            argv, preexec_fn=preexec, capture_output=True, text=True,
            cwd=self.directory, timeout=TIMEOUT, **kw)
        if result.returncode:
            raise AssertionError('%s failed (exit status %s):\n%s%s' % (
                ' '.join(argv), result.returncode, result.stdout,
                result.stderr))
        return result.stdout

    def start(self):
        os.makedirs(self.data, exist_ok=True)
        # The test's temporary directories are root's 0700 ones: the owner
        # must reach its own directory.
        for d in _parents(self.directory):
            os.chmod(d, os.stat(d).st_mode | 0o711)
        os.chown(self.directory, self.uid, self.gid)
        os.chown(self.data, self.uid, self.gid)
        self._as_owner([os.path.join(self.bin, 'initdb'), '-D', self.data,
                        # The superuser comes in through the socket
                        # unasked; TCP clients give their password.
                        '--auth-local=trust', '--auth-host=scram-sha-256',
                        '-U', 'postgres', '-E', 'UTF8',
                        '--no-sync'])
        self.port = harness.free_port()
        with open(os.path.join(self.data, 'postgresql.conf'), 'a') as f:
            f.write("port = %d\nlisten_addresses = '127.0.0.1'\n"
                    "unix_socket_directories = '%s'\nfsync = off\n"
                    "max_connections = 60\n" % (self.port, self.data))
        self.running = True  # from here on, stop() has something to do
        self._as_owner([os.path.join(self.bin, 'pg_ctl'), '-D', self.data,
                        '-l', os.path.join(self.directory, 'postgres.log'),
                        '-w', '-t', str(TIMEOUT), 'start'])
        return self

    def stop(self):
        if not self.running:
            return
        self.running = False
        self._as_owner([os.path.join(self.bin, 'pg_ctl'), '-D', self.data,
                        '-m', 'immediate', '-w', '-t', str(TIMEOUT),
                        'stop'])

    def create_user(self, name, password):
        """A role that logs in with password (over TCP: scram-sha-256)."""
        self.psql("CREATE ROLE \"%s\" LOGIN PASSWORD '%s'" % (
            name, password.replace("'", "''")))

    def psql(self, sql, dbname='postgres'):
        """Run SQL with psql as the superuser; return its output."""
        return self._as_owner([
            os.path.join(self.bin, 'psql'), '-X', '-q', '-A', '-t', '-v',
            'ON_ERROR_STOP=1', '-h', self.data, '-p', str(self.port), '-U',
            'postgres', '-d', dbname, '-c', sql])

    def createdb(self, name, owner='postgres'):
        self.psql('CREATE DATABASE "%s" OWNER "%s"' % (name, owner))
        return name


def _parents(path):
    path = os.path.abspath(path)
    result = []
    while path != '/':
        path = os.path.dirname(path)
        if path != '/':
            result.append(path)
    return result


def start(directory):
    """A started Cluster in directory (skip or fail without PostgreSQL)."""
    cluster = Cluster(directory)
    try:
        return cluster.start()
    except BaseException:
        cluster.stop()
        raise
