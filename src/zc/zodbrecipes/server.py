"""The ``zc.zodbrecipes:server`` recipe: a ZEO server run by zdaemon.

Options are read, rendered into zeo.conf and zdaemon.conf and validated
with ZEO's and zdaemon's own schemas in ``__init__``: buildout creates every
recipe before it uninstalls anything, so a mistake stops the run while the
previous installation (and a running server) is still untouched.
``install`` then only creates directories and writes files.
"""
import logging
import os
import socket
import sys

import zc.buildout
import zc.buildout.easy_install
import zc.recipe.egg

from zc.zodbrecipes import files
from zc.zodbrecipes import options as parse
from zc.zodbrecipes import zconf

logger = logging.getLogger('zc.zodbrecipes')

# Options that describe a server without writing zeo.conf (as
# plone.recipe.zeoserver users write them).
STRUCTURED = (
    'zeo-address', 'file-storage', 'blob-storage', 'storage-number',
    'read-only', 'invalidation-queue-size', 'invalidation-age',
    'transaction-timeout', 'client-conflict-resolution', 'pack-gc',
    'pack-keep-old', 'pid-file', 'zeo-log', 'zeo-log-level',
    'zeo-log-format', 'ssl-certificate', 'ssl-key', 'ssl-authenticate',
    'ssl-password-function',
)
LOG_LEVELS = ('critical', 'error', 'warn', 'warning', 'info', 'debug',
              'blather', 'trace', 'all')


class Layout:
    """Where a server part's files go (plain mode: inside the buildout)."""

    def __init__(self, buildout, name):
        bo = buildout['buildout']
        self.directory = bo['directory']
        self.bin = bo['bin-directory']
        self.var = os.path.join(self.directory, 'var')
        self.etc = os.path.join(bo['parts-directory'], name)
        self.run = os.path.join(self.var, 'run')
        self.log = os.path.join(self.var, 'log')
        self.zeo_conf = os.path.join(self.etc, 'zeo.conf')
        self.zdaemon_conf = os.path.join(self.etc, 'zdaemon.conf')
        self.transcript = os.path.join(self.log, name + '.log')
        self.socket = os.path.join(self.run, name + '-zdaemon.sock')
        self.control = os.path.join(self.bin, name)
        self.workdir = self.directory


class Storage:
    def __init__(self, name, type_, path=None, blob_dir=None):
        self.name, self.type, self.path, self.blob_dir = (
            name, type_, path, blob_dir)


