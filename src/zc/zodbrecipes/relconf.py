"""The ``rel-storage`` option: a RelStorage as lines of ``key value``.

The format is the one plone.recipe.zope2instance reads, so that a site
can move its option over unchanged::

    rel-storage =
        type postgresql
        dbname zodb
        host 127.0.0.1
        user zope
        keep-history false

``type`` names the adapter (postgresql, mysql, sqlite3).  A key of
RelStorage's own ``<relstorage>`` section goes there; every other key goes
to the adapter.  PostgreSQL's adapter takes one connection string
(``dsn``): connection parameters such as ``host``, ``dbname``, ``user``
or ``password`` are written into it, quoted as libpq reads them.

Which keys are RelStorage's is read from RelStorage's own schema
(``component.xml``) in the environment the part runs in, so a new
RelStorage key needs no change here.  The text is then validated by
loading it with ZODB's and RelStorage's schemas (see client.py).

Values are single lines (buildout splits option values at newlines, and
ZConfig's ``$`` is quoted), and keys are plain words: no value can add a
line or a section to the configuration.
"""
import os
import re
import sys
import xml.etree.ElementTree

from zc.zodbrecipes import options as parse
from zc.zodbrecipes import zconf

TYPES = ('postgresql', 'mysql', 'sqlite3')

# The driver distribution each adapter needs unless the user names
# another one in tool-eggs (the key is the adapter's ``driver`` value).
DRIVER_EGGS = {
    'postgresql': {'auto': 'psycopg2-binary', 'psycopg2': 'psycopg2-binary',
                   'psycopg2cffi': 'psycopg2cffi', 'pg8000': 'pg8000'},
    'mysql': {'auto': 'PyMySQL', 'pymysql': 'PyMySQL',
              'mysqlclient': 'mysqlclient'},
    'sqlite3': {},
}

# Keys that carry a secret, in any adapter.
SECRET_KEYS = ('password', 'passwd')

_KEY = re.compile(r'[A-Za-z][A-Za-z0-9_-]*\Z')


class Line:
    """One ``key value`` line of the option: number (from 1), key, value."""

    def __init__(self, number, key, value, text):
        self.number, self.key, self.value, self.text = (
            number, key, value, text)

    def where(self, option):
        return '%s, line %s %r' % (option, self.number, self.text)


def parse_lines(value):
    """The option's lines as Line values; blank lines and # comments are
    skipped.  Raises OptionError naming the line."""
    result = []
    for number, text in enumerate(value.splitlines(), 1):
        text = text.strip()
        if not text or text.startswith('#'):
            continue
        key, _, rest = text.partition(' ')
        if not _KEY.match(key):
            raise parse.OptionError('line %s %r: %r is not a key' % (
                number, text, key))
        try:
            rest = parse.line(rest)
        except parse.OptionError as e:
            raise parse.OptionError('line %s: %s' % (number, e))
        result.append(Line(number, key.lower(), rest, text))
    return result


# -- RelStorage's schema ---------------------------------------------------

def package_dir(sys_path):
    """The directory of the relstorage package on sys_path (or None)."""
    for entry in list(sys_path) + sys.path:
        candidate = os.path.join(entry, 'relstorage', 'component.xml')
        if os.path.isfile(candidate):
            return os.path.dirname(candidate)
    return None


_schema_keys = {}


def schema_keys(directory):
    """{section type: set of key names} from RelStorage's component.xml
    and its adapters' components."""
    if directory in _schema_keys:
        return _schema_keys[directory]
    found = {}
    paths = [os.path.join(directory, 'component.xml')]
    adapters = os.path.join(directory, 'adapters')
    if os.path.isdir(adapters):
        paths.extend(os.path.join(adapters, d, 'component.xml')
                     for d in sorted(os.listdir(adapters)))
    for path in paths:
        if not os.path.isfile(path):
            continue
        root = xml.etree.ElementTree.parse(path).getroot()
        for section in root.iter('sectiontype'):
            keys = found.setdefault(section.get('name').lower(), set())
            keys.update(k.get('name').lower() for k in section
                        if k.tag in ('key', 'multikey'))
    _schema_keys[directory] = found
    return found


