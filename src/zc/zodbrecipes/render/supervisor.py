"""A supervisord ``[program:NAME]`` section for a ZEO server.

supervisord runs runzeo in the foreground, as zdaemon would.  runzeo exits 0
when stopped with SIGTERM and 2 when its configuration is wrong: both are
"expected" (``exitcodes=0,2``), so ``autorestart=unexpected`` restarts the
server after a crash but does not loop on a broken configuration.
"""
import re

from zc.zodbrecipes.options import OptionError
from zc.zodbrecipes.render import quoting


def _path(path, what):
    """A path in an option value: supervisord expands %(name)s, so "%" is
    doubled; white space and quotes (which its command parser would read)
    are refused.
    """
    return quoting.systemd_word(quoting.abspath(path, what), what)


def render(name, runzeo, config, logfile, user=None, directory=None,
           stop_timeout=300, umask=None):
    """The text of a [program:NAME] section.

    - logfile: where supervisord writes what runzeo prints (startup
      errors, mostly: the server logs to its own event log).
    - stop_timeout: seconds between SIGTERM and SIGKILL: closing a big
      FileStorage writes its index.
    - umask: an octal string, the umask runzeo creates its files with.
    """
    name = quoting.name(name)
    lines = [
        '[program:%s]' % name,
        'command=%s -C %s' % (_path(runzeo, 'runzeo'),
                              _path(config, 'configuration file')),
    ]
    if directory:
        lines.append('directory=' + _path(directory, 'directory'))
    if user:
        lines.append('user=' + quoting.user(user))
    if umask is not None:
        if not re.match(r'0?[0-7]{3}\Z', str(umask)):
            raise OptionError('umask: %r is not an octal umask' % (umask,))
        lines.append('umask=%03o' % int(str(umask), 8))
    lines += [
        'autostart=true',
        'autorestart=unexpected',
        'exitcodes=0,2',
        'stopsignal=TERM',
        'stopwaitsecs=%d' % quoting.whole_number(stop_timeout,
                                                 'stop timeout', 1),
        'redirect_stderr=true',
        'stdout_logfile=' + _path(logfile, 'log file'),
    ]
    return '\n'.join(lines) + '\n'


def render_metrics(name, command, logfile, user=None):
    """A [program:NAME-metrics] section: the control script's ``metrics
    --serve`` (command, an argv), restarted when it exits."""
    name = quoting.name(name)
    lines = [
        '[program:%s-metrics]' % name,
        'command=%s' % ' '.join(_path(word, 'command') if i == 0 else
                                quoting.systemd_word(word, 'command')
                                for i, word in enumerate(command)),
    ]
    if user:
        lines.append('user=' + quoting.user(user))
    lines += [
        'autostart=true',
        'autorestart=true',
        'stopsignal=TERM',
        'redirect_stderr=true',
        'stdout_logfile=' + _path(logfile, 'log file'),
    ]
    return '\n'.join(lines) + '\n'
