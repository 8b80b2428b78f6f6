"""The server recipe's options: one table, read once into typed values.

Each row names an option, the parser that turns its text into a value,
its default, and its group.  The table drives everything that depends on
the list of options: ``read`` (parsing, in table order, so the first
mistake reported is the first in the table), the check that zeo.conf and
the structured options are not both given, the README's option list (a
test checks that they agree), and the warning for a near miss of an option
name.

A new option is one row here, plus the use of its value in the stage that
needs it (config.py for zeo.conf and zdaemon.conf, outputs.py for files).
"""
import collections
import difflib
import os

from zc.zodbrecipes import options as parse
from zc.zodbrecipes import schedule
from zc.zodbrecipes.render import logrotate

# The groups, in the order the README lists them.
GROUPS = collections.OrderedDict([
    ('server', 'The server'),
    ('structured', 'Structured options (an error together with zeo.conf)'),
    ('deployment', 'Log rotation and services'),
    ('jobs', 'Packing and backups'),
    ('plone', "plone.recipe.zeoserver's options"),
])

LOG_LEVELS = ('critical', 'error', 'warn', 'warning', 'info', 'debug',
              'blather', 'trace', 'all')


class Option:
    """A row of the table.

    parser takes (text, layout) and returns the value; default is a value
    or a function of the layout.  inherited options are read from the
    deployment section when the part does not give them.  needs names an
    option (and how an error calls it) without which this one is an error.
    """

    def __init__(self, name, parser, default=None, group='server',
                 inherited=False, needs=None):
        self.name, self.parser, self.default, self.group = (
            name, parser, default, group)
        self.inherited, self.needs = inherited, needs
        # inherited options come from the deployment section; 'buildout'
        # ones (relative-paths) from [buildout]

    def default_for(self, layout):
        return self.default(layout) if callable(self.default) else self.default


# -- parsers: (text, layout) -> value ------------------------------------------

def text(value, layout):
    """ZConfig text, kept as written."""
    return value


def line(value, layout):
    return parse.line(value)


def name(value, layout):
    return parse.name(value)


def boolean(value, layout):
    return parse.boolean(value)


def whole(value, layout):
    return parse.integer(value, 0)


def at_least_one(value, layout):
    return parse.integer(value, 1)


def requirements(value, layout):
    return parse.requirements(value)


def path(value, layout):
    """A path, relative to the buildout directory."""
    return parse.path(value, layout.directory)


def script(value, layout):
    """A script's path, relative to the bin directory."""
    return parse.path(value, layout.bin)


def data_path(value, layout):
    """A path of data or logs, relative to var (as plone.recipe.zeoserver
    takes them)."""
    return parse.path(value, layout.var)


def data_path_or_none(value, layout):
    """A data path, or nothing at all for an empty value."""
    if not value.strip():
        return ''
    return data_path(value, layout)


def script_or_none(value, layout):
    """A script's path (relative to bin), or none at all when empty."""
    if not value.strip():
        return ''
    return script(value, layout)


def existing_file(value, layout):
    return parse.existing_path(value, layout.directory)


def existing_file_or_none(value, layout):
    if not value.strip():
        return ''
    return existing_file(value, layout)


def paths(value, layout):
    """Directories, one or more (extra-paths)."""
    return [path(v, layout) for v in value.split()]


def byte_size(value, layout):
    return parse.byte_size(value)


def wrapper(value, layout):
    """A ZConfig template with one %s where the storage section goes
    (and %% for a literal %)."""
    try:
        filled = value % '\x00'
    except (TypeError, ValueError) as e:
        raise parse.OptionError(
            'must hold %%s once where the storage section goes (%%%% for a'
            ' literal %%): %s' % e)
    if filled.count('\x00') != 1:
        raise parse.OptionError('must hold %s once')
    return value


def removed(advice):
    """A parser for an option that cannot mean anything on ZEO 5+."""
    def parser(value, layout):
        raise parse.OptionError(advice)
    return parser


AUTHENTICATION = (
    'ZEO 5 and later have no authentication: use TLS with client'
    ' certificates (ssl-certificate, ssl-key, ssl-authenticate)')


def address(value, layout):
    return parse.address(value, base=layout.directory)


def log_level(value, layout):
    level = parse.line(value)
    if level.lower() not in LOG_LEVELS:
        raise parse.OptionError('%r is not a log level (%s)' % (
            level, ', '.join(LOG_LEVELS)))
    return level


def dotted_name(value, layout):
    value = parse.line(value)
    if not all(part.isidentifier() for part in value.split('.')):
        raise parse.OptionError('%r is not a dotted name' % value)
    return value


