"""The ``zc.zodbrecipes:client`` recipe: the configuration of a ZEO client.

The part writes a ``zodb.conf`` that applications open with
``ZODB.config.databaseFromFile``: ``%import ZEO`` and a ``<clientstorage>``
inside a ``<zodb>`` section.  It also writes ``bin/<name>``, a small tool
that checks, explores and scripts the database (see ``clienttool``).

Everything is read, rendered and validated (with ZODB's own schema) in
``__init__``: buildout creates every recipe before it installs anything,
so a mistake stops the run while the previous installation is untouched.
``install`` and ``update`` only create a directory and write files.
"""
import importlib
import os
import ssl
import sys

import ZODB.config
import zc.buildout

from zc.zodbrecipes import eggs
from zc.zodbrecipes import files
from zc.zodbrecipes import options as parse
from zc.zodbrecipes import relconf
from zc.zodbrecipes import zconf

_AUTH = ('ZEO 5 and later have no password authentication and ignore it;'
         ' authenticate clients with TLS certificates instead'
         ' (ssl-certificate, ssl-key and ssl-authenticate)')
_POLL = ('ZEO 5 and later ignore it: a client reconnects by itself, and'
         ' wait-timeout bounds how long a request waits for a connection')
# Keys ZODB's old <zeoclient> section accepts and ZEO 5+ silently ignores.
IGNORED = {
    'username': _AUTH,
    'password': _AUTH,
    'realm': _AUTH,
    'min-disconnect-poll': _POLL,
    'max-disconnect-poll': _POLL,
    'drop-cache-rather-verify': (
        'ZEO 5 and later ignore it: a client that cannot verify its cache'
        ' drops it by itself'),
}

_db_schema = None


def db_schema():
    """ZODB's schema for ``<zodb>`` sections, loaded once per process."""
    global _db_schema
    if _db_schema is None:
        _db_schema = ZODB.config.getDbSchema()
    return _db_schema


class Server:
    """What a client knows about its server.

    ``part`` is the server part (None for ``zeo-address``); ``storages``
    is None when unknown; ``tls`` is None when unknown, else whether the
    server speaks TLS, and ``ca`` the file the server authenticates
    client certificates with.
    """

    def __init__(self, option, addresses, part=None, storages=None,
                 blob_dir=None, tls=None, ca=None):
        self.option, self.addresses, self.part = option, addresses, part
        self.storages, self.blob_dir, self.tls, self.ca = (
            storages, blob_dir, tls, ca)