class Recipe:

    def __init__(self, buildout, name, options):
        self.buildout, self.part, self.options = buildout, name, options
        opt = self.opt = parse.Options(name, options)
        bo = buildout['buildout']
        try:
            parse.name(name)
        except parse.OptionError as e:
            raise zc.buildout.UserError('[%s]: the part name %s' % (name, e))
        self.name = opt.get('name', parse.name, name)
        layout = self.layout = Layout(buildout, self.name)
        base = layout.directory
        self.eggs = opt.get('eggs', lambda v: v.split(), [])
        for egg in self.eggs:
            if any(c in egg for c in '\'"\\`$;'):
                raise opt.error('eggs', '%r is not a requirement' % egg)
        self.shell_script = opt.get('shell-script', parse.boolean, False)
        self.user = opt.get('effective-user', parse.name, None)

        def script(option):
            return opt.get(option, parse.path, None, base=layout.bin)
        self.runzeo = script('runzeo')
        self.zeopack = script('zeopack')
        script('zdaemon')  # accepted for compatibility; see README
        if opt.has('socket-name'):
            layout.socket = opt.get('socket-name', parse.path, base=base)

        # The environment runzeo runs in: ZEO plus the eggs option.
        self.working_set = self.runzeo_working_set()

        if opt.has('zeo.conf'):
            given = [k for k in STRUCTURED if k in options]
            if given:
                raise opt.error(
                    'zeo.conf', 'give either zeo.conf or the structured'
                    ' options (%s), not both' % ', '.join(given))
            zeo_text = self.raw_zeo_conf(options['zeo.conf'])
        else:
            zeo_text = self.structured_zeo_conf()
        config = self.validate('zeo.conf', zeo_text, layout.zeo_conf,
                               zconf.zeo_schema())
        self.zeo_conf_text = zeo_text
        self.inspect(config)

        zdaemon_text = self.zdaemon_conf(options.get('zdaemon.conf', ''))
        zd = self.validate('zdaemon.conf', zdaemon_text, layout.zdaemon_conf,
                           zconf.zdaemon_schema())
        self.zdaemon_conf_text = zdaemon_text
        self.transcript = zd.runner.transcript or layout.transcript
        self.socket = zd.runner.socket_name

        options['address'] = str(self.address)
        options['zeo-conf'] = layout.zeo_conf
        options['zdaemon-conf'] = layout.zdaemon_conf
        options['control-script'] = layout.control
        options['storages'] = ' '.join(s.name for s in self.storages)
        options['log-file'] = self.transcript
        files_ = [s for s in self.storages if s.path]
        options['file-storage'] = files_[0].path if files_ else ''
        blobs = [s for s in self.storages if s.blob_dir]
        options['blob-storage'] = blobs[0].blob_dir if blobs else ''
        options['data-paths'] = ' '.join(
            p for s in self.storages for p in (s.path, s.blob_dir) if p)
        options['log-paths'] = ' '.join(self.logs)
        options['socket-name'] = self.socket

    # -- parsing and rendering ---------------------------------------------

    def runzeo_working_set(self):
        return self.resolve('eggs', ['ZEO'] + self.eggs)

    def resolve(self, option, requirements):
        """A working set for requirements, installed as zc.recipe.egg does
        (respecting the buildout's offline, newest, index and versions)."""
        try:
            egg = zc.recipe.egg.Egg(self.buildout, self.part,
                                    {'eggs': '\n'.join(requirements)})
            return egg.working_set()[1]
        except zc.buildout.UserError as e:
            raise self.opt.error(option, e)
        except Exception as e:
            raise self.opt.error(option, '%s: %s' % (type(e).__name__, e))

    def raw_zeo_conf(self, text):
        text = zconf.ensure_newline(text.strip('\n') + '\n')
        for n, line, key, advice in zconf.removed_keys(text):
            raise self.opt.error(
                'zeo.conf', 'line %s %r: %s is not a ZEO 5+ key: %s' % (
                    n, line, key, advice))
        if not zconf.has_section(text, 'eventlog'):
            text += zconf.logfile_eventlog('STDOUT')
        return text

    def structured_zeo_conf(self):
        opt, layout = self.opt, self.layout
        base = layout.directory

        def path(option, default):
            return opt.get(option, parse.path, default, base=base)

        address = opt.get('zeo-address', parse.address,
                          parse.Address('127.0.0.1', 8100), base=base)
        zeo = [('address', str(address))]
        for key, parser in (
                ('read-only', parse.boolean),
                ('invalidation-queue-size', _int0),
                ('invalidation-age', _int0),
                ('transaction-timeout', _int0),
                ('client-conflict-resolution', parse.boolean)):
            value = opt.get(key, parser)
            if value is not None:
                zeo.append((key, _zconfig_value(value)))
        pid = path('pid-file', None)
        if pid:
            zeo.append(('pid-filename', pid))
        ssl = self.structured_ssl(path)
        zeo_text = zconf.render_section('zeo', zeo)
        if ssl:
            zeo_text = zconf.merge_section_keys(zeo_text, 'zeo', [])
            zeo_text = zeo_text.replace(
                '</zeo>', zconf.render_section('ssl', ssl, indent='    ')
                .replace('<ssl>', '  <ssl>').replace('</ssl>', '  </ssl>')
                + '</zeo>')

        storage_name = opt.get('storage-number', parse.name, '1')
        storage = [('path', path('file-storage', os.path.join(
            layout.var, 'filestorage', 'Data.fs')))]
        blob = self.options.get('blob-storage')
        if blob is None or blob.strip():
            storage.append(('blob-dir', path('blob-storage', os.path.join(
                layout.var, 'blobstorage'))))
        for key in ('pack-gc', 'pack-keep-old'):
            value = opt.get(key, parse.boolean)
            if value is not None:
                storage.append((key, _zconfig_value(value)))

        level = opt.get('zeo-log-level', parse.line, 'INFO')
        if level.lower() not in LOG_LEVELS:
            raise opt.error('zeo-log-level', '%r is not a log level (%s)' % (
                level, ', '.join(LOG_LEVELS)))
        log = path('zeo-log', None)
        if log == layout.transcript:
            log = None  # the transcript already holds what goes to STDOUT
        return (zeo_text
                + zconf.render_section('filestorage', storage, storage_name)
                + zconf.logfile_eventlog(
                    log or 'STDOUT', level,
                    opt.get('zeo-log-format', parse.line, None)))

    def structured_ssl(self, path):
        """The <ssl> keys from the ssl-* options, with the files checked
        (ZEO itself would die with a traceback on a missing file)."""
        opt = self.opt
        cert = path('ssl-certificate', None)
        key = path('ssl-key', None)
        auth = path('ssl-authenticate', None)
        pw = opt.get('ssl-password-function', parse.line, None)
        if not cert:
            for other in ('ssl-key', 'ssl-authenticate',
                          'ssl-password-function'):
                if opt.has(other):
                    raise opt.error(other, 'needs ssl-certificate')
            return []
        for option, p in (('ssl-certificate', cert), ('ssl-key', key),
                          ('ssl-authenticate', auth)):
            if p and not os.path.exists(p):
                raise opt.error(option, '%s does not exist' % p)
        check_private_key(opt, 'ssl-key' if key else 'ssl-certificate',
                          key or cert)
        keys = [('certificate', cert)]
        if key:
            keys.append(('key', key))
        if pw:
            if not all(part.isidentifier() for part in pw.split('.')):
                raise opt.error('ssl-password-function',
                                '%r is not a dotted name' % pw)
            keys.append(('password-function', pw))
        if not auth:
            raise opt.error(
                'ssl-authenticate', 'is required with ssl-certificate: the CA'
                ' file or directory that signed the client certificates (a'
                ' ZEO server with TLS accepts only clients that present one)')
        keys.append(('authenticate', auth))
        return keys

    def zdaemon_conf(self, text):
        layout = self.layout
        runzeo = self.runzeo or os.path.join(layout.etc, 'runzeo')
        for label, value in (('runzeo', runzeo),
                             ('zeo.conf', layout.zeo_conf)):
            if any(c.isspace() for c in value):
                raise self.opt.error(label, '%r: zdaemon splits its program'
                                     ' line at white space' % value)
        defaults = [
            ('program', '%s -C %s' % (runzeo, layout.zeo_conf)),
            ('daemon', 'on'),
            ('directory', layout.workdir),
            ('socket-name', layout.socket),
            ('transcript', layout.transcript),
        ]
        if self.user:
            defaults.append(('user', self.user))
        text = zconf.merge_section_keys(text, 'runner', defaults)
        if not zconf.has_section(text, 'eventlog'):
            text += zconf.logfile_eventlog(layout.transcript)
        return text

    def validate(self, option, text, path, schema):
        try:
            return zconf.load(schema, text, path, self.working_set.entries)
        except zconf.ConfigError as e:
            raise self.opt.error(option, e.describe('the generated text'
                                 if option not in self.options else
                                 'the text'))

    def inspect(self, config):
        """Learn address, storages and log files from the loaded zeo.conf."""
        address = config.zeo.address.address
        if isinstance(address, str):
            self.address = parse.Address(socket=address)
        else:
            host, port = address
            if not port:
                raise self.opt.error(
                    'zeo.conf' if 'zeo.conf' in self.options else
                    'zeo-address', 'the address %r has no port: the server'
                    ' would listen on a random one' % (host,))
            self.address = parse.Address(host or '0.0.0.0', port)
        self.storages = []
        names = [o.name for o in config.storages]
        if names.count(None) > 1:
            raise self.opt.error('zeo.conf', 'only one storage may be'
                                 ' unnamed: name them, as in'
                                 ' <filestorage NAME>')
        if None in names and '1' in names:
            raise self.opt.error('zeo.conf', 'an unnamed storage is named'
                                 ' "1" by runzeo, and a storage "1" exists')
        for opener in config.storages:
            self.storages.append(Storage(
                opener.name or '1', opener.config.getSectionType(),
                *_storage_paths(opener.config)))
        self.logs = []
        if config.eventlog is not None:
            for handler in config.eventlog.handler_factories:
                p = getattr(handler.section, 'path', None)
                if p and p not in ('STDOUT', 'STDERR'):
                    self.logs.append(p)
        self.pid_file = config.zeo.pid_filename
        self.tls = bool(getattr(config.zeo, 'ssl', None))

    # -- installation -------------------------------------------------------

    def install(self):
        layout = self.layout
        owner = _owner(self.user)
        for d in (layout.etc, layout.bin):
            files.makedirs(d)
        for d in (layout.run, layout.log, os.path.dirname(self.transcript),
                  os.path.dirname(self.socket)):
            files.makedirs(d, owner=owner)
        for s in self.storages:
            if s.path:
                files.makedirs(os.path.dirname(s.path), owner=owner)
            if s.blob_dir:
                files.makedirs(s.blob_dir, 0o700, owner=owner)
        for p in self.logs + ([self.pid_file] if self.pid_file else []):
            files.makedirs(os.path.dirname(p), owner=owner)

        files.write(layout.zeo_conf, self.zeo_conf_text)
        files.write(layout.zdaemon_conf, self.zdaemon_conf_text)
        installed = [layout.zeo_conf, layout.zdaemon_conf]
        installed.extend(self.scripts())
        return installed

    update = install

    def scripts(self):
        layout = self.layout
        generated = []
        for given, default, module in (
                (self.runzeo, 'runzeo', 'ZEO.runzeo'),
                (self.zeopack, 'zeopack', 'ZEO.scripts.zeopack')):
            if given and os.path.exists(given):
                continue  # the user's own script
            path = given or os.path.join(layout.etc, default)
            generated += zc.buildout.easy_install.scripts(
                [(os.path.basename(path), module, 'main')], self.working_set,
                sys.executable, os.path.dirname(path))
        ctl_ws = self.resolve('name', ['zc.zodbrecipes', 'zdaemon'])
        config = dict(
            name=self.name,
            zdaemon_conf=layout.zdaemon_conf,
            address=self.address.local(),
            address_str=str(self.address),
            tls=self.tls,
            logs=[self.transcript] + self.logs,
        )
        if self.shell_script:
            ctl = os.path.join(layout.etc, 'ctl')
            generated += zc.buildout.easy_install.scripts(
                [('ctl', 'zc.zodbrecipes.ctl', 'main')], ctl_ws,
                sys.executable, layout.etc, arguments=repr(config))
            files.write(layout.control, shell_wrapper(ctl), 0o755)
            generated.append(layout.control)
        else:
            generated += zc.buildout.easy_install.scripts(
                [(os.path.basename(layout.control), 'zc.zodbrecipes.ctl',
                  'main')], ctl_ws, sys.executable, layout.bin,
                arguments=repr(config))
        return generated


