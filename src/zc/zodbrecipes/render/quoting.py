"""Checks and quoting shared by the renderers.

Every value that ends up in a shell script, a crontab line, a systemd unit
or a logrotate stanza goes through one of these checks first.  The checks
reject anything that could end a line or start a command (newlines, ``;``,
backticks, ``$(...)``); the quoting then makes the remaining characters
literal for the consumer at hand.
"""
import re
import shlex

from zc.zodbrecipes import options
from zc.zodbrecipes.options import OptionError


def abspath(value, what):
    """An absolute path that is safe in every file we write."""
    if not isinstance(value, str) or not value.startswith('/'):
        raise OptionError('%s: %r is not an absolute path' % (what, value))
    try:
        return options.path(value, '/')
    except OptionError as e:
        raise OptionError('%s: %s' % (what, e))


def storage_name(value, what='storage'):
    """A storage name, as used in ``host:port:storage`` for zeopack."""
    try:
        return options.name(value)
    except OptionError as e:
        raise OptionError('%s: %s' % (what, e))


def name(value, what='name'):
    """A name used in file, unit and program names."""
    return storage_name(value, what)


_USER = re.compile(r'[A-Za-z_][A-Za-z0-9_.-]{0,31}\Z')


def user(value, what='user'):
    """A user or group name."""
    if not isinstance(value, str) or not _USER.match(value):
        raise OptionError(
            '%s: %r is not a user or group name (letters, digits, "_", "-"'
            ' and ".", at most 32)' % (what, value))
    return value


def whole_number(value, what, minimum=0):
    """A non-negative integer given as int or str."""
    if isinstance(value, bool):
        raise OptionError('%s: %r is not a whole number' % (what, value))
    if isinstance(value, int):
        text = str(value)
    else:
        text = value
    try:
        return options.integer(text, minimum)
    except OptionError as e:
        raise OptionError('%s: %s' % (what, e))


class Var:
    """A reference to a shell variable, expanded by the shell at run time.

    Used where a script passes one of its own variables (``"$days"``) in a
    command that is otherwise built from literal words.
    """

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return 'Var(%r)' % self.name


def sh_word(word):
    """One word of a /bin/sh command line."""
    if isinstance(word, Var):
        return '"$%s"' % word.name
    return shlex.quote(word)


def sh_quoted(word):
    """word in single quotes, always (for paths in scripts, for clarity)."""
    if "'" in word:
        return shlex.quote(word)
    return "'%s'" % word


def command(argv, what):
    """Check a command given as argv: an absolute program path, then plain
    words; returns the words as a list."""
    argv = list(argv)
    if not argv:
        raise OptionError('%s: is empty' % what)
    abspath(argv[0], what)
    for word in argv[1:]:
        plain_word(word, what)
    return argv


def sh_command(argv):
    """A /bin/sh command line running argv."""
    return ' '.join(sh_word(w) for w in argv)


def cron_command(argv):
    """A crontab command field running argv.

    cron hands the field to /bin/sh, but first turns every ``%`` into a
    newline: ``\\%`` is how a crontab says a literal percent sign.
    """
    if any(isinstance(w, Var) for w in argv):
        raise TypeError('a crontab line cannot refer to script variables')
    return sh_command(argv).replace('%', '\\%')


def systemd_word(word, what='value'):
    """One word of a systemd command line or path setting.

    systemd splits on white space, honours quotes and backslashes and
    expands ``$VAR`` and ``%`` specifiers; we refuse the first ones and
    double the ``%``.
    """
    word = str(word)
    m = re.search(r'[\s"\'\\$;`]|\A\Z', word)
    if m:
        raise OptionError(
            '%s: %r cannot be used in a systemd unit (white space, quotes,'
            ' "\\", "$" and ";" are not allowed)' % (what, word))
    return word.replace('%', '%%')


def systemd_command(argv):
    return ' '.join(systemd_word(w, 'command') for w in argv)


def plain_word(value, what):
    """A word of a command line: no white space, quotes or shell syntax
    (quoting would make them harmless, but they are never needed here)."""
    value = str(value)
    if not value:
        raise OptionError('%s: an empty word' % what)
    # The characters options.path refuses in paths.
    m = options._PATH_BAD.search(value)
    if m:
        raise OptionError('%s: %r contains %r; white space, quotes and shell'
                          ' syntax are not allowed' % (what, value, m.group()))
    return value


def single_line(value, what):
    """Free text for a comment or description: one line, no control chars."""
    try:
        return options.line(value)
    except OptionError as e:
        raise OptionError('%s: %s' % (what, e))