def tcp_address(value, layout):
    """A TCP address (the metrics endpoint: no unix socket)."""
    found = parse.address(value)
    if found.socket:
        raise parse.OptionError('%r: a TCP address is needed' % value.strip())
    return found


def checked(function):
    """A renderer's own check (on the stripped value) as a parser."""
    def parser(value, layout):
        return function(value.strip())
    return parser


BACKUP = ('backup', 'the backup option')
CERTIFICATE = ('ssl-certificate', 'ssl-certificate')
CLIENT_CERTIFICATE = ('ssl-client-certificate', 'ssl-client-certificate')

OPTIONS = [
    Option('name', name),
    Option('deployment', line),
    Option('eggs', requirements, []),
    Option('shell-script', boolean, False),
    Option('effective-user', name, lambda layout: layout.user),
    # 3.1's shell-script option (the rc script switched to that user): the
    # same as effective-user.
    Option('user', name),
    Option('runzeo', script),
    Option('zeopack', script_or_none),
    Option('zdaemon', script),  # accepted for 3.1 buildouts, not used
    Option('socket-name', path, lambda layout: layout.socket),
    Option('zeo.conf', text),
    Option('zdaemon.conf', text, ''),
    # What the control script presents to a TLS server to read its status.
    Option('ssl-client-certificate', existing_file, None),
    Option('ssl-client-key', existing_file, None, needs=CLIENT_CERTIFICATE),
    Option('metrics-address', tcp_address, None),

    Option('zeo-address', address, parse.Address('127.0.0.1', 8100),
           'structured'),
    Option('file-storage', data_path, lambda layout: os.path.join(
        layout.var, 'filestorage', 'Data.fs'), 'structured'),
    Option('blob-storage', data_path_or_none, lambda layout: os.path.join(
        layout.var, 'blobstorage'), 'structured'),
    Option('storage-number', name, '1', 'structured'),
    # A RelStorage instead of the file storage (relconf.py reads it).
    Option('rel-storage', text, None, 'structured'),
    Option('read-only', boolean, None, 'structured'),
    Option('invalidation-queue-size', whole, None, 'structured'),
    Option('invalidation-age', whole, None, 'structured'),
    Option('transaction-timeout', whole, None, 'structured'),
    Option('client-conflict-resolution', boolean, None, 'structured'),
    Option('pack-gc', boolean, None, 'structured'),
    Option('pack-keep-old', boolean, None, 'structured'),
    Option('pid-file', data_path, None, 'structured'),
    Option('zeo-log', data_path, None, 'structured'),
    Option('zeo-log-level', log_level, 'INFO', 'structured'),
    Option('zeo-log-format', line, None, 'structured'),
    Option('ssl-certificate', path, None, 'structured'),
    Option('ssl-key', path, None, 'structured', needs=CERTIFICATE),
    Option('ssl-authenticate', path, None, 'structured', needs=CERTIFICATE),
    Option('ssl-password-function', dotted_name, None, 'structured',
           needs=CERTIFICATE),

    Option('logrotate', boolean, True, 'deployment', inherited=True),
    Option('logrotate-rotate', whole, 14, 'deployment'),
    Option('logrotate-frequency', checked(logrotate.frequency), 'daily',
           'deployment'),
    Option('logrotate-compress', boolean, True, 'deployment'),
    Option('logrotate-size', checked(logrotate.size), None, 'deployment'),
    Option('systemd-directory', path, None, 'deployment', inherited=True),
    Option('supervisor-directory', path, None, 'deployment',
           inherited=True),

    Option('pack', checked(schedule.parse), None, 'jobs'),
    Option('backup', checked(schedule.parse), None, 'jobs'),
    Option('backup-directory', path, lambda layout: layout.backups, 'jobs',
           needs=BACKUP),
    Option('backup-keep', at_least_one, 7, 'jobs', needs=BACKUP),
    Option('backup-drill', checked(schedule.parse), None, 'jobs',
           needs=BACKUP),
    # pg_dump's and pg_restore's directory (a RelStorage on PostgreSQL).
    Option('postgresql-bin', path, None, 'jobs', needs=BACKUP),
    # The RelStorage to copy the file storage into (relconf.py reads it).
    Option('migrate-to', text, None, 'jobs'),

    Option('var', path, None, 'plone'),
    Option('zeo-var', path, None, 'plone'),
    Option('zeo-conf', existing_file, None, 'plone'),
    Option('zeo-conf-additional', text, '', 'plone'),
    Option('storage-wrapper', wrapper, None, 'plone'),
    Option('zeo-log-custom', text, None, 'plone'),
    Option('zeo-log-max-size', byte_size, None, 'plone'),
    Option('zeo-log-old-files', whole, None, 'plone',
           needs=('zeo-log-max-size', 'zeo-log-max-size')),
    Option('pack-days', whole, 1, 'plone'),
    Option('zeopack-script-name', name, 'zeopack', 'plone'),
    Option('repozo', existing_file_or_none, None, 'plone'),
    Option('repozo-script-name', name, 'repozo', 'plone'),
    Option('extra-paths', paths, [], 'plone'),
    Option('relative-paths', boolean, False, 'plone', inherited='buildout'),
    Option('pack-user', removed(AUTHENTICATION), None, 'plone'),
    Option('pack-password', removed(AUTHENTICATION), None, 'plone'),
    Option('authentication-database', removed(AUTHENTICATION), None,
           'plone'),
    Option('authentication-realm', removed(AUTHENTICATION), None, 'plone'),
    Option('monitor-address', removed(
        'ZEO 5 removed the monitor server: "bin/NAME status" asks the'
        ' server how it is'), None, 'plone'),
    Option('replicate-to', removed(
        'zc.zrs (ZEO replication) does not work with ZODB 6; see'
        ' RelStorage for a database several servers share'), None, 'plone'),
    Option('replicate-from', removed(
        'zc.zrs (ZEO replication) does not work with ZODB 6; see'
        ' RelStorage for a database several servers share'), None, 'plone'),
    Option('keep-alive-delay', removed(
        'zc.zrs (ZEO replication) does not work with ZODB 6'), None,
        'plone'),
]
BY_NAME = {o.name: o for o in OPTIONS}
STRUCTURED = [o.name for o in OPTIONS if o.group == 'structured']
# Options that stand for zeo.conf as a whole (structured ones may not be
# given with them).
WHOLE_CONF = ('zeo.conf', 'zeo-conf')


