"""A deployment whose server runs as a real unprivileged user.

What the service-user tests share:

- ``Account``: a system user made with ``useradd --system`` (a name of
  this process's own, so that concurrent test runs do not meet), removed
  again by ``close``;
- ``Interpreter``: a venv made from Debian's ``/usr/bin/python3``, which
  every user can execute (the interpreter the tests run under lives below
  /root, mode 0700, and the service user cannot run it).  It has no pip and
  no packages of its own: a ``.pth`` file adds the site-packages of the
  venv buildout runs from (zc.buildout, setuptools, both pure Python), and
  the sample buildout takes its eggs from the checkout's eggs directory
  (world-readable), so that buildout itself, and every script it generates,
  runs under an interpreter the service user can use -- as on a production
  machine, where buildout runs with the system's Python;
- ``Deployment``: a buildout of a zc.recipe.deployment part (user: the
  account) and server parts in deployment mode, under a temporary directory
  every user can traverse, built as root with that interpreter.

``runas(user, argv)`` runs a command as another user the way cron,
logrotate's ``su`` and systemd do (``runuser -u``: no login shell).
"""
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap

import zc.buildout

from zc.zodbrecipes import talk
from zc.zodbrecipes.tests import harness
from zc.zodbrecipes.tests import tools


SYSTEM_PYTHON = '/usr/bin/python3'


def require_root():
    import unittest
    if os.geteuid() != 0:
        raise unittest.SkipTest('needs root: creates a system user')
    if not shutil.which('useradd') or not shutil.which('runuser'):
        raise unittest.SkipTest('needs useradd and runuser')


class Account:
    """An unprivileged system user of its own."""

    def __init__(self, prefix='zrsvc'):
        self.name = '%s%d' % (prefix, os.getpid())
        subprocess.run(['useradd', '--system', '--no-create-home',
                        '--shell', '/usr/sbin/nologin', self.name],
                       check=True)
        record = pwd.getpwnam(self.name)
        self.uid, self.gid = record.pw_uid, record.pw_gid
        import grp
        self.group = grp.getgrgid(self.gid).gr_name

    def close(self):
        """userdel refuses a user whose processes still run: the servers
        the tests started are being stopped; wait for them (bounded)."""
        def deleted():
            return subprocess.run(
                ['userdel', self.name], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL).returncode in (0, 6)  # 6: gone
        if not talk.wait_for(deleted, 30, interval=0.2):
            print('could not remove the test user %s' % self.name,
                  file=sys.stderr)


