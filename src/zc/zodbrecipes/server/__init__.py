"""The ``zc.zodbrecipes:server`` recipe: a ZEO server run by zdaemon.

Options are read, rendered into zeo.conf and zdaemon.conf and validated
with ZEO's and zdaemon's own schemas in ``__init__``: buildout creates every
recipe before it uninstalls anything, so a mistake stops the run while the
previous installation (and a running server) is still untouched.
``install`` then only creates directories and writes files.
"""
import logging
import os
import sys

import zc.buildout

from zc.zodbrecipes import ctl
from zc.zodbrecipes import eggs
from zc.zodbrecipes import files
from zc.zodbrecipes import options as parse
from zc.zodbrecipes import schedule as schedules
from zc.zodbrecipes import stamps
from zc.zodbrecipes import zconf
from zc.zodbrecipes.render import backup as render_backup
from zc.zodbrecipes.render import cron
from zc.zodbrecipes.render import logrotate as render_logrotate
from zc.zodbrecipes.render import quoting
from zc.zodbrecipes.render import rcscript
from zc.zodbrecipes.render import supervisor as render_supervisor
from zc.zodbrecipes.render import systemd as render_systemd

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

    deployment = None   # the deployment's name, in deployment mode
    rc = logrotate = crontab = None

    def __init__(self, buildout, name):
        bo = buildout['buildout']
        self.name = name
        self.directory = bo['directory']
        self.bin = bo['bin-directory']
        self.var = os.path.join(self.directory, 'var')
        self.etc = os.path.join(bo['parts-directory'], name)
        # Generated Python scripts (runzeo, zeopack, repozo, ctl): buildout
        # writes them again on every install, for the current eggs.
        self.scripts = self.etc
        self.run = os.path.join(self.var, 'run')
        self.log = os.path.join(self.var, 'log')
        self.zeo_conf = os.path.join(self.etc, 'zeo.conf')
        self.zdaemon_conf = os.path.join(self.etc, 'zdaemon.conf')
        self.transcript = os.path.join(self.log, name + '.log')
        self.socket = os.path.join(self.run, name + '-zdaemon.sock')
        self.control = os.path.join(self.bin, name)
        self.workdir = self.directory
        self.user = None
        self.backups = os.path.join(self.var, 'backups', name)

    @property
    def prefix(self):
        """The name of units, programs and cron.d files."""
        if self.deployment:
            return '%s-%s' % (self.deployment, self.name)
        return self.name

    def script(self, what):
        """bin/NAME-what: the pack, backup and restore scripts."""
        return os.path.join(self.bin, '%s-%s' % (self.name, what))

    def crond_file(self, job):
        return os.path.join(self.crontab, cron.crond_filename(
            '%s-%s' % (job, self.prefix)))


class DeploymentLayout(Layout):
    """The files of a part with ``deployment = SECTION``: in the directories
    of a zc.recipe.deployment part (or any section with its options).
    """

    REQUIRED = ('name', 'etc-directory', 'rc-directory', 'run-directory',
                'log-directory', 'logrotate-directory', 'crontab-directory',
                'user')

    def __init__(self, buildout, name, opt, section_name):
        Layout.__init__(self, buildout, name)
        try:
            section = buildout[section_name]
        except KeyError:
            raise opt.error('deployment', 'there is no section %s'
                            % section_name)
        self.section = section
        missing = [k for k in self.REQUIRED if not section.get(k)]
        if missing:
            raise opt.error('deployment', 'section %s has no %s' % (
                section_name, ', '.join(missing)))

        def directory(key):
            value = section[key]
            try:
                if not value.startswith('/'):
                    raise parse.OptionError('%r is not absolute' % value)
                return parse.path(value, '/')
            except parse.OptionError as e:
                raise opt.error('deployment', 'section %s, %s: %s' % (
                    section_name, key, e))
        try:
            self.deployment = parse.name(section['name'])
            self.user = quoting.user(section['user'])
        except parse.OptionError as e:
            raise opt.error('deployment', 'section %s: %s' % (
                section_name, e))
        self.etc = directory('etc-directory')
        self.rc = directory('rc-directory')
        self.run = directory('run-directory')
        self.log = directory('log-directory')
        self.logrotate = directory('logrotate-directory')
        self.crontab = directory('crontab-directory')
        self.lib = (directory('lib-directory')
                    if section.get('lib-directory') else None)
        if self.lib:
            self.var = self.lib
            self.backups = os.path.join(self.lib, 'backups')
        self.zeo_conf = os.path.join(self.etc, name + '-zeo.conf')
        self.zdaemon_conf = os.path.join(self.etc, name + '-zdaemon.conf')
        self.transcript = os.path.join(self.log, name + '-zeo.log')
        self.socket = os.path.join(self.run, name + '-zdaemon.sock')
        self.control = os.path.join(self.rc, self.prefix)
        self.workdir = self.run


