"""zeo.conf and zdaemon.conf: rendered, validated with ZEO's and zdaemon's
own schemas, and read back into one plain value, ``Server``.

Raw text the user gives is the user's: comments and order are kept and
only what is missing is added.  Structured options are a second way to
say the same thing; both end in the same value.  Everything later stages
need to know about the server (address, storages, logs, TLS, the runner's
settings) is taken from the loaded configuration, never guessed from the
options.
"""
import os
import re

from zc.zodbrecipes import options as parse
from zc.zodbrecipes import relconf
from zc.zodbrecipes import zconf
from zc.zodbrecipes.server import paths


class Storage:
    def __init__(self, name, type_, path=None, blob_dir=None):
        self.name, self.type, self.path, self.blob_dir = (
            name, type_, path, blob_dir)


class Server:
    """What the part's server is, once its configuration is validated.

    zeo_conf, zdaemon_conf: the texts to write; address: a parse.Address;
    storages: Storage objects; rel: the relconf.RelStorage of the
    rel-storage option (or None); logs: event log files (besides the
    transcript); pid_file; tls: whether clients must speak TLS;
    transcript and socket: zdaemon's; runner: the settings the control
    script needs (see runner_settings); user and group the server runs as;
    private_keys: (option, path) of the TLS keys checked.
    """

    def __init__(self, **kw):
        self.__dict__.update(kw)

    @property
    def file_storages(self):
        return [s for s in self.storages if s.path]

    @property
    def pack_address(self):
        """The server's address as zeopack on this host reaches it."""
        local = self.address.local()
        if isinstance(local, str):
            return local
        return str(parse.Address(*local))


def read(opt, settings, layout, working_set, runzeo_path=()):
    """Render, validate and read zeo.conf and zdaemon.conf (runzeo_path:
    the sys.path of a runzeo the part does not write, before the part's
    own working set)."""
    keys = []
    user = settings['effective-user']
    group = user_group(opt, user)
    option = 'zeo.conf'
    rel = None
    if 'zeo.conf' in settings.given:
        zeo_text = raw_zeo_conf(opt, settings['zeo.conf'])
    elif 'zeo-conf' in settings.given:
        option = 'zeo-conf'
        zeo_text = included_zeo_conf(opt, settings)
    elif settings['rel-storage']:
        rel = relstorage(opt, settings, layout, working_set)
        zeo_text = structured_zeo_conf(opt, settings, layout, keys, rel)
    else:
        zeo_text = structured_zeo_conf(opt, settings, layout, keys)
    if settings['zeo-conf-additional'].strip():
        zeo_text = zconf.ensure_newline(
            zeo_text + settings['zeo-conf-additional'].strip('\n') + '\n')
        if 'zeo-conf-additional' in settings.given:
            option = 'zeo-conf-additional'
    secret = rel.secret if rel else bool(_SECRET.search(zeo_text))
    if secret and user:
        raise opt.error(
            'rel-storage' if rel else option, 'holds a password, and the'
            ' server runs as %s: zeo.conf would have to be readable by that'
            ' user; keep the password in a passfile of its own instead' % user)
    if isinstance(layout, paths.DeploymentLayout):
        refuse_relative_paths(opt, option, zeo_text, layout.workdir)
    config = _validate(opt, settings, option, zeo_text, layout.zeo_conf,
                       zconf.zeo_schema(),
                       list(runzeo_path) + working_set.entries
                       + settings['extra-paths'])
    server = Server(zeo_conf=zeo_text, user=user, group=group,
                    private_keys=keys, secret=secret,
                    private_dirs=rel.directories if rel else [],
                    rel=rel,
                    **inspect(opt, settings, config))
    if server.tls and 'zeo.conf' in settings.given:
        for key in _tls_key_files(zeo_text, layout.directory):
            check_key(opt, keys, 'zeo.conf', key)

    zdaemon_text = zdaemon_conf(opt, settings, layout)
    zd = _validate(opt, settings, 'zdaemon.conf', zdaemon_text,
                   layout.zdaemon_conf, zconf.zdaemon_schema(),
                   working_set.entries + settings['extra-paths'])
    server.zdaemon_conf = zdaemon_text
    server.transcript = zd.runner.transcript or layout.transcript
    server.socket = zd.runner.socket_name
    server.runner = runner_settings(zd, layout.zdaemon_conf)
    server.umask = umask(zd)
    return server


def check_key(opt, keys, option, path):
    parse.check_private_key(opt, option, path)
    keys.append((option, path))


def _validate(opt, settings, option, text, path, schema, sys_path):
    try:
        return zconf.load(schema, text, path, sys_path)
    except zconf.ConfigError as e:
        raise opt.error(option, e.describe(
            'the text' if option in ('zeo.conf', 'zdaemon.conf')
            and option in settings.given else 'the generated text'))