# -- the option --------------------------------------------------------------

class RelStorage:
    """What a ``rel-storage`` option says, ready to render.

    ``storage`` and ``adapter`` are lists of (key, value, Line or None);
    ``eggs`` the distributions the part's environment needs; ``secret``
    whether the rendered text holds a password; ``directories`` the
    directories the part creates (caches, SQLite's data directory).
    """

    def __init__(self, type_, storage, adapter, eggs, secret, directories,
                 type_line=None):
        self.type, self.storage, self.adapter = type_, storage, adapter
        self.type_line = type_line
        self.eggs, self.secret, self.directories = eggs, secret, directories

    def lines(self, indent='  ', name=None):
        """(text, Line or None) for each line of the <relstorage> section."""
        head = self.type_line  # errors of a whole section name the type
        result = [('%s<relstorage%s>' % (indent, ' ' + name if name else ''),
                   head)]
        result.extend(('%s  %s %s' % (indent, key, zconf.quote(value)), src)
                      for key, value, src in self.storage)
        result.append(('%s  <%s>' % (indent, self.type), head))
        result.extend(('%s    %s %s' % (indent, key, zconf.quote(value)), src)
                      for key, value, src in self.adapter)
        result.append(('%s  </%s>' % (indent, self.type), head))
        result.append(('%s</relstorage>' % indent, head))
        return result

    def text(self, indent='  ', name=None):
        return ''.join(t + '\n' for t, _ in self.lines(indent, name))


def needed_eggs(value):
    """The distributions a rel-storage value needs: relstorage and the
    driver of its adapter.  Raises OptionError."""
    lines = parse_lines(value)
    if not lines or lines[0].key != 'type':
        raise parse.OptionError('the first line must be "type NAME" (one of'
                                ' %s)' % ', '.join(TYPES))
    type_ = lines[0].value.lower()
    if type_ not in TYPES:
        raise parse.OptionError('line %s %r: the type must be one of %s' % (
            lines[0].number, lines[0].text, ', '.join(TYPES)))
    driver = dict((l.key, l.value) for l in lines).get('driver', 'auto')
    egg = DRIVER_EGGS[type_].get(driver.lower())
    return ['relstorage'] + ([egg] if egg else [])


def read(value, base, var, sys_path, defaults=True):
    """Read a rel-storage option value; raise OptionError.

    ``var`` is the part's own directory for the per-client defaults (a
    blob cache and a persistent local cache); ``defaults`` False leaves
    them out (a pack or migration configuration needs no cache).
    """
    eggs = needed_eggs(value)
    lines = parse_lines(value)
    type_ = lines[0].value.lower()
    seen = {}
    for line in lines[1:]:
        if line.key == 'type':
            raise parse.OptionError('line %s: type is given twice' %
                                    line.number)
        if line.key in seen:
            raise parse.OptionError('line %s %r: %s is already set on line %s'
                                    % (line.number, line.text, line.key,
                                       seen[line.key]))
        seen[line.key] = line.number
    directory = package_dir(sys_path)
    if directory is None:
        raise parse.OptionError('the relstorage package is not in the'
                                ' environment (tool-eggs)')
    own = schema_keys(directory)['relstorage']
    storage = [(l.key, l.value, l) for l in lines[1:] if l.key in own]
    rest = [l for l in lines[1:] if l.key not in own]
    directories = []

    def path_key(key, default):
        for i, (k, v, src) in enumerate(storage):
            if k == key:
                try:
                    p = parse.path(v, base)
                except parse.OptionError as e:
                    raise parse.OptionError('line %s %r: %s' % (
                        src.number, src.text, e))
                storage[i] = (k, p, src)
                return p
        if default:
            storage.append((key, default, None))
        return default

    shared = _flag(storage, 'shared-blob-dir')
    if shared and 'blob-dir' not in seen:
        raise parse.OptionError(
            'shared-blob-dir is true: give blob-dir, the directory every'
            ' client shares (with shared-blob-dir false, the default, blobs'
            ' live in the database and blob-dir is a cache of each'
            ' client\'s own)')
    blob_dir = path_key('blob-dir', defaults and os.path.join(
        var, 'blobcache'))
    if blob_dir:
        directories.append(blob_dir)
    local = path_key('cache-local-dir', defaults and os.path.join(
        var, 'relstorage-cache'))
    if local:
        directories.append(local)

    if type_ == 'postgresql':
        adapter, secret = _postgresql(rest, sys_path)
    else:
        adapter = [(l.key, l.value, l) for l in rest]
        secret = any(k in SECRET_KEYS for k, _, _ in adapter)
    if type_ == 'sqlite3':
        for i, (k, v, src) in enumerate(adapter):
            if k == 'data-dir':
                try:
                    adapter[i] = (k, parse.path(v, base), src)
                except parse.OptionError as e:
                    raise parse.OptionError('line %s: %s' % (src.number, e))
                directories.append(adapter[i][1])
    return RelStorage(type_, storage, adapter, eggs, secret, directories,
                      lines[0])