def shell_wrapper(target):
    return '#!/bin/sh\nexec %s "$@"\n' % _sh_quote(target)


def _sh_quote(value):
    return "'" + value.replace("'", "'\\''") + "'"


def check_private_key(opt, option, path):
    """Refuse a private key that others than its owner can read."""
    mode = os.stat(path).st_mode
    if mode & 0o077:
        raise opt.error(option, '%s is readable by group or others (mode %s):'
                        ' a TLS private key must be private (chmod 600)'
                        % (path, oct(mode & 0o777)))


def _int0(value):
    return parse.integer(value, 0)


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


def _owner(user):
    if not user or os.geteuid() != 0:
        return None
    import pwd
    pw = pwd.getpwnam(user)
    return pw.pw_uid, pw.pw_gid


def uninstall(name, options):
    """Warn when the part goes away while its server is running."""
    sock = options.get('socket-name') or ''
    config = options.get('zdaemon-conf')
    import zdaemon.zdctl  # noqa: F401  (the protocol is a one-line request)
    status = _zdaemon_status(sock)
    if status:
        pid = status.get('application', '0')
        logger.warning(
            'The server of part %s is still running (daemon manager pid %s,'
            ' server pid %s). It keeps running with the configuration it'
            ' was started with. To stop it after this run: kill %s'
            ' (or restart it with the new control script when the part is'
            ' being reinstalled).', name, status.get('manager', '?'), pid,
            status.get('manager', '?'))
    return config


def _zdaemon_status(sock):
    if not sock:
        return None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(sock)
        s.sendall(b'status\n')
        s.shutdown(socket.SHUT_WR)
        data = b''
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        return None
    finally:
        s.close()
    return dict(line.split('=', 1) for line in data.decode().splitlines()
                if '=' in line)