# -- zeo.conf ---------------------------------------------------------------

def raw_zeo_conf(opt, text, option='zeo.conf', included=None):
    """The user's zeo.conf text (or, with included, a text including the
    user's file): checked for keys ZEO 5 removed, with an event log to
    standard output added where there is none."""
    text = zconf.ensure_newline(text.strip('\n') + '\n')
    for n, line, key, advice in zconf.removed_keys(included or text):
        raise opt.error(option, 'line %s %r: %s is not a ZEO 5+ key: %s'
                        % (n, line, key, advice))
    if not zconf.has_section(included or text, 'eventlog'):
        text += zconf.logfile_eventlog('STDOUT')
    return text


def included_zeo_conf(opt, settings):
    """zeo-conf: the user's own file, included (as plone.recipe.zeoserver
    does), so that its changes count at the server's next start."""
    path = settings['zeo-conf']
    if any(c.isspace() for c in path):
        raise opt.error('zeo-conf', '%r: a path with white space cannot be'
                        ' included' % path)
    try:
        with open(path) as f:
            content = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise opt.error('zeo-conf', 'cannot read %s: %s' % (path, e))
    return raw_zeo_conf(opt, '%%include %s\n' % path, 'zeo-conf', content)


ZEO_KEYS = ('read-only', 'invalidation-queue-size', 'invalidation-age',
            'transaction-timeout', 'client-conflict-resolution')
STORAGE_KEYS = ('pack-gc', 'pack-keep-old')


# A password in a zeo.conf the user writes (libpq's or MySQL's key).
_SECRET = re.compile(r'(?im)^\s*(dsn\s.*\bpassword\s*=|passw(or)?d\s)')
# Structured options that are file storage keys.
FILE_STORAGE_ONLY = ('file-storage', 'blob-storage') + STORAGE_KEYS


def relstorage(opt, settings, layout, working_set):
    """The rel-storage option read (relconf), for a server's storage."""
    for option in FILE_STORAGE_ONLY:
        if option in settings.given:
            raise opt.error(option, 'a file storage option: this server'
                            ' serves the RelStorage of rel-storage%s' % (
                                ' (give it as a rel-storage line)'
                                if option == 'pack-gc' else ''))
    # The server's own caches, beside where its file storage would be.
    return opt.get('rel-storage', relconf.read, base=layout.directory,
                   var=os.path.join(layout.var, layout.name + '-relstorage'),
                   sys_path=working_set.entries)


def structured_zeo_conf(opt, settings, layout, keys, rel=None):
    s = settings
    zeo = [('address', str(s['zeo-address']))]
    zeo += [(key, _zconfig_value(s[key])) for key in ZEO_KEYS
            if s[key] is not None]
    if s['pid-file']:
        zeo.append(('pid-filename', s['pid-file']))
    zeo_text = zconf.render_section('zeo', zeo)
    ssl = structured_ssl(opt, settings, keys)
    if ssl:
        nested = ''.join('  ' + line for line in zconf.render_section(
            'ssl', ssl).splitlines(keepends=True))
        zeo_text = zeo_text.replace('</zeo>', nested + '</zeo>')

    if rel:
        zeo_text = '%import relstorage\n' + zeo_text
        storage_text = rel.text('', s['storage-number'])
    else:
        storage = [('path', s['file-storage'])]
        if s['blob-storage']:
            storage.append(('blob-dir', s['blob-storage']))
        storage += [(key, _zconfig_value(s[key])) for key in STORAGE_KEYS
                    if s[key] is not None]
        storage_text = zconf.render_section('filestorage', storage,
                                            s['storage-number'])
    if s['storage-wrapper']:
        storage_text = zconf.ensure_newline(
            s['storage-wrapper'].strip('\n') % storage_text.rstrip('\n')
            + '\n')
    return zeo_text + storage_text + structured_eventlog(opt, s, layout)


def structured_eventlog(opt, s, layout):
    """The <eventlog>: standard output (into the transcript), the zeo-log
    file (rotated by ZConfig with zeo-log-max-size), or the handler
    section zeo-log-custom gives."""
    log = s['zeo-log']
    if log == layout.transcript:
        log = None  # the transcript already holds what goes to STDOUT
    if s['zeo-log-custom']:
        custom = ''.join('  ' + line.strip() + '\n' for line in
                         s['zeo-log-custom'].strip().splitlines())
        return zconf.render_section(
            'eventlog', [('level', s['zeo-log-level'])]).replace(
                '</eventlog>', custom + '</eventlog>')
    rotation = []
    if s['zeo-log-max-size']:
        if not log:
            raise opt.error(
                'zeo-log-max-size', 'needs zeo-log, a log file of its own'
                ' (the default log is zdaemon\'s transcript, which logrotate'
                ' or bin/NAME logreopen rotates)')
        rotation = [('max-size', s['zeo-log-max-size']),
                    ('old-files', str(s['zeo-log-old-files'] or 1))]
    return zconf.logfile_eventlog(log or 'STDOUT', s['zeo-log-level'],
                                  s['zeo-log-format'], rotation)