def _flag(items, key):
    for k, v, src in items:
        if k == key:
            try:
                return parse.boolean(v)
            except parse.OptionError as e:
                raise parse.OptionError('line %s %r: %s' % (
                    src.number, src.text, e))
    return False


# -- PostgreSQL: connection parameters into one dsn ---------------------------

def dsn_quote(value):
    """A libpq connection-string value: in single quotes, with ' and \\
    escaped by a backslash."""
    return "'%s'" % value.replace('\\', '\\\\').replace("'", "\\'")


def _postgresql(lines, sys_path):
    """(adapter keys, secret) for PostgreSQL's adapter section."""
    own = ('driver', 'dsn')
    adapter = [(l.key, l.value, l) for l in lines if l.key in own]
    params = [l for l in lines if l.key not in own]
    check = _dsn_checker(sys_path)
    given = [v for k, v, _ in adapter if k == 'dsn']
    if given and params:
        raise parse.OptionError(
            'line %s %r: give either dsn or connection parameters (host,'
            ' dbname, user, ...), not both' % (params[0].number,
                                                params[0].text))
    if given:
        parsed = check(given[0])
        if parsed is not None and not isinstance(parsed, dict):
            src = [s for k, _, s in adapter if k == 'dsn'][0]
            raise parse.OptionError('line %s: dsn: %s' % (src.number, parsed))
        secret = ('password' in parsed if parsed is not None else bool(
            re.search(r'password\s*=|://[^/@]*:[^/@]*@', given[0])))
        return adapter, secret
    parts = []
    for line in params:
        if line.key.replace('-', '_') != line.key:
            raise parse.OptionError(
                'line %s %r: %s is neither a RelStorage key nor a PostgreSQL'
                ' connection parameter' % (line.number, line.text, line.key))
        part = '%s=%s' % (line.key, dsn_quote(line.value))
        problem = check(part)
        if problem is not None and not isinstance(problem, dict):
            raise parse.OptionError(
                'line %s %r: %s is neither a RelStorage key nor a PostgreSQL'
                ' connection parameter (%s)' % (line.number, line.text,
                                                line.key, problem))
        parts.append(part)
    if parts:
        adapter.append(('dsn', ' '.join(parts), params[0]))
    return adapter, any(l.key == 'password' for l in params)


def _dsn_checker(sys_path):
    """A function dsn -> dict of its parameters, or an error message; None
    when no libpq parser (psycopg2) is at hand."""
    added = [p for p in sys_path if p not in sys.path]
    sys.path[:0] = added
    try:
        from psycopg2.extensions import parse_dsn
    except ImportError:
        return lambda dsn: None
    finally:
        for p in added:
            sys.path.remove(p)

    def check(dsn):
        try:
            return parse_dsn(dsn)
        except Exception as e:
            return str(e).strip().splitlines()[0]
    return check


def public_dsn(dsn):
    """A dsn for messages: without its password."""
    dsn = re.sub(r"\s*\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", '', dsn)
    return re.sub(r'(://[^/:@]*):[^/@]*@', r'\1@', dsn).strip()