class Interpreter:
    """A venv of /usr/bin/python3 that finds zc.buildout."""

    def __init__(self, directory):
        tools.require('python3-venv')
        self.prefix = os.path.join(directory, 'venv')
        subprocess.run([SYSTEM_PYTHON, '-m', 'venv', '--without-pip',
                        self.prefix], check=True)
        self.python = os.path.join(self.prefix, 'bin', 'python')
        site_packages = subprocess.run(
            [self.python, '-c', 'import sysconfig;'
             ' print(sysconfig.get_paths()["purelib"])'],
            check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
        # zc.buildout's own site-packages: buildout, setuptools.
        buildout_site = os.path.dirname(os.path.dirname(
            os.path.dirname(zc.buildout.__file__)))
        with open(os.path.join(site_packages, 'zc-buildout.pth'), 'w') as f:
            f.write('import site; site.addsitedir(%r)\n' % buildout_site)


def eggs_directory():
    eggs = os.environ.get('ZC_ZODBRECIPES_EGGS')
    if not eggs:
        import unittest
        raise unittest.SkipTest('run under bin/test (ZC_ZODBRECIPES_EGGS)')
    if os.path.basename(eggs) == 'v5':  # buildout adds it again
        eggs = os.path.dirname(eggs)
    return eggs


def runas(user, argv, timeout=300, **kw):
    """argv as user (None: as root); a CompletedProcess with text output
    (stderr folded into stdout)."""
    if user:
        argv = ['runuser', '-u', user, '--'] + list(argv)
    return subprocess.run(argv, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, **kw)


def owner(path):
    return pwd.getpwuid(os.stat(path).st_uid).pw_name


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def process_user(pid):
    """The name of the user process pid runs as (its real uid)."""
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('Uid:'):
                return pwd.getpwuid(int(line.split()[1])).pw_name


class Deployment:
    """A sample buildout under directory, built with interpreter."""

    def __init__(self, directory, interpreter, account):
        self.directory = os.path.join(directory, 'buildout')
        self.interpreter = interpreter
        self.account = account
        os.makedirs(os.path.join(self.directory, 'develop-eggs'))
        # An empty package index: nothing is downloaded (offline mode
        # would not look in the eggs directory's v5 subdirectory).
        self.index = os.path.join(directory, 'index')
        os.mkdir(self.index)
        # zc.zodbrecipes itself, as zc.buildout.testing.install_develop
        # does: a link to this checkout's src.
        import zc.zodbrecipes
        src = os.path.dirname(os.path.dirname(os.path.dirname(
            zc.zodbrecipes.__file__)))
        with open(os.path.join(self.directory, 'develop-eggs',
                               'zc.zodbrecipes.egg-link'), 'w') as f:
            f.write(src)
        self.deploy = os.path.join(self.directory, 'deploy')

    def path(self, *parts):
        return os.path.join(self.directory, *parts)

    def buildout(self, parts_text, parts='app zeo', python=None):
        """Write buildout.cfg (the [buildout] section and the deployment
        [app] part, plus parts_text) and run buildout as root (with python,
        by default the interpreter every user can run); the
        CompletedProcess."""
        text = textwrap.dedent('''\
            [buildout]
            parts = %(parts)s
            eggs-directory = %(eggs)s
            newest = false
            index = file://%(index)s

            [app]
            recipe = zc.recipe.deployment
            prefix = %(deploy)s
            user = %(user)s
            etc-user = root
            ''') % dict(parts=parts, eggs=eggs_directory(), index=self.index,
                        deploy=self.deploy, user=self.account.name)
        with open(self.path('buildout.cfg'), 'w') as f:
            f.write(text + textwrap.dedent(parts_text))
        env = dict(os.environ, HOME=self.directory,
                   PYTHONWARNINGS='ignore::UserWarning')
        return runas(None, [
            python or self.interpreter.python, '-c',
            'import sys; from zc.buildout.buildout import main;'
            ' sys.argv[0] = "buildout"; main()',
            '-c', self.path('buildout.cfg')], cwd=self.directory, env=env)

    def close(self):
        """Stop every server of the deployment (found by its zdaemon
        socket), whatever state the test left it in."""
        harness.stop_servers(self.directory)


def make_fixture():
    """(temporary directory, account, interpreter, deployment)."""
    require_root()
    tools.require('flock')
    top = tempfile.mkdtemp(prefix='zodbrecipes-svc-')
    os.chmod(top, 0o755)  # the service user traverses it
    account = Account()
    try:
        interpreter = Interpreter(top)
        deployment = Deployment(top, interpreter, account)
    except BaseException:
        account.close()
        shutil.rmtree(top)
        raise
    return top, account, interpreter, deployment


def server_zeo_conf(deploy_name, port, name='zeo'):
    return textwrap.dedent('''\
        <zeo>
          address 127.0.0.1:%(port)s
        </zeo>
        <filestorage 1>
          path ${app:lib-directory}/%(name)s-Data.fs
          blob-dir ${app:lib-directory}/%(name)s-blobs
        </filestorage>
        <eventlog>
          <logfile>
            path ${app:log-directory}/%(name)s-events.log
          </logfile>
        </eventlog>
        ''') % dict(port=port, name=name)


def wait_stopped(pids, timeout=60):
    return talk.wait_for(lambda: not any(talk.alive(p) for p in pids),
                         timeout)


free_port = harness.free_port
python = sys.executable