class Recipe:

    def __init__(self, buildout, name, options):
        self.buildout, self.part, self.options = buildout, name, options
        opt = self.opt = parse.Options(name, options)
        bo = buildout['buildout']
        self.base = bo['directory']
        for key, advice in IGNORED.items():
            if opt.has(key):
                raise opt.error(key, advice)

        self.name = opt.get('name', parse.name, None) or _part_name(name)
        self.conf_path = self.config_location()
        self.script = os.path.join(bo['bin-directory'], self.name)
        self.var = opt.get('var', parse.path, os.path.join(
            self.base, 'var', self.name), base=self.base)

        self.eggs = opt.get('tool-eggs', parse.requirements, [])
        self.mode = 0o644
        self.directories = []
        if opt.has('rel-storage'):
            self.relstorage()
        else:
            self.working_set = self.tool_working_set()
            self.zeo_client()

        options['zodb-conf'] = self.conf_path
        options['control-script'] = self.script

    def zeo_client(self):
        server = self.server()
        storage = self.storage_name(server)
        self.cache_path = self.persistent_cache(storage)
        storage_keys = ([('server', str(a), server.option)
                         for a in server.addresses]
                        + [('storage', storage, 'storage')]
                        + self.cache_keys()
                        + self.blob_keys(server)
                        + self.connection_keys())
        self.text, sources = render(
            self.part, self.database_keys(), storage_keys, self.ssl_keys(server))
        validate(self.opt, self.text, sources, self.conf_path,
                 self.working_set.entries)
        if self.cache_path:
            self.directories.append((os.path.dirname(self.cache_path), None))

    # -- rel-storage: a RelStorage instead of a ZEO client -------------------

    def relstorage(self):
        opt = self.opt
        for option in ZEO_ONLY:
            if opt.has(option):
                raise opt.error(option, (
                    'a ZEO client option: this part uses rel-storage%s') % (
                    ' (give it as a rel-storage line: %s VALUE)' % option
                    if option in RELSTORAGE_TOO else ''))
        needed = opt.get('rel-storage', relconf.needed_eggs)
        self.eggs += [egg for egg in needed if egg not in self.eggs]
        self.working_set = self.tool_working_set()
        rel = opt.get('rel-storage', relconf.read, base=self.base,
                      var=self.var, sys_path=self.working_set.entries)
        self.text, sources = render_relstorage(
            self.part, self.database_keys(), rel)
        validate(opt, self.text, sources, self.conf_path,
                 self.working_set.entries, lenient_schema())
        # Caches and data of this client only.
        self.directories = [(d, 0o700) for d in rel.directories]
        # Whoever can read a password can use the database: such a file
        # is its owner's only (the password may come from a libpq passfile
        # or PGPASSWORD instead, see client-relstorage.txt).
        self.mode = 0o600 if rel.secret else 0o644
        # For the application's eggs: ${part:relstorage-eggs} (eggs is
        # left alone, as for a ZEO client).
        self.options['relstorage-eggs'] = '\n'.join(needed)

    # -- where things go ---------------------------------------------------

    def section(self, option, section_name):
        """Another buildout section, named by one of our options."""
        try:
            return self.buildout[section_name]
        except KeyError:
            raise self.opt.error(
                option, 'there is no [%s] section' % section_name)

    def config_location(self):
        deployment = self.opt.get('deployment')
        if not deployment:
            return os.path.join(self.buildout['buildout']['parts-directory'],
                                self.name, 'zodb.conf')
        etc = self.section('deployment', deployment).get('etc-directory')
        if not etc:
            raise self.opt.error('deployment', '[%s] has no etc-directory'
                                 ' (is it a zc.recipe.deployment part?)'
                                 % deployment)
        return os.path.join(etc, self.name + '-zodb.conf')

    # -- the server and the storage ------------------------------------------

    def server(self):
        opt = self.opt
        if opt.has('server') and opt.has('zeo-address'):
            raise opt.error('server', 'give either server (a server part) or'
                            ' zeo-address (server addresses), not both')
        if opt.has('server'):
            return self.server_part(opt.get('server'))
        if not opt.has('zeo-address'):
            raise opt.error('zeo-address', 'required: give zeo-address (the'
                            ' addresses of a ZEO server) or server (a'
                            ' zc.zodbrecipes:server part)')
        found = opt.get('zeo-address', parse.addresses, base=self.base)
        return Server('zeo-address', [_reachable(a) for a in found])

    def server_part(self, part):
        """Learn a server from the options a server part publishes."""
        published = self.section('server', part)

        def get(key):
            return (published.get(key) or '').strip()

        if not get('address'):
            raise self.opt.error('server', '[%s] publishes no address (is it'
                                 ' a zc.zodbrecipes:server part?)' % part)
        try:
            address = parse.address(get('address'), self.base)
        except parse.OptionError as e:
            raise self.opt.error('server', '[%s] address: %s' % (part, e))
        storages = get('storages').split() if 'storages' in published else None
        if storages == []:
            raise self.opt.error('server', '[%s] serves no storage' % part)
        return Server('server', [_reachable(address)], part, storages,
                      get('blob-storage') or None,
                      tls=bool(get('ssl-certificate')),
                      ca=get('ssl-authenticate') or None)

    def storage_name(self, server):
        default = server.storages[0] if server.storages else '1'
        storage = self.opt.get('storage', parse.name, default)
        if server.storages and storage not in server.storages:
            raise self.opt.error('storage', '[%s] serves no storage %r (it'
                                 ' serves %s)' % (server.part, storage,
                                                  ', '.join(server.storages)))
        return storage

    # -- <clientstorage> -----------------------------------------------------

    def one_of(self, *names):
        """The one option of names that is given, or None."""
        given = [n for n in names if self.opt.has(n)]
        if len(given) > 1:
            raise self.opt.error(given[1], 'means the same as %s: give only'
                                 ' one of them' % given[0])
        return given[0] if given else None

    def cache_keys(self):
        keys = []
        option = self.one_of('cache-size', 'zeo-client-cache-size')
        if option:
            value = self.opt.raw(option).strip()
            if option == 'cache-size' and value.isdigit():
                raise self.opt.error(option, (
                    '%r has no unit: cache-size is the size of the ZEO client'
                    ' cache, such as 200MB (the number of objects in the'
                    ' object cache is zodb-cache-size)') % value)
            keys.append(('cache-size', self.opt.get(option, parse.byte_size),
                         option))
        if self.cache_path:
            keys.append(('cache-path', self.cache_path, 'cache-path'
                         if self.opt.has('cache-path') else 'client'))
        return keys

    def persistent_cache(self, storage):
        """The ZEO cache file, or None for a cache in memory only."""
        if self.opt.has('cache-path'):
            return self.opt.get('cache-path', parse.path, base=self.base)
        client = self.opt.raw('client')
        if client is not None and not client.strip():
            return None
        client = self.opt.get('client', parse.name, self.name)
        # ZEO's own name for the cache of client and storage:
        return os.path.join(self.var, '%s-%s.zec' % (client, storage))

    def blob_keys(self, server):
        opt = self.opt
        shared = opt.get('shared-blob-dir', parse.boolean, False)
        blob_dir = self.blob_dir(server, shared)
        if blob_dir is None:
            for key in ('blob-cache-size', 'blob-cache-size-check'):
                if opt.has(key):
                    raise opt.error(key, 'there is no blob-dir')
            return []
        if not shared and server.blob_dir and _same_path(
                blob_dir, server.blob_dir):
            raise opt.error('blob-dir', (
                '%s is the blob directory of the server [%s]: a blob cache'
                ' (shared-blob-dir false) needs a directory of its own; set'
                ' shared-blob-dir = true to use the server\'s directory'
                ' directly') % (blob_dir, server.part))
        keys = [('blob-dir', blob_dir, 'blob-dir')]
        if shared:
            keys.append(('shared-blob-dir', 'true', 'shared-blob-dir'))
        for key, parser in (('blob-cache-size', parse.byte_size),
                            ('blob-cache-size-check', _percent)):
            if opt.has(key):
                if shared:
                    raise opt.error(key, 'a shared blob directory is not a'
                                    ' cache: ZEO ignores this option')
                keys.append((key, opt.get(key, parser), key))
        return keys

    def blob_dir(self, server, shared):
        """The blob directory, or None for a client without blobs."""
        raw = self.opt.raw('blob-dir')
        if raw is not None:
            if not raw.strip():
                return None
            return self.opt.get('blob-dir', parse.path, base=self.base)
        if shared:
            if not server.blob_dir:
                raise self.opt.error('shared-blob-dir', (
                    'give blob-dir, the directory the server keeps its blobs'
                    ' in%s') % (' ([%s] publishes no blob-storage)'
                                % server.part if server.part else ''))
            return server.blob_dir
        if server.part and not server.blob_dir:
            return None  # the server has no blobs
        return os.path.join(self.var, 'blobcache')

    def connection_keys(self):
        opt = self.opt
        flags = {key: opt.get(key, parse.boolean)
                 for key in ('read-only', 'read-only-fallback', 'server-sync')}
        if flags['read-only'] and flags['read-only-fallback']:
            raise opt.error('read-only-fallback', 'read-only is already true:'
                            ' set only one of them')
        keys = [(key, _bool(value), key) for key, value in flags.items()
                if value is not None]
        if opt.has('wait-timeout'):
            keys.append(('wait-timeout', opt.get(
                'wait-timeout', parse.integer, minimum=1), 'wait-timeout'))
        if opt.has('client-label'):
            keys.append(('client-label', opt.get('client-label'),
                         'client-label'))
        return keys

    # -- <ssl> ---------------------------------------------------------------

    def ssl_keys(self, server):
        opt = self.opt
        given = [key for key in SSL_KEYS if opt.has(key)]
        if server.tls is False and given:
            raise opt.error(given[0], 'the server [%s] does not use TLS (it'
                            ' publishes no ssl-certificate)' % server.part)
        if not (given or server.tls):
            return []
        if not opt.has('ssl-certificate'):
            raise opt.error('ssl-certificate', '%s: a ZEO client using TLS'
                            ' needs a certificate of its own (and ssl-key)' % (
                                'the server [%s] uses TLS' % server.part
                                if server.tls else 'required with '
                                + ', '.join(given)))
        keys = []
        for key, parser in SSL_KEYS.items():
            if parser is parse.existing_path:
                value = opt.get(key, parser, base=self.base)
            else:
                value = opt.get(key, parser)
            if value is None and key == 'ssl-authenticate':
                value = server.ca  # trust the CA the server trusts
            if value is not None:
                keys.append((key[len('ssl-'):], _bool(value), key))
        self.check_tls_files({option: value for _, value, option in keys})
        return keys

    def check_tls_files(self, tls):
        """Load the certificates as ZEO will, to say which file is wrong.

        (With an encrypted key and no password function, OpenSSL would
        prompt on the terminal when ZEO, or the validation, loads it.)
        """
        private = 'ssl-key' if 'ssl-key' in tls else 'ssl-certificate'
        if private in tls and os.path.isfile(tls[private]):
            parse.check_private_key(self.opt, private, tls[private])
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ca = tls.get('ssl-authenticate')
        if ca:
            try:
                if os.path.isdir(ca):
                    context.load_verify_locations(capath=ca)
                else:
                    context.load_verify_locations(cafile=ca)
            except (ssl.SSLError, OSError) as e:
                raise self.opt.error('ssl-authenticate', 'cannot load CA'
                                     ' certificates from %s: %s' % (ca, e))
        password = _no_password
        if 'ssl-password-function' in tls:
            password = self.password_function(tls['ssl-password-function'])
        try:
            context.load_cert_chain(tls['ssl-certificate'],
                                    tls.get('ssl-key'), password)
        except (ssl.SSLError, OSError, ValueError) as e:
            raise self.opt.error(
                'ssl-key' if 'ssl-key' in tls else 'ssl-certificate',
                'cannot load the client certificate %s%s: %s' % (
                    tls['ssl-certificate'], ' with the key ' + tls['ssl-key']
                    if 'ssl-key' in tls else '', e))

    def password_function(self, dotted):
        """Import the function as ZEO will, in the tool's environment."""
        module, _, name = dotted.rpartition('.')
        added = [p for p in self.working_set.entries if p not in sys.path]
        sys.path[:0] = added
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError, ValueError) as e:
            raise self.opt.error('ssl-password-function', 'cannot import'
                                 ' %s: %s' % (dotted, e))
        finally:
            for p in added:
                sys.path.remove(p)

    # -- <zodb> --------------------------------------------------------------

    def database_keys(self):
        opt = self.opt
        keys = []
        if opt.has('zodb-cache-size'):
            keys.append(('cache-size', opt.get(
                'zodb-cache-size', parse.integer, minimum=0),
                'zodb-cache-size'))
        option = self.one_of('cache-size-bytes', 'zodb-cache-size-bytes')
        if option:
            keys.append(('cache-size-bytes', opt.get(
                option, parse.byte_size), option))
        if opt.has('pool-size'):
            keys.append(('pool-size', opt.get(
                'pool-size', parse.integer, minimum=1), 'pool-size'))
        return keys

    # -- validation and installation ----------------------------------------

    def tool_working_set(self):
        return eggs.working_set(self.buildout, self.opt, 'tool-eggs',
                                ['zc.zodbrecipes'] + self.eggs)

    def install(self):
        files.makedirs(os.path.dirname(self.conf_path))
        for directory, mode in self.directories:
            files.makedirs(directory, mode)
        files.write(self.conf_path, self.text, self.mode)
        bin_dir = os.path.dirname(self.script)
        files.makedirs(bin_dir)
        return [self.conf_path, eggs.script(
            self.buildout, self.working_set, self.script,
            'zc.zodbrecipes.clienttool', 'main', repr(self.conf_path))]

    update = install