def structured_ssl(opt, settings, keys):
    """The <ssl> keys from the ssl-* options, with the files checked
    (ZEO itself would die with a traceback on a missing file)."""
    cert, key, auth = (settings['ssl-certificate'], settings['ssl-key'],
                       settings['ssl-authenticate'])
    if not cert:
        return []
    for option, p in (('ssl-certificate', cert), ('ssl-key', key),
                      ('ssl-authenticate', auth)):
        if p and not os.path.exists(p):
            raise opt.error(option, '%s does not exist' % p)
    check_key(opt, keys, 'ssl-key' if key else 'ssl-certificate', key or cert)
    found = [('certificate', cert)]
    if key:
        found.append(('key', key))
    if settings['ssl-password-function']:
        found.append(('password-function', settings['ssl-password-function']))
    if not auth:
        raise opt.error(
            'ssl-authenticate', 'is required with ssl-certificate: the CA'
            ' file or directory that signed the client certificates (a'
            ' ZEO server with TLS accepts only clients that present one)')
    found.append(('authenticate', auth))
    return found


def inspect(opt, settings, config):
    """Address, storages, logs, pid file and TLS of a loaded zeo.conf."""
    address = config.zeo.address.address
    if isinstance(address, str):
        address = parse.Address(socket=address)
    else:
        host, port = address
        if not port:
            raise opt.error(
                'zeo.conf' if 'zeo.conf' in settings.given else
                'zeo-address', 'the address %r has no port: the server'
                ' would listen on a random one' % (host,))
        address = parse.Address(host or '0.0.0.0', port)
    names = [o.name for o in config.storages]
    if names.count(None) > 1:
        raise opt.error('zeo.conf', 'only one storage may be unnamed: name'
                        ' them, as in <filestorage NAME>')
    if None in names and '1' in names:
        raise opt.error('zeo.conf', 'an unnamed storage is named "1" by'
                        ' runzeo, and a storage "1" exists')
    storages = [Storage(opener.name or '1', opener.config.getSectionType(),
                        *_storage_paths(opener.config))
                for opener in config.storages]
    logs = []
    if config.eventlog is not None:
        for handler in config.eventlog.handler_factories:
            p = getattr(handler.section, 'path', None)
            if p and p not in ('STDOUT', 'STDERR'):
                logs.append(p)
    return dict(address=address, storages=storages, logs=logs,
                pid_file=config.zeo.pid_filename,
                tls=bool(getattr(config.zeo, 'ssl', None)))


