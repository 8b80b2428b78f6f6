"""Shared test set-up: sample buildouts, free ports, ZEO clients, cleanup.

Every server a test starts through a generated script is found again at
tear-down by its zdaemon socket under the test's directories and stopped,
so a failing test leaves no process behind.
"""
import doctest
import glob
import logging
import os
import re
import shutil
import signal
import stat
import socket
import subprocess
import sys

import manuel.capture
import manuel.doctest
import manuel.testing
import zc.buildout.testing
import zope.testing.renormalizing

from zc.zodbrecipes import talk


here = os.path.dirname(os.path.abspath(__file__))
package = os.path.dirname(here)


def free_port(host='127.0.0.1'):
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def wait_until(condition, timeout=30, interval=0.02, what='condition'):
    if not talk.wait_for(condition, timeout, interval):
        raise AssertionError('timed out waiting for %s' % what)


def run(command, env=None, timeout=600):
    """Run a shell command; print its output and a non-zero exit status."""
    p = subprocess.run(command, shell=True, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, env=env, timeout=timeout)
    out = p.stdout.decode('utf-8', 'replace')
    print(out, end='' if out.endswith('\n') or not out else '\n')
    if p.returncode:
        print('(exit status %s)' % p.returncode)


def read_file(*path, mode='r'):
    """The content of a file (path parts are joined)."""
    with open(os.path.join(*path), mode) as f:
        return f.read()


def _address(address):
    from zc.zodbrecipes import options
    if isinstance(address, str):
        return options.address(address).local()
    return address


def open_db(address, **kw):
    import ZEO
    kw.setdefault('wait_timeout', 30)
    return ZEO.DB(_address(address), **kw)


def commit(address, key, value, **kw):
    """Commit root[key] = value through a real ZEO client."""
    import transaction
    db = open_db(address, **kw)
    try:
        tm = transaction.TransactionManager()
        conn = db.open(tm)
        conn.root()[key] = value
        tm.commit()
        conn.close()
    finally:
        db.close()


def read(address, key, **kw):
    db = open_db(address, **kw)
    try:
        conn = db.open()
        try:
            return conn.root().get(key)
        finally:
            conn.close()
    finally:
        db.close()


# -- cleanup -----------------------------------------------------------------

def stop_servers(directory):
    """Stop every zdaemon-managed process whose socket is below directory."""
    stopped = 0
    for root, dirs, files in os.walk(directory):
        for f in files:
            path = os.path.join(root, f)
            try:
                is_sock = stat.S_ISSOCK(os.lstat(path).st_mode)
            except OSError:
                continue
            if not is_sock:
                continue
            status = talk.query(path, timeout=2)
            if not status:
                continue
            terminate([int(status.get(k, 0))
                       for k in ('application', 'manager')])
            stopped += 1
    return stopped


def terminate(pids, grace=30):
    """SIGTERM to pids (0s are skipped), SIGKILL to those still there after
    grace seconds; returns when all are gone."""
    pids = [p for p in pids if p and talk.alive(p)]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    if not talk.wait_for(lambda: not any(talk.alive(p) for p in pids), grace):
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


# -- set-up --------------------------------------------------------------------

def quiet_clients(test):
    # ZEO and ZODB log every client connection at INFO; the tests' own
    # clients would fill the documentation with that.
    for name in ('ZEO', 'ZODB', 'txn'):
        logger = logging.getLogger(name)
        level = logger.level
        logger.setLevel(logging.WARNING)
        test.globs['register_teardown'](
            lambda logger=logger, level=level: logger.setLevel(level))


def setUp(test):
    zc.buildout.testing.buildoutSetUp(test)
    quiet_clients(test)
    globs = test.globs
    sample = globs['sample_buildout']
    base = os.path.dirname(sample)
    # Before buildoutTearDown's own clean-ups remove the directories that
    # hold the zdaemon sockets stop_servers finds the servers by.
    globs['__tear_downs'].insert(0, lambda: stop_servers(base))
    # The sample buildouts' own scripts need not warn that the zc
    # namespace is spread over several directories.
    os.environ['PYTHONWARNINGS'] = 'ignore::UserWarning'
    eggs = os.environ.get('ZC_ZODBRECIPES_EGGS')
    if eggs:
        if os.path.basename(eggs) == 'v5':  # buildout adds it again
            eggs = os.path.dirname(eggs)
        # Under bin/test the distributions live in the outer buildout's
        # eggs directory: let every sample buildout use it (read-only:
        # the index is an empty directory, so nothing is downloaded).
        home = os.environ['HOME']
        os.makedirs(os.path.join(home, '.buildout'), exist_ok=True)
        with open(os.path.join(home, '.buildout', 'default.cfg'), 'w') as f:
            f.write('[buildout]\neggs-directory = %s\nnewest = false\n'
                    % eggs)
    zc.buildout.testing.install_develop('zc.zodbrecipes', test)
    globs.update(
        free_port=free_port, run=run, read_file=read_file,
        commit=commit, read=read, open_db=open_db, wait_until=wait_until,
        stop_servers=stop_servers, shutil=shutil, glob=glob, re=re,
        sys=sys,
    )


def tearDown(test):
    zc.buildout.testing.buildoutTearDown(test)


checker = zope.testing.renormalizing.RENormalizing([
    zc.buildout.testing.normalize_path,
    (re.compile(r'pid \d+'), 'pid N'),
    (re.compile(r'\(pid \d+\)'), '(pid N)'),
    (re.compile(r'127\.0\.0\.1:\d+'), '127.0.0.1:PORT'),
    (re.compile(r'\[::1\]:\d+'), '[::1]:PORT'),
])


def suite(*files, **kw):
    m = manuel.doctest.Manuel(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        checker=kw.pop('checker', checker))
    m += manuel.capture.Manuel()
    paths = [os.path.join(package, f) for f in files]
    return manuel.testing.TestSuite(
        m, *paths, setUp=kw.pop('setUp', setUp),
        tearDown=kw.pop('tearDown', tearDown), **kw)
