"""Parsing of buildout option values into typed values.

Every parser takes the raw string and raises ``OptionError`` with a message
that does not yet name the part or the option; ``Options`` (below) adds
those, so that every error a user sees reads

    Error: [server] zeo-address: port 70000 is out of range (1-65535)
"""
import os
import re

import zc.buildout


class OptionError(ValueError):
    """A value that cannot be used; the message says why."""


TRUE = ('true', 'yes', 'on', '1')
FALSE = ('false', 'no', 'off', '0')


def boolean(value):
    v = value.strip().lower()
    if v in TRUE:
        return True
    if v in FALSE:
        return False
    raise OptionError(
        '%r is not a boolean (use true/false, yes/no, on/off or 1/0)' % value)


_CONTROL = re.compile(r'[\x00-\x1f\x7f]')


def line(value):
    """A single line of text: no newline or other control character."""
    value = value.strip()
    m = _CONTROL.search(value)
    if m:
        raise OptionError(
            'must be a single line without control characters'
            ' (found %r)' % m.group())
    return value


# Characters that are harmless in a file name, a shell word, a ZConfig value
# and a cron line alike.
_NAME = re.compile(r'[A-Za-z0-9_][A-Za-z0-9_.+-]*\Z')


def name(value):
    """A name used in file names, service names and scripts."""
    value = value.strip()
    if not _NAME.match(value) or '..' in value:
        raise OptionError(
            '%r is not a usable name: use letters, digits, "_", "-", "+" and'
            ' "." (not first, no "..")' % value)
    return value


def integer(value, minimum=None, maximum=None):
    v = value.strip()
    try:
        n = int(v)
    except ValueError:
        raise OptionError('%r is not a whole number' % value)
    if minimum is not None and n < minimum or (
            maximum is not None and n > maximum):
        if maximum is None:
            raise OptionError('%s is too small (at least %s)' % (n, minimum))
        raise OptionError('%s is out of range (%s-%s)' % (n, minimum, maximum))
    return n


# Characters we refuse in paths: anything a shell, ZConfig or zdaemon's
# whitespace-split program line would read differently.
_PATH_BAD = re.compile(r'[\s\x00-\x1f\x7f"\'`$\\;&|<>(){}*?#!~]')


def path(value, base):
    """An absolute, normalized path; relative values are taken from base."""
    value = line(value)
    if not value:
        raise OptionError('is empty')
    m = _PATH_BAD.search(value)
    if m:
        raise OptionError(
            '%r contains %r; paths may not contain white space, quotes or'
            ' shell syntax' % (value, m.group()))
    return os.path.normpath(os.path.join(base, value))


class Address:
    """A ZEO address: TCP (host, port) or a unix socket path."""

    def __init__(self, host=None, port=None, socket=None):
        self.host, self.port, self.socket = host, port, socket

    @property
    def family(self):
        if self.socket:
            return 'unix'
        return 'inet6' if ':' in self.host else 'inet'

    def __str__(self):
        """The form ZEO's ``address`` key and zeopack accept."""
        if self.socket:
            return self.socket
        if ':' in self.host:
            return '[%s]:%s' % (self.host, self.port)
        return '%s:%s' % (self.host, self.port)

    def local(self):
        """What socket.connect takes to reach this server from this host."""
        if self.socket:
            return self.socket
        host = {'0.0.0.0': '127.0.0.1', '::': '::1', '': '127.0.0.1'}.get(
            self.host, self.host)
        return (host, self.port)

    def __eq__(self, other):
        return isinstance(other, Address) and str(self) == str(other)

    def __hash__(self):
        return hash(str(self))

    def __repr__(self):
        return 'Address(%r)' % str(self)


# Not starting with "-": zeopack would read the host as an option.
_HOST = re.compile(r'[A-Za-z0-9_][A-Za-z0-9._-]*\Z')


def port(value):
    return integer(value, 1, 65535)


