"""ZConfig text: small edits that keep the user's text, and validation.

The user's ``zeo.conf`` and ``zdaemon.conf`` are theirs: comments, order,
case and directives stay as written.  We only add what is missing (an
``<eventlog>``, ``<runner>`` keys) and then load the complete text with the
real schemas, so that a mistake is reported at build time with its line.
"""
import io
import os
import re
import sys
import urllib.parse
import urllib.request

# ZConfig is imported where it is used: a no-op buildout run whose parts
# are unchanged (see stamps.py) does not need it.


def quote(value):
    """A value ZConfig reads back as written: ``$`` starts a substitution."""
    return str(value).replace('$', '$$')


def lines(text, keepends=False):
    """The lines of text as ZConfig reads them: a line ends at "\n" only
    (ZConfig reads a file whole into a StringIO and calls readline).
    str.splitlines also ends lines at "\r", "\f", "\x85", U+2028 and
    others: there, the rest of a comment such as "# old\u2028user root"
    would look like a ``user`` key that ZConfig never sees."""
    found = re.findall(r'[^\n]*\n|[^\n]+\Z', text)
    return found if keepends else [line[:-1] if line.endswith('\n')
                                   else line for line in found]


def has_section(text, type_):
    return re.search(r'(?im)^\s*<%s(\s[^>]*)?>' % re.escape(type_), text)


def ensure_newline(text):
    return text if text.endswith('\n') or not text else text + '\n'


def render_section(type_, keys, name=None, indent='  '):
    head = '<%s %s>' % (type_, name) if name else '<%s>' % type_
    lines = [head]
    lines.extend('%s%s %s' % (indent, k, quote(v)) for k, v in keys)
    lines.append('</%s>' % type_)
    return '\n'.join(lines) + '\n'


LOG_FORMAT = '%(asctime)s %(levelname)s %(name)s %(message)s'


def logfile_eventlog(path, level=None, format=None, more=()):
    inner = [('path', path), ('format', format or LOG_FORMAT)] + list(more)
    text = '<eventlog>\n'
    if level:
        text += '  level %s\n' % quote(level)
    text += '  <logfile>\n'
    text += ''.join('    %s %s\n' % (k, quote(v)) for k, v in inner)
    text += '  </logfile>\n</eventlog>\n'
    return text


def merge_section_keys(text, type_, defaults):
    """Add the (key, value) defaults that the section does not set.

    Keys are case-insensitive in ZConfig.  The keys are inserted just
    before the section's end tag, in the section's indentation; without
    such a section, a new one is appended.
    """
    text_lines = lines(ensure_newline(text), keepends=True)
    start = end = None
    for i, line in enumerate(text_lines):
        if start is None and re.match(
                r'\s*<%s(\s[^>]*)?>\s*$' % re.escape(type_), line, re.I):
            start = i
        elif start is not None and re.match(
                r'\s*</%s\s*>\s*$' % re.escape(type_), line, re.I):
            end = i
            break
    if start is None or end is None:
        return ''.join(text_lines) + render_section(type_, defaults)
    present = set()
    indent = '  '
    for line in text_lines[start + 1:end]:
        words = line.split()
        if words and not words[0].startswith(('#', '<', '%')):
            present.add(words[0].lower())
            indent = line[:len(line) - len(line.lstrip())]
    added = ['%s%s %s\n' % (indent, k, quote(v))
             for k, v in defaults if k.lower() not in present]
    return ''.join(text_lines[:end] + added + text_lines[end:])


# Keys removed from ZEO's <zeo> section in ZEO 5, and what replaces them.
REMOVED = {
    'monitor-address': (
        'the monitor server was removed in ZEO 5; ask the server with'
        ' "bin/<name> status" or zeo-nagios instead'),
    'authentication-protocol': (
        'authentication was removed in ZEO 5; use TLS: an <ssl> section'
        ' in <zeo> with "authenticate" for client certificates'),
    'authentication-database': None,
    'authentication-realm': None,
}
REMOVED['authentication-database'] = REMOVED['authentication-protocol']
REMOVED['authentication-realm'] = REMOVED['authentication-protocol']


def removed_keys(text):
    """(lineno, line, key, advice) for each key ZEO no longer knows."""
    for n, line in enumerate(lines(text), 1):
        words = line.split()
        if words and words[0].lower() in REMOVED:
            yield n, line.strip(), words[0], REMOVED[words[0].lower()]


# -- validation -------------------------------------------------------------