SSL_KEYS = {
    'ssl-certificate': parse.existing_path,
    'ssl-key': parse.existing_path,
    'ssl-authenticate': parse.existing_path,
    'ssl-password-function': parse.line,
    'ssl-check-hostname': parse.boolean,
    'ssl-server-hostname': parse.line,
}


# ZEO client options, and whether RelStorage has a key of that name.
ZEO_ONLY = ['server', 'zeo-address', 'storage', 'cache-size',
            'zeo-client-cache-size', 'cache-path', 'client', 'blob-dir',
            'shared-blob-dir', 'blob-cache-size', 'blob-cache-size-check',
            'read-only', 'read-only-fallback', 'server-sync', 'wait-timeout',
            'client-label'] + list(SSL_KEYS)
RELSTORAGE_TOO = ('blob-dir', 'shared-blob-dir', 'blob-cache-size',
                  'blob-cache-size-check', 'read-only')

_lenient = None


def lenient_schema():
    """ZODB's schema with directories that need not exist yet (SQLite's
    data-dir is created by install, after validation)."""
    global _lenient
    if _lenient is None:
        _lenient = zconf.schema(os.path.join(
            os.path.dirname(ZODB.config.__file__), 'config.xml'))
    return _lenient


def render_relstorage(part, database, rel):
    """zodb.conf for a RelStorage, and for each line where it comes from
    (an option name, or ('rel-storage', relconf.Line))."""
    lines = [
        ('# Generated by zc.zodbrecipes:client for the part [%s];' % part,
         None),
        ('# buildout overwrites changes made here.', None),
        ('%import relstorage', None),
        ('', None),
        ('<zodb>', None),
    ]
    lines.extend(('  %s %s' % (key, zconf.quote(value)), option)
                 for key, value, option in database)
    lines.extend((text, ('rel-storage', src) if src else 'rel-storage')
                 for text, src in rel.lines('  '))
    lines.append(('</zodb>', None))
    return ('\n'.join(text for text, _ in lines) + '\n',
            [source for _, source in lines])


