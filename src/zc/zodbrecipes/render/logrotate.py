"""A logrotate stanza for the logs of a ZEO server.

The server keeps its log files open.  After logrotate has renamed them, the
``postrotate`` script asks the server to reopen them (for the control
script: ``logreopen``), and ``delaycompress`` leaves the newest rotated file
uncompressed until the next rotation, so nothing still being written is
compressed.
"""
import re

from zc.zodbrecipes.options import OptionError
from zc.zodbrecipes.render import quoting


FREQUENCIES = ('daily', 'weekly', 'monthly', 'yearly')

_SIZE = re.compile(r'([0-9]+)\s*([kKmMgG]?)[bB]?\Z')


def size(value):
    """A logrotate size: 500k, 100M, 1G (100MB and 1gb are accepted too)."""
    m = _SIZE.match(str(value).strip())
    if not m:
        raise OptionError(
            'size: %r is not a size such as 500k, 100M or 1G' % (value,))
    number, unit = m.groups()
    return number + {'k': 'k', 'm': 'M', 'g': 'G', '': ''}[unit.lower()]


def frequency(value):
    if value not in FREQUENCIES:
        raise OptionError('frequency: %r is not one of %s'
                          % (value, ', '.join(FREQUENCIES)))
    return value


def log_path(value):
    path = quoting.abspath(value, 'log')
    if '[' in path or ']' in path:
        # logrotate would read them as a glob pattern.
        raise OptionError('log: %r: "[" and "]" are not allowed' % path)
    return path


def render(logs, reopen_command, rotate=14, frequency='daily', compress=True,
           size=None, user=None, group=None):
    """The text of a logrotate configuration for the given log files.

    - logs: absolute paths of the log files.
    - reopen_command: argv of a command that makes the server reopen them.
    - rotate: how many rotated files to keep; frequency: how often.
    - size: also rotate a log once it is bigger than this (``maxsize``).
    - user, group: who owns the logs; logrotate then works as that user
      (``su``) and creates the new files for them (``create``).  The group
      defaults to the user's name.
    """
    lines = ['# Log rotation for a ZEO server, written by zc.zodbrecipes.']
    paths = [log_path(p) for p in logs]
    if not paths:
        raise OptionError('log: there is no log file to rotate')
    lines.append(' '.join(paths) + ' {')
    lines.extend('    ' + d for d in _directives(
        rotate, frequency, compress, size, user, group))
    lines.extend([
        '    sharedscripts',
        '    postrotate',
        '        ' + _reopen(reopen_command),
        '    endscript',
        '}',
    ])
    return '\n'.join(lines) + '\n'


def _directives(rotate, freq, compress, max_size, user, group):
    yield frequency(freq)
    yield 'rotate %d' % quoting.whole_number(rotate, 'rotate')
    if max_size is not None:
        yield 'maxsize ' + size(max_size)
    yield 'missingok'
    yield 'notifempty'
    if compress:
        yield 'compress'
        yield 'delaycompress'
    if user:
        owner = '%s %s' % (quoting.user(user, 'user'),
                           quoting.user(group or user, 'group'))
        yield 'su ' + owner
        yield 'create 0640 ' + owner


# The control script's exit status when no server runs (LSB): a stopped
# server has no log open, so there is nothing to reopen and nothing wrong.
NOT_RUNNING = 7


def _reopen(argv):
    return '%s || [ $? -eq %d ]' % (
        quoting.sh_command(quoting.command(argv, 'reopen command')),
        NOT_RUNNING)