def _lenient_dirpath(value):
    # ZConfig's existing-dirpath insists that the parent directory exists.
    # The recipe creates data, blob and log directories at install time,
    # after validation, so here a path only has to be a path.
    return os.path.abspath(value)


_schemas = {}


def schema(path):
    """The schema at path, loaded once per process."""
    try:
        return _schemas[path]
    except KeyError:
        import ZConfig.datatypes
        import ZConfig.loader
        stock = ZConfig.datatypes.stock_datatypes.copy()
        stock['existing-dirpath'] = _lenient_dirpath
        registry = ZConfig.datatypes.Registry(stock)
        for dotted in ('zdaemon.zdoptions.existing_parent_dirpath',
                       'zdaemon.zdoptions.existing_parent_directory'):
            registry.register(dotted, os.path.expanduser)
        s = ZConfig.loader.SchemaLoader(registry).loadURL(path)
        _schemas[path] = s
        return s


def zeo_schema():
    import ZEO
    return schema(os.path.join(os.path.dirname(ZEO.__file__), 'schema.xml'))


def zdaemon_schema():
    import zdaemon
    return schema(
        os.path.join(os.path.dirname(zdaemon.__file__), 'schema.xml'))


class ConfigError(Exception):
    """A configuration text failed to load: message, line number, line."""

    def __init__(self, message, lineno=None, line=None, url=None):
        Exception.__init__(self, message)
        self.message, self.lineno, self.line, self.url = (
            message, lineno, line, url)

    def describe(self, label):
        where = label
        if self.url:
            where = '%s (in %s)' % (label, self.url)
        if self.lineno:
            where += ', line %s' % self.lineno
            if self.line:
                where += ' %r' % self.line
        return '%s: %s' % (where, self.message)


def _line(text, lineno):
    found = lines(text)
    if lineno and 0 < lineno <= len(found):
        return found[lineno - 1].strip()


def _file_url(path):
    return 'file://' + urllib.request.pathname2url(path)


def load(schema, text, path, extra_path=()):
    """Load text as if it were the file at path; raise ConfigError.

    ``extra_path`` holds sys.path entries under which ``%import``-ed
    packages resolve (the environment the server will run in).
    """
    import ZConfig
    added = [p for p in extra_path if p not in sys.path]
    sys.path[:0] = added
    url = _file_url(path)
    try:
        config, _ = ZConfig.loadConfigFile(schema, io.StringIO(text), url)
        return config
    except ZConfig.ConfigurationError as e:
        lineno = getattr(e, 'lineno', None)
        err_url = getattr(e, 'url', None)
        message = getattr(e, 'message', None) or str(e)
        message = re.sub(r'\s*\(line \d+\)', '', message)
        message = re.sub(r' at line \d+$', '', message)
        if err_url and err_url != url:
            # The error is in an %include-d file.
            src = urllib.parse.urlparse(err_url).path
            try:
                with open(src) as f:
                    other = f.read()
            except OSError:
                other = ''
            raise ConfigError(message, lineno, _line(other, lineno), src)
        if not lineno:
            lineno = _guess_line(text, message)
        raise ConfigError(message, lineno, _line(text, lineno))
    except ImportError as e:
        raise ConfigError('cannot import: %s (is the distribution listed in'
                          ' the eggs option?)' % e,
                          *_import_line(text, e))
    except OSError as e:
        raise ConfigError('%s: %s' % (e.strerror or e, e.filename or ''),
                          *_filename_line(text, e.filename))
    except Exception as e:  # a datatype's own failure
        raise ConfigError('%s: %s' % (type(e).__name__, e))
    finally:
        for p in added:
            sys.path.remove(p)


def _guess_line(text, message):
    # Some ZConfig errors name a key or section but carry no line number.
    for word in re.findall(r"'([^']+)'|\"([^\"]+)\"", message):
        word = (word[0] or word[1]).lower()
        for n, line in enumerate(lines(text), 1):
            words = line.replace('<', ' ').replace('>', ' ').split()
            if words and words[0].lower() == word:
                return n
            if word and line.strip().lower().startswith('%import ' + word):
                return n
    return None


def _import_line(text, error):
    name = getattr(error, 'name', None) or ''
    for n, line in enumerate(lines(text), 1):
        words = line.split()
        if (len(words) == 2 and words[0].lower() == '%import'
                and name and (words[1] == name
                              or words[1].startswith(name + '.')
                              or name.startswith(words[1]))):
            return n, line.strip()
    return None, None


def _filename_line(text, filename):
    if filename:
        for n, line in enumerate(lines(text), 1):
            if str(filename) in line:
                return n, line.strip()
    return None, None