def address(value, base=None):
    """Parse a ZEO address.

    ``8100`` and ``:8100`` mean 127.0.0.1:8100: listening on every interface
    must be written out (``0.0.0.0:8100`` or ``[::]:8100``).  A value with a
    ``/`` is a unix socket, taken relative to ``base``.
    """
    v = line(value)
    if not v:
        raise OptionError('is empty')
    if '/' in v:
        if base is None and not v.startswith('/'):
            raise OptionError('%r: a unix socket path must be absolute' % v)
        return Address(socket=path(v, base or '/'))
    if v.startswith('['):
        m = re.match(r'\[([0-9A-Fa-f:.]+)\]:(\S+)\Z', v)
        if not m:
            raise OptionError(
                '%r is not an address: IPv6 addresses are written'
                ' [::1]:PORT' % v)
        return Address(m.group(1), port(m.group(2)))
    if ':' in v:
        host, _, p = v.rpartition(':')
        if ':' in host:
            raise OptionError(
                '%r is not an address: write IPv6 addresses as [::1]:PORT'
                % v)
        host = host or '127.0.0.1'
    else:
        host, p = '127.0.0.1', v
    if not _HOST.match(host):
        raise OptionError('%r is not a valid host name' % host)
    try:
        return Address(host, port(p))
    except OptionError as e:
        raise OptionError('%r: port %s' % (v, e))


def addresses(value, base=None):
    """One or more addresses, separated by white space."""
    result = [address(v, base) for v in value.split()]
    if not result:
        raise OptionError('is empty')
    return result


_SIZE = re.compile(r'(\d+)\s*([KMGT]?)B?\Z', re.I)


def size(value):
    """A byte size such as 200MB, 1GB or 4096 (ZConfig's byte-size form)."""
    v = value.strip()
    m = _SIZE.match(v)
    if not m:
        raise OptionError('%r is not a size (such as 500MB or 1GB)' % value)
    return v.upper().replace(' ', '')


class Options:
    """Typed access to a part's options with errors that name them."""

    def __init__(self, part, options):
        self.part = part
        self.options = options

    def error(self, option, message):
        return zc.buildout.UserError(
            '[%s] %s: %s' % (self.part, option, message))

    def has(self, option):
        return option in self.options

    def get(self, option, parser=line, default=None, **kw):
        raw = self.options.get(option)
        if raw is None:
            return default
        try:
            return parser(raw, **kw)
        except OptionError as e:
            raise self.error(option, e)

    def raw(self, option, default=None):
        return self.options.get(option, default)


# -- added for the client recipe ------------------------------------------

_ZCONFIG_UNITS = {'': '', 'K': 'KB', 'M': 'MB', 'G': 'GB'}


def byte_size(value):
    """A size written the way ZConfig's byte-size reads it.

    ZConfig knows only the suffixes KB, MB and GB (any case): ``200M``,
    ``500B`` and ``1TB`` pass ``size`` but not ZConfig, so they are
    rewritten (``200MB``, ``500``, ``1024GB``).
    """
    size(value)
    number, unit = _SIZE.match(value.strip()).groups()
    unit = unit.upper()
    if unit == 'T':
        return '%dGB' % (int(number) * 1024)
    return number + _ZCONFIG_UNITS[unit]


# Characters no requirement needs (version specifiers use <>=!~,.*[]()).
_REQUIREMENT_BAD = re.compile(r'[\'"\\`$;|&#]')


def requirements(value):
    """Distribution requirements (``eggs``), separated by white space."""
    from packaging.requirements import Requirement  # zc.buildout needs it
    result = []
    for word in value.split():
        m = _REQUIREMENT_BAD.search(word)
        if m:
            raise OptionError('%r is not a requirement (it contains %r)'
                              % (word, m.group()))
        try:
            Requirement(word)
        except Exception as e:
            raise OptionError('%r is not a requirement: %s' % (
                word, (str(e).splitlines() or [''])[0]))
        result.append(word)
    return result


def check_private_key(opt, option, path):
    """Refuse a private key that others than its owner can read."""
    mode = os.stat(path).st_mode
    if mode & 0o077:
        raise opt.error(option, '%s is readable by group or others (mode %s):'
                        ' a TLS private key must be private (chmod 600)'
                        % (path, oct(mode & 0o777)))


def existing_path(value, base):
    """A path (see ``path``) that exists when buildout runs."""
    result = path(value, base)
    if not os.path.exists(result):
        raise OptionError('%s does not exist' % result)
    return result