class Settings(dict):
    """Option name -> typed value, for every option of the table, plus
    ``given``: the names of the options the part sets itself."""

    def __init__(self, values, given):
        dict.__init__(self, values)
        self.given = given


def read_layout_options(opt, part, buildout):
    """The part's name, deployment section and var directory, which choose
    the layout (var: relative to the buildout directory)."""
    directory = buildout['buildout']['directory']
    if opt.has('var') and opt.has('zeo-var'):
        raise opt.error('zeo-var', 'give var or zeo-var (the same), not both')
    var = (opt.get('var', parse.path, None, base=directory)
           or opt.get('zeo-var', parse.path, None, base=directory))
    return (opt.get('name', parse.name, part),
            opt.get('deployment', parse.line, None), var)


def read(opt, layout):
    """Every option of the table, parsed in table order (errors name the
    part and the option), with defaults for the layout."""
    values = {}
    given = set()
    for option in OPTIONS:
        values[option.name] = _read(opt, layout, option, given)
    whole = [n for n in WHOLE_CONF if n in given]
    if len(whole) > 1:
        raise opt.error('zeo-conf', 'give zeo.conf (the text) or zeo-conf (a'
                        ' file), not both')
    if whole:
        structured = [n for n in STRUCTURED if n in given]
        if structured:
            raise opt.error(
                whole[0], 'give either %s or the structured options (%s),'
                ' not both' % (whole[0], ', '.join(structured)))
    if 'user' in given:
        if 'effective-user' in given:
            raise opt.error('user', 'give user or effective-user (the same),'
                            ' not both')
        values['effective-user'] = values['user']
    for option in OPTIONS:
        if option.needs and option.name in given:
            needed, called = option.needs
            if needed not in given:
                raise opt.error(option.name, 'needs %s' % called)
    return Settings(values, given)


def _read(opt, layout, option, given):
    if opt.has(option.name):
        given.add(option.name)
        return opt.get(option.name, option.parser, layout=layout)
    if option.inherited == 'buildout':
        value = layout.buildout_options.get(option.name)
        if value is None:
            return option.default_for(layout)
        try:
            return option.parser(value, layout)
        except parse.OptionError as e:
            raise opt.error(option.name, '[buildout] %s: %s' % (
                option.name, e))
    section = layout.section
    if option.inherited and section is not None and option.name in section:
        try:
            return option.parser(section[option.name], layout)
        except parse.OptionError as e:
            raise opt.error('deployment', 'section %s, %s: %s' % (
                opt.raw('deployment'), option.name, e))
    return option.default_for(layout)


def near_misses(given):
    """(option, known option) for each given option that is not in the
    table but looks like one (a misspelling buildout would only call
    unused)."""
    names = list(BY_NAME)
    for option in sorted(given):
        if option not in BY_NAME:
            close = difflib.get_close_matches(option, names, 1, 0.8)
            if close:
                yield option, close[0]


def mark_used(options):
    """Read every option of the table, as a full build does (buildout
    warns about the options a part never read)."""
    for option in OPTIONS:
        options.get(option.name)