def _zconfig_value(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return str(value)


def _storage_paths(section):
    """(path, blob_dir) of a storage section, looking into wrappers."""
    path = getattr(section, 'path', None)
    blob_dir = getattr(section, 'blob_dir', None)
    if path or blob_dir:
        return path, blob_dir
    for attr in section.getSectionAttributes():
        inner = getattr(section, attr, None)
        inner = getattr(inner, 'config', None)
        if inner is not None and hasattr(inner, 'getSectionAttributes'):
            found = _storage_paths(inner)
            if found != (None, None):
                return found
    return None, None


def _schemaless(text):
    """The sections of a zeo.conf text, as ZConfig's schemaless parser
    reads them (%define-d names substituted), or None when it cannot."""
    import io
    import ZConfig
    import ZConfig.cfgparser
    import ZConfig.schemaless

    class Parser(ZConfig.schemaless.Parser):
        handle_define = ZConfig.cfgparser.ZConfigParser.handle_define

    class Context(ZConfig.schemaless.Context):
        def includeConfiguration(self, section, url, defines):
            pass  # an %include-d file is checked by ZConfig only

    context = Context()
    try:
        Parser(ZConfig.schemaless.Resource(io.StringIO(text), ''),
               context).parse(context.top)
    except ZConfig.ConfigurationError:
        return None
    return context.top


# Keys of zeo.conf (ZEO, ZODB, ZConfig's loggers, RelStorage) whose value
# is a file or directory.
PATH_KEYS = ('path', 'blob-dir', 'pid-filename', 'certificate', 'key',
             'authenticate', 'cache-local-dir', 'shared-blob-dir-path')


def refuse_relative_paths(opt, option, text, workdir):
    """In deployment mode runzeo runs in the run directory (zdaemon's
    directory), where a relative path of zeo.conf would resolve; the
    recipe would check and create it relative to wherever buildout runs.
    Refused, naming the line."""
    top = _schemaless(text)
    if top is None:
        return  # ZConfig says what is wrong
    found = []

    def walk(section):
        for key, values in section.items():
            if key.lower() not in PATH_KEYS:
                continue
            for value in values:
                if value and value not in ('STDOUT', 'STDERR') and (
                        not os.path.isabs(value)):
                    found.append((key, value))
        for sub in section.sections:
            walk(sub)
    walk(top)
    for key, value in found:
        where = ''
        pattern = re.compile(r'\s*%s\s+%s\s*$' % (
            re.escape(key), re.escape(value)), re.I)
        for n, line in enumerate(zconf.lines(text), 1):
            if pattern.match(line):
                where = 'line %d %r: ' % (n, line.strip())
                break
        raise opt.error(option, '%s%s %s is a relative path: the server'
                        ' runs in %s; give an absolute path' % (
                            where, key, value, workdir))


def _tls_key_files(text, base):
    """The existing private key files named by the <ssl> sections of a
    zeo.conf text (the certificate, when a section has no key)."""
    top = _schemaless(text)
    if top is None:
        return []
    found = []

    def walk(section):
        for sub in section.sections:
            if sub.type == 'ssl':
                keys = {k.lower(): v for k, v in sub.items()}
                path = (keys.get('key') or keys.get('certificate') or [''])[0]
                path = path and os.path.join(base, path)
                if path and os.path.exists(path):
                    found.append(path)
            walk(sub)
    walk(top)
    return found


# -- zdaemon.conf -----------------------------------------------------------

UMASK = '027'  # the default: no file of the server's is others'


def umask(zd):
    """The umask the server runs with, from the validated zdaemon.conf
    (the user's own or the recipe's default), as an octal string: systemd
    and supervisor run runzeo with the same."""
    r = zd.runner
    return '%03o' % (r.umask if r.umask is not None else int(UMASK, 8))


def zdaemon_conf(opt, settings, layout):
    """The user's zdaemon.conf with the recipe's <runner> defaults."""
    runzeo = layout.program('runzeo', settings['runzeo'])
    for label, value in (('runzeo', runzeo), ('zeo.conf', layout.zeo_conf)):
        if any(c.isspace() for c in value):
            raise opt.error(label, '%r: zdaemon splits its program line at'
                            ' white space' % value)
    defaults = [
        ('program', '%s -C %s' % (runzeo, layout.zeo_conf)),
        ('daemon', 'on'),
        ('directory', layout.workdir),
        ('socket-name', settings['socket-name']),
        ('transcript', layout.transcript),
        # Data and logs are the server's user's and its group's alone:
        # runzeo creates Data.fs, blob files and its logs with this umask.
        ('umask', UMASK),
    ]
    if settings['effective-user']:
        defaults.append(('user', settings['effective-user']))
    text = zconf.merge_section_keys(settings['zdaemon.conf'], 'runner',
                                    defaults)
    if not zconf.has_section(text, 'eventlog'):
        text += zconf.logfile_eventlog(layout.transcript)
    return text


def runner_settings(zd, path):
    """What the control script needs of the validated zdaemon.conf: the
    socket and timeouts, and the settings under which the daemon manager
    can spawn runzeo before loading zdaemon (see manager.py), unless the
    configuration asks for what only zdctl does."""
    r = zd.runner
    settings = dict(socket=r.socket_name, stop_timeout=r.stop_timeout or 300,
                    start_timeout=r.start_timeout or 300)
    env = getattr(zd, 'environment', None)
    env = getattr(env, 'mapping', None) or {}
    paths = [r.socket_name, r.transcript, r.program[0]] + (
        [r.directory] if r.directory else [])
    if (r.daemon and not r.start_test_program and not r.zdrun
            and not r.python and all(os.path.isabs(p) for p in paths)):
        settings['spawn'] = dict(
            config=path, program=list(r.program), directory=r.directory,
            socket=r.socket_name, transcript=r.transcript,
            umask=r.umask if r.umask is not None else 0o27, user=r.user,
            environment=dict(env))
    return settings


# -- the user the server runs as -----------------------------------------

def user_group(opt, user):
    """The name of the user's primary group (the user's name when unknown).
    As root, the user must exist: the server is started as that user."""
    if not user:
        return None
    import grp
    import pwd
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        if os.geteuid() == 0:
            raise opt.error('effective-user' if opt.has('effective-user') else
                            'user' if opt.has('user') else 'deployment',
                            'there is no user %r on this system' % user)
        return user
    try:
        return grp.getgrgid(pw.pw_gid).gr_name
    except KeyError:
        return user


def owner(user):
    """(uid, gid) for directories the server writes into, as root."""
    if not user or os.geteuid() != 0:
        return None
    import pwd
    pw = pwd.getpwnam(user)
    return pw.pw_uid, pw.pw_gid