class Storage:
    def __init__(self, name, type_, path=None, blob_dir=None):
        self.name, self.type, self.path, self.blob_dir = (
            name, type_, path, blob_dir)


class Recipe:

    def __init__(self, buildout, name, options):
        self.buildout, self.part, self.options = buildout, name, options
        given = {k: v for k, v in options.items() if not k.startswith('__')}
        self.given = given
        self.stamp = stamps.Stamp(
            buildout, name, given, [given['deployment']]
            if 'deployment' in given else [],
            # (what an %include-d file holds may have changed)
            cacheable=not any('%include' in given.get(k, '')
                              for k in ('zeo.conf', 'zdaemon.conf')))
        self.recorded = self.stamp.load()
        if self.recorded is not None and all(
                os.path.exists(path)
                for _, path in self.recorded['private_keys']):
            # Built from the same options, code and eggs before: publish
            # what that build published; install checks its files.
            options.update(self.recorded['published'])
            opt = parse.Options(name, options)
            for option, path in self.recorded['private_keys']:
                parse.check_private_key(opt, option, path)
            return
        self.compute()

    def compute(self):
        buildout, name, options = self.buildout, self.part, self.options
        self.recorded = None
        self.private_keys = []
        opt = self.opt = parse.Options(name, options)
        try:
            parse.name(name)
        except parse.OptionError as e:
            raise zc.buildout.UserError('[%s]: the part name %s' % (name, e))
        self.name = opt.get('name', parse.name, name)
        if opt.has('deployment'):
            layout = DeploymentLayout(buildout, self.name, opt,
                                      opt.get('deployment'))
        else:
            layout = Layout(buildout, self.name)
        self.layout = layout
        base = layout.directory
        self.eggs = opt.get('eggs', parse.requirements, [])
        self.shell_script = opt.get('shell-script', parse.boolean, False)
        self.user = opt.get('effective-user', parse.name, layout.user)
        self.group = _group(opt, self.user)

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
        self.runner = runner_settings(zd, layout.zdaemon_conf)

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

        # Everything else the part writes, rendered (and so checked) now.
        self.files = self.render_files()
        for kind, path in self.files_by_kind.items():
            options[kind] = path
        self.published = {k: v for k, v in options.items()
                          if not k.startswith('__') and self.given.get(k) != v}

    def check_key(self, option, path):
        parse.check_private_key(self.opt, option, path)
        self.private_keys.append((option, path))

    # -- parsing and rendering ---------------------------------------------

    def runzeo_working_set(self):
        # One working set serves every generated script: runzeo, zeopack,
        # repozo and the control script (resolving is most of a no-op run).
        return eggs.working_set(
            self.buildout, self.opt, 'eggs',
            ['ZEO', 'zc.zodbrecipes', 'zdaemon'] + self.eggs)

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
            nested = ''.join('  ' + line for line in zconf.render_section(
                'ssl', ssl).splitlines(keepends=True))
            zeo_text = zeo_text.replace('</zeo>', nested + '</zeo>')

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
        self.check_key('ssl-key' if key else 'ssl-certificate',
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
        runzeo = self.runzeo or os.path.join(layout.scripts, 'runzeo')
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
        if self.tls and 'zeo.conf' in self.options:
            for key in _tls_key_files(self.zeo_conf_text,
                                      self.layout.directory):
                self.check_key('zeo.conf', key)

    # -- pack, backup, rc script, logrotate, systemd, supervisor ----------

    def render(self, option, function, *args, **kw):
        """Call a renderer; its OptionError becomes the option's error."""
        try:
            return function(*args, **kw)
        except parse.OptionError as e:
            raise self.opt.error(option, e)

    def deployment_option(self, option, parser, default):
        """An option of the part, else of the deployment section."""
        if self.opt.has(option):
            return self.opt.get(option, parser)
        section = getattr(self.layout, 'section', None)
        if section is None or option not in section:
            return default
        try:
            return parser(section[option])
        except parse.OptionError as e:
            raise self.opt.error('deployment', 'section %s, %s: %s' % (
                self.options['deployment'], option, e))

    def script_path(self, given, default):
        return given or os.path.join(self.layout.scripts, default)

    def render_files(self):
        """{path: (text, mode)} of every file rendered by render/*, and
        self.files_by_kind (option name: path) for other parts."""
        layout, opt = self.layout, self.opt
        out = {}
        kinds = self.files_by_kind = {}

        def add(kind, path, text, mode=0o644):
            out[path] = (text, mode)
            kinds[kind] = path

        self.zeopack_path = self.script_path(self.zeopack, 'zeopack')
        self.repozo_path = os.path.join(layout.scripts, 'repozo')
        self.ctl_path = os.path.join(layout.scripts, 'ctl')
        address = self.pack_address()
        packed = [s.name for s in self.storages if s.path]

        # The control script in the rc directory.
        if layout.deployment and self.shell_script:
            add('rc-script', layout.control, self.render(
                'deployment', rcscript.render, layout.prefix, self.ctl_path),
                0o755)

        # Log rotation (deployment mode).
        if layout.logrotate and self.deployment_option(
                'logrotate', parse.boolean, True):
            rotate = opt.get('logrotate-rotate', _int0, 14)
            frequency = opt.get('logrotate-frequency', _renderer(
                render_logrotate.frequency), 'daily')
            compress = opt.get('logrotate-compress', parse.boolean, True)
            size = opt.get('logrotate-size', _renderer(
                render_logrotate.size), None)
            logs = list(dict.fromkeys([self.transcript] + self.logs))
            add('logrotate-file', os.path.join(
                layout.logrotate, layout.prefix), self.render(
                'logrotate', render_logrotate.render, logs,
                [layout.control, 'logreopen'], rotate=rotate,
                frequency=frequency, compress=compress, size=size,
                user=self.user, group=self.group))

        # Packing.
        self.pack = opt.get('pack', _renderer(schedules.parse), None)
        if self.pack:
            if not packed:
                raise opt.error('pack', 'the server has no file storage'
                                ' to pack')
            if layout.crontab:
                commands = self.render(
                    'pack', cron.pack_commands, layout.prefix,
                    self.zeopack_path, address, packed, layout.run,
                    self.pack.days)
                add('pack-crontab', layout.crond_file('pack'), self.render(
                    'pack', cron.crontab, self.pack,
                    [argv for _, argv in commands], user=self.user,
                    comment='Pack the ZEO server %s (zc.zodbrecipes)'
                    % layout.prefix))
            else:
                add('pack-script', layout.script('pack'), self.render(
                    'pack', cron.pack_script, layout.prefix,
                    self.zeopack_path, address, packed, layout.run,
                    self.pack.days or 0), 0o755)

        # Backups.
        self.backup = opt.get('backup', _renderer(schedules.parse), None)
        for option in ('backup-directory', 'backup-keep'):
            if opt.has(option) and not self.backup:
                raise opt.error(option, 'needs the backup option')
        if self.backup:
            if self.pack:
                self.render('backup', schedules.distinct_minute,
                            self.backup, self.pack)
            if self.backup.days is not None:
                raise opt.error('backup', 'a number of days applies to'
                                ' packing only (use backup-keep)')
            backups = self.backups = opt.get(
                'backup-directory', parse.path, layout.backups,
                base=layout.directory)
            keep = opt.get('backup-keep', lambda v: parse.integer(v, 1), 7)
            triples = [(s.name, s.path, s.blob_dir)
                       for s in self.storages if s.path]
            if not triples:
                raise opt.error('backup', 'the server has no file storage'
                                ' to back up')
            backup_script = layout.script('backup')
            add('backup-script', backup_script, self.render(
                'backup', render_backup.backup_script, layout.prefix,
                self.repozo_path, triples, backups, keep=keep), 0o755)
            add('restore-script', layout.script('restore'), self.render(
                'backup', render_backup.restore_script, layout.prefix,
                self.repozo_path, triples, backups,
                [layout.control, 'status'], address, sys.executable),
                0o755)
            if layout.crontab:
                add('backup-crontab', layout.crond_file('backup'),
                    self.render(
                        'backup', cron.crontab, self.backup,
                        [[backup_script]], user=self.user,
                        comment='Back up the ZEO server %s'
                        ' (zc.zodbrecipes)' % layout.prefix))

        # systemd units and a supervisord program, on request.
        systemd = self.deployment_option(
            'systemd-directory', lambda v: parse.path(v, layout.directory),
            None)
        if systemd:
            self.systemd_units(systemd, address, packed, add)
        supervisor = self.deployment_option(
            'supervisor-directory',
            lambda v: parse.path(v, layout.directory), None)
        if supervisor:
            add('supervisor-file', os.path.join(
                supervisor, layout.prefix + '.conf'), self.render(
                'supervisor-directory', render_supervisor.render,
                layout.prefix, self.script_path(self.runzeo, 'runzeo'),
                layout.zeo_conf, self.transcript, user=self.user,
                directory=layout.workdir))
        return out

    def systemd_units(self, directory, address, packed, add):
        layout = self.layout
        prefix = layout.prefix
        writable = []
        for s in self.storages:
            writable += [os.path.dirname(p) for p in (s.path, s.blob_dir)
                         if p]
        writable += [os.path.dirname(p) for p in
                     [self.transcript, self.socket] + self.logs +
                     ([self.pid_file] if self.pid_file else [])]
        writable = list(dict.fromkeys(writable))
        readable = [sys.executable, layout.directory]
        units = {prefix + '.service': self.render(
            'systemd-directory', render_systemd.server_service, prefix,
            self.script_path(self.runzeo, 'runzeo'), layout.zeo_conf,
            user=self.user, group=self.group, directory=layout.workdir,
            writable=writable, readable=readable)}
        if self.pack:
            units.update(self.render(
                'pack', render_systemd.pack_units, prefix, self.pack,
                self.zeopack_path, address, packed, user=self.user,
                group=self.group, readable=readable))
        if self.backup:
            units.update(self.render(
                'backup', render_systemd.backup_units, prefix, self.backup,
                layout.script('backup'), self.backups, user=self.user,
                group=self.group, readable=readable + list(writable)))
        for unit, text in units.items():
            kind = 'systemd-' + unit[len(prefix) + 1:].replace('.', '-') \
                if unit != prefix + '.service' else 'systemd-service'
            add(kind, os.path.join(directory, unit), text)

    def pack_address(self):
        """The server's address as zeopack on this host reaches it."""
        local = self.address.local()
        if isinstance(local, str):
            return local
        return str(parse.Address(*local))

    # -- installation -------------------------------------------------------

    def install(self):
        if self.recorded is not None:
            if self.stamp.intact(self.recorded):
                for d, mode, owner in self.recorded['directories']:
                    files.makedirs(d, mode, owner and tuple(owner))
                return [f[0] for f in self.recorded['files']] + [
                    self.stamp.path]
            self.compute()  # a file changed: build it all again
        layout = self.layout
        directories = self.directories()
        for d, mode, owner in directories:
            files.makedirs(d, mode, owner)
        files.write(layout.zeo_conf, self.zeo_conf_text)
        files.write(layout.zdaemon_conf, self.zdaemon_conf_text)
        installed = [layout.zeo_conf, layout.zdaemon_conf]
        installed.extend(self.scripts())
        for path, (text, mode) in self.files.items():
            files.write(path, text, mode)
            installed.append(path)
        return installed + self.stamp.save(
            self.published, installed, directories, self.private_keys)

    def directories(self):
        """(path, mode, owner) of the directories the part needs."""
        layout = self.layout
        owner = _owner(self.user)
        found = [(d, None, None) for d in (
            layout.etc, layout.bin, layout.scripts)]
        found += [(os.path.dirname(p), None, None) for p in self.files]
        found += [(d, None, owner) for d in (
            layout.run, layout.log, os.path.dirname(self.transcript),
            os.path.dirname(self.socket))]
        for s in self.storages:
            if s.path:
                found.append((os.path.dirname(s.path), None, owner))
            if s.blob_dir:
                found.append((s.blob_dir, 0o700, owner))
        found += [(os.path.dirname(p), None, owner) for p in self.logs + (
            [self.pid_file] if self.pid_file else [])]
        return list(dict.fromkeys(found))

    update = install

    def scripts(self):
        layout = self.layout
        generated = []
        wanted = [(self.runzeo, 'runzeo', 'ZEO.runzeo'),
                  (self.zeopack, 'zeopack', 'ZEO.scripts.zeopack')]
        if self.backup:
            wanted.append((None, 'repozo', 'ZODB.scripts.repozo'))
        for given, default, module in wanted:
            if given and os.path.exists(given):
                continue  # the user's own script
            generated.append(eggs.script(
                self.buildout, self.working_set,
                self.script_path(given, default), module, 'main'))
        config = dict(
            name=self.name,
            zdaemon_conf=layout.zdaemon_conf,
            address=self.address.local(),
            address_str=str(self.address),
            tls=self.tls,
            logs=[self.transcript] + self.logs,
            **self.runner)
        if self.shell_script:
            generated.append(eggs.script(
                self.buildout, self.working_set, self.ctl_path,
                'zc.zodbrecipes.ctl', 'main', repr(config)))
            if not layout.deployment:  # else the LSB script, rendered
                files.write(layout.control, '#!/bin/sh\nexec %s "$@"\n'
                            % quoting.sh_quoted(self.ctl_path), 0o755)
                generated.append(layout.control)
        else:
            generated.append(eggs.script(
                self.buildout, self.working_set, layout.control,
                'zc.zodbrecipes.ctl', 'main', repr(config)))
        return generated


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
            umask=r.umask if r.umask is not None else 0o22, user=r.user,
            environment=dict(env))
    return settings


def _tls_key_files(text, base):
    """The existing private key files named by the <ssl> sections of a
    zeo.conf text (the certificate, when a section has no key)."""
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
    walk(context.top)
    return found


def _renderer(function):
    """A renderer's check as an option parser (on the stripped value)."""
    def parser(value):
        return function(value.strip())
    return parser


def _group(opt, user):
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
                            'deployment',
                            'there is no user %r on this system' % user)
        return user
    try:
        return grp.getgrgid(pw.pw_gid).gr_name
    except KeyError:
        return user


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
    status = ctl.query(options.get('socket-name') or '', timeout=2)
    if status:
        pid = status.get('application', '0')
        logger.warning(
            'The server of part %s is still running (daemon manager pid %s,'
            ' server pid %s). It keeps running with the configuration it'
            ' was started with. To stop it after this run: kill %s'
            ' (or restart it with the new control script when the part is'
            ' being reinstalled).', name, status.get('manager', '?'), pid,
            status.get('manager', '?'))