def render(part, database, storage, ssl):
    """The text of zodb.conf, and for each line the option it comes from.

    The arguments are lists of (key, value, option).
    """
    lines = [
        ('# Generated by zc.zodbrecipes:client for the part [%s];' % part,
         None),
        ('# buildout overwrites changes made here.', None),
        ('%import ZEO', None),
        ('', None),
        ('<zodb>', None),
    ]

    def keys(items, indent):
        lines.extend(('%s%s %s' % (indent, key, zconf.quote(value)), option)
                     for key, value, option in items)

    keys(database, '  ')
    lines.append(('  <clientstorage>', None))
    keys(storage, '    ')
    if ssl:
        lines.append(('    <ssl>', None))
        keys(ssl, '      ')
        lines.append(('    </ssl>', None))
    lines.append(('  </clientstorage>', None))
    lines.append(('</zodb>', None))
    return ('\n'.join(text for text, _ in lines) + '\n',
            [option for _, option in lines])


def validate(opt, text, sources, path, sys_path=(), schema=None):
    """Load text with ZODB's schema as an application will.

    ``sources`` names, for each line of text, the option it comes from
    (or None): errors name that option.  A source (option, Line) names a
    line of a multi-line option (rel-storage) instead of zodb.conf's.
    """
    try:
        config = zconf.load(schema or db_schema(), text, path, sys_path)
    except zconf.ConfigError as e:
        option = 'zodb.conf'
        where = 'line %s: ' % e.lineno if e.lineno else ''
        if e.lineno and sources[e.lineno - 1]:
            option = sources[e.lineno - 1]
        if isinstance(option, tuple):
            option, line = option
            where = 'line %s %r: ' % (line.number, line.text)
        raise opt.error(option, where + e.message)
    if not config.database or config.database[0].config.storage is None:
        raise opt.error('zodb.conf', 'the generated text has no storage')
    return config


def _no_password():
    raise ValueError('the key is encrypted: give ssl-password-function')


def _part_name(part):
    try:
        return parse.name(part)
    except parse.OptionError as e:
        raise zc.buildout.UserError(
            '[%s] name: the part name %s; set name' % (part, e))


def _reachable(address):
    """The address a client uses for a server listening at address."""
    if address.socket:
        return address
    return parse.Address(*address.local())


def _same_path(a, b):
    return os.path.realpath(a) == os.path.realpath(b)


def _percent(value):
    return parse.integer(value, 1, 99)


def _bool(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return value
