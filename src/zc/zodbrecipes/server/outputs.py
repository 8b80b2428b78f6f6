"""Every file a server part writes, one small function per output.

Each function takes the ``Part`` (the parsed settings, the layout, the
validated server configuration) and returns the ``File``s it makes, or
none.  ``OUTPUTS`` lists them in the order they are written; the recipe
renders them all when buildout reads the part (so a renderer's objection
stops buildout before anything is uninstalled) and ``install`` only writes
them.  A new output is a function here and a row in ``OUTPUTS``.
"""
import os
import sys

from zc.zodbrecipes import eggs
from zc.zodbrecipes import options as parse
from zc.zodbrecipes import schedule
from zc.zodbrecipes.render import backup as render_backup
from zc.zodbrecipes.render import commandline
from zc.zodbrecipes.render import cron
from zc.zodbrecipes.render import logrotate as render_logrotate
from zc.zodbrecipes.render import quoting
from zc.zodbrecipes.render import rcscript
from zc.zodbrecipes.render import supervisor as render_supervisor
from zc.zodbrecipes.render import systemd as render_systemd


class File:
    """A file to write.  kind: the option that publishes its path to other
    parts (or None); script: a generated program (install logs it);
    option: the option an error about the file names."""

    def __init__(self, path, text, mode=0o644, kind=None, script=False,
                 option=None):
        self.path, self.text, self.mode = path, text, mode
        self.kind, self.script, self.option = kind, script, option


class Part:
    """What the outputs are made from."""

    def __init__(self, buildout, opt, settings, layout, server, working_set):
        self.buildout, self.opt = buildout, opt
        self.settings, self.layout, self.server = settings, layout, server
        self.working_set = working_set
        # option: the part that writes the program it names (runzeo)
        self.written_by = {}

    def render(self, option, function, *args, **kw):
        """Call a renderer; its OptionError becomes the option's error."""
        try:
            return function(*args, **kw)
        except parse.OptionError as e:
            raise self.opt.error(option, e)

    def source(self, *options):
        """The first of options the part gives: the one an error about a
        path names (else what chose the layout)."""
        for option in options:
            if option in self.settings.given:
                return option
        return 'deployment' if self.layout.deployment else 'name'

    def program(self, path, module, arguments='', extra=()):
        """The text of a Python program at path, in the server's working
        set (plus extra-paths; relative-paths respected)."""
        s = self.settings
        return eggs.script_text(
            self.buildout, self.working_set, module, 'main', arguments,
            extra=list(extra) + s['extra-paths'], location=path,
            relative_to=self.layout.directory if s['relative-paths']
            else None)

    @property
    def zeopack(self):
        return self.layout.program('zeopack', self.settings['zeopack'])

    @property
    def runzeo(self):
        return self.layout.program('runzeo', self.settings['runzeo'])

    @property
    def repozo(self):
        return self.layout.program('repozo')

    @property
    def backuptool(self):
        return self.layout.program('backuptool')

    @property
    def zodbpack(self):
        return self.layout.program('zodbpack')

    @property
    def pack_conf(self):
        """zodbpack's configuration, beside zeo.conf."""
        return os.path.join(os.path.dirname(self.layout.zeo_conf),
                            'zodbpack.conf')

    @property
    def ctl(self):
        return self.layout.program('ctl')


def configuration(part):
    layout, server = part.layout, part.server
    # Whoever reads a database password can use the database.
    return [File(layout.zeo_conf, server.zeo_conf,
                 0o600 if server.secret else 0o644),
            File(layout.zdaemon_conf, server.zdaemon_conf)]


def programs(part):
    """runzeo, zeopack and (for backups) repozo, unless the options name
    existing scripts of the user's."""
    # A RelStorage is opened once before ZEO serves it (relzeo.py); both
    # drop the line ZEO logs for every connection (runzeo.py).
    runzeo = ('zc.zodbrecipes.relzeo' if any(
        st.type == 'relstorage' for st in part.server.storages)
        else 'zc.zodbrecipes.runzeo')
    wanted = [('runzeo', part.runzeo, runzeo),
              ('zeopack', part.zeopack, 'ZEO.scripts.zeopack')]
    if part.server.rel and part.settings['pack']:
        wanted.append(('pack', part.zodbpack, 'relstorage.zodbpack'))
    if part.settings['backup']:
        if not part.server.rel:
            wanted.append(('backup', part.repozo, 'ZODB.scripts.repozo'))
        wanted.append(('backup', part.backuptool,
                       'zc.zodbrecipes.backuptool'))
    found = []
    for option, path, module in wanted:
        given = (part.settings.get(option)
                 if option not in ('backup', 'pack') else None)
        if given and (os.path.exists(given)
                      or option in part.written_by):
            continue  # the user's own, or another part's
        if given and not given.startswith(part.layout.directory + os.sep):
            raise part.opt.error(option, '%s does not exist (a script outside'
                                 ' the buildout is used, never generated)'
                                 % given)
        found.append(File(path, part.program(path, module), 0o755,
                          script=True, option=option))
    return found


def control_script(part):
    """bin/NAME: the control program; with shell-script, a /bin/sh script
    running the program kept in the part's directory (in deployment mode,
    the rc script does that)."""
    layout, server = part.layout, part.server
    config = dict(
        name=layout.name,
        zdaemon_conf=layout.zdaemon_conf,
        zeo_conf=layout.zeo_conf,
        address=server.address.local(),
        address_str=str(server.address),
        tls=server.tls,
        tls_client=tls_client(part),
        logs=[server.transcript] + server.logs,
        storages=[[st.name, st.path, st.blob_dir] for st in server.storages],
        metrics=metrics_address(part),
        **server.runner)
    if not part.settings['shell-script']:
        return [File(layout.control, part.program(
            layout.control, 'zc.zodbrecipes.ctl', repr(config)), 0o755,
            script=True)]
    found = [File(part.ctl, part.program(
        part.ctl, 'zc.zodbrecipes.ctl', repr(config)), 0o755, script=True)]
    if not layout.deployment:
        found.append(File(layout.control, '#!/bin/sh\nexec %s "$@"\n'
                          % quoting.sh_quoted(part.ctl), 0o755))
    return found


def tls_client(part):
    """[certificate, key] the control script presents to a TLS server:
    ssl-client-certificate, else the server's own (see README)."""
    s = part.settings
    if not part.server.tls:
        return None
    if s['ssl-client-certificate']:
        if s['ssl-client-key']:
            parse.check_private_key(part.opt, 'ssl-client-key',
                                    s['ssl-client-key'])
        return [s['ssl-client-certificate'], s['ssl-client-key']]
    if s['ssl-certificate'] and not s['ssl-password-function']:
        return [s['ssl-certificate'], s['ssl-key']]
    return None


def metrics_address(part):
    """[host, port] of the metrics endpoint, or None."""
    address = part.settings['metrics-address']
    return [address.host, address.port] if address else None


def rc_script(part):
    layout = part.layout
    if not (layout.deployment and part.settings['shell-script']):
        return []
    return [File(layout.control, part.render(
        'deployment', rcscript.render, layout.prefix, part.ctl), 0o755,
        kind='rc-script', option='deployment')]


def logrotate(part):
    layout, s, server = part.layout, part.settings, part.server
    if not (layout.logrotate and s['logrotate']):
        return []
    logs = list(dict.fromkeys([server.transcript] + server.logs))
    return [File(os.path.join(layout.logrotate, layout.prefix), part.render(
        'logrotate', render_logrotate.render, logs,
        [layout.control, 'logreopen'], rotate=s['logrotate-rotate'],
        frequency=s['logrotate-frequency'],
        compress=s['logrotate-compress'], size=s['logrotate-size'],
        user=server.user, group=server.group), kind='logrotate-file',
        option='deployment')]


def _packed(part, option):
    packed = [st.name for st in part.server.file_storages]
    if not packed:
        raise part.opt.error(option, 'the server has no file storage to %s'
                             % ('pack' if option == 'pack' else 'back up'))
    return packed


def pack_days(part, when):
    """Days of history a scheduled pack keeps: the schedule's, else
    pack-days when given, else zeopack's default."""
    if when.days is not None:
        return when.days
    if 'pack-days' in part.settings.given:
        return part.settings['pack-days']
    return None


def rel_storage_text(rel, name):
    """%import relstorage and the <relstorage> section of rel for a job
    (not the server): the blob directory is kept (without it, a pack
    would never remove the blobs of the objects it removes), the local
    cache is left out (a job needs none)."""
    from zc.zodbrecipes import relconf
    job = relconf.RelStorage(
        rel.type, [(k, v, src) for k, v, src in rel.storage
                   if k != 'cache-local-dir'], rel.adapter, rel.eggs,
        rel.secret, [], rel.type_line)
    return '%import relstorage\n' + job.text('', name)


def _rel_storage(part):
    """The name of the RelStorage the rel-storage option serves."""
    return [st.name for st in part.server.storages
            if st.type == 'relstorage'][0]


def rel_pack_config(part):
    """zodbpack.conf: what a pack of a rel-storage server opens."""
    rel = part.server.rel
    if not (rel and part.settings['pack']):
        return []
    return [File(part.pack_conf, rel_storage_text(rel, _rel_storage(part)),
                 0o600 if rel.secret else 0o644, option='pack')]


def rel_pack(part, when):
    """The pack job of a rel-storage server: zodbpack, under the lock and
    with the exit statuses of the ZEO pack job."""
    layout, server = part.layout, part.server
    storage = _rel_storage(part)
    days = pack_days(part, when) or 0
    if layout.crontab:
        commands = part.render(
            'pack', commandline.zodbpack_commands, layout.prefix,
            part.zodbpack, part.pack_conf, storage, layout.run, days)
        return [File(layout.crond_file('pack'), part.render(
            'pack', cron.crontab, when, [argv for _, argv in commands],
            user=server.user, comment='Pack the RelStorage of the ZEO'
            ' server %s (zc.zodbrecipes)' % layout.prefix),
            kind='pack-crontab', option='pack')]
    return [File(layout.script('pack'), part.render(
        'pack', cron.zodbpack_script, layout.prefix, part.zodbpack,
        part.pack_conf, storage, layout.run, days), 0o755,
        kind='pack-script', option='pack')]


def migration(part):
    """migrate-to: parts/NAME/migrate.conf (zodbconvert's format: the file
    storage read-only, so that the running server keeps its lock, and the
    RelStorage) and bin/NAME-migrate (migratetool.py), which copies,
    resumes, makes the final pass and checks the copy."""
    from zc.zodbrecipes import relconf
    from zc.zodbrecipes import zconf
    layout, server, s = part.layout, part.server, part.settings
    if not s['migrate-to']:
        return []
    if server.rel:
        raise part.opt.error('migrate-to', 'the server serves the RelStorage'
                             ' of rel-storage already')
    if s['storage-wrapper']:
        raise part.opt.error('migrate-to', 'the storage is wrapped'
                             ' (storage-wrapper): its records would be'
                             ' copied as the wrapper stores them')
    stored = server.file_storages
    if len(stored) != 1 or stored[0].type != 'filestorage':
        raise part.opt.error('migrate-to', 'copies one file storage (without'
                             ' a wrapper); the server has %s' % ', '.join(
                                 '%s (%s)' % (st.name, st.type)
                                 for st in server.storages))
    st = stored[0]
    rel = part.opt.get(
        'migrate-to', relconf.read, base=layout.directory,
        var=os.path.join(layout.var, layout.name + '-migrate'),
        sys_path=part.working_set.entries)
    keys = [('path', st.path)]
    if st.blob_dir:
        keys.append(('blob-dir', st.blob_dir))
    keys.append(('read-only', 'true'))
    conf = os.path.join(os.path.dirname(layout.zeo_conf), 'migrate.conf')
    text = (rel_storage_text(rel, 'destination')
            + zconf.render_section('filestorage', keys, 'source'))
    script = layout.script('migrate')
    return [File(conf, text, 0o600 if rel.secret else 0o644,
                 option='migrate-to'),
            File(script, part.program(script, 'zc.zodbrecipes.migratetool',
                                      repr(dict(name=layout.prefix,
                                                conf=conf, data=st.path))),
                 0o755, script=True,
                 option='migrate-to')]


def pack(part):
    layout, server, when = part.layout, part.server, part.settings['pack']
    if not when:
        return []
    if server.rel:
        return rel_pack(part, when)
    packed = _packed(part, 'pack')
    days = pack_days(part, when)
    if layout.crontab:
        commands = part.render(
            'pack', cron.pack_commands, layout.prefix, part.zeopack,
            server.pack_address, packed, layout.run, days)
        return [File(layout.crond_file('pack'), part.render(
            'pack', cron.crontab, when, [argv for _, argv in commands],
            user=server.user, comment='Pack the ZEO server %s'
            ' (zc.zodbrecipes)' % layout.prefix), kind='pack-crontab',
            option='pack')]
    return [File(layout.script('pack'), part.render(
        'pack', cron.pack_script, layout.prefix, part.zeopack,
        server.pack_address, packed, layout.run, days or 0), 0o755,
        kind='pack-script', option='pack')]


def backup(part):
    layout, server, s = part.layout, part.server, part.settings
    when = s['backup']
    if not when:
        return []
    if s['pack']:
        part.render('backup', schedule.distinct_minute, when, s['pack'])
    if when.days is not None:
        raise part.opt.error('backup', 'a number of days applies to packing'
                             ' only (use backup-keep)')
    drill = s['backup-drill']
    if drill:
        if drill.days is not None:
            raise part.opt.error('backup-drill', 'a number of days applies'
                                 ' to packing only')
        part.render('backup-drill', schedule.distinct_minute, drill, when,
                    ('backup-drill', 'backup'))
    script = layout.script('backup')
    if server.rel:
        found = rel_backup(part)
    else:
        found = file_backup(part)
    if layout.crontab:
        found.append(File(layout.crond_file('backup'), part.render(
            'backup', cron.crontab, when, [[script]], user=server.user,
            comment='Back up the ZEO server %s (zc.zodbrecipes)'
            % layout.prefix), kind='backup-crontab', option='backup'))
        if drill:
            found.append(File(layout.crond_file('backup-drill'), part.render(
                'backup-drill', cron.crontab, drill,
                [[layout.script('restore'), '-t']], user=server.user,
                comment='Restore drill of the backups of the ZEO server %s'
                ' (zc.zodbrecipes)' % layout.prefix),
                kind='drill-crontab', option='backup-drill'))
    return found


def file_backup(part):
    """repozo and blob snapshots: the backup and restore scripts of the
    file storages."""
    layout, server, s = part.layout, part.server, part.settings
    _packed(part, 'backup')
    triples = [(st.name, st.path, st.blob_dir)
               for st in server.file_storages]
    backups = s['backup-directory']
    script = layout.script('backup')
    return [
        File(script, part.render(
            'backup', render_backup.backup_script, layout.prefix,
            part.repozo, part.backuptool, triples, backups,
            keep=s['backup-keep'], lock_dir=layout.run), 0o755,
            kind='backup-script', option='backup'),
        File(layout.script('restore'), part.render(
            'backup', render_backup.restore_script, layout.prefix,
            part.repozo, part.backuptool, triples, backups,
            zdaemon=server.socket, address=server.pack_address,
            systemd=(layout.prefix + '.service'
                     if s['systemd-directory'] else None),
            supervisor=(layout.prefix if s['supervisor-directory']
                        else None),
            legacy=(layout.legacy_backups
                    if 'backup-directory' not in s.given else None),
            stop=[layout.control, 'stop']), 0o755,
            kind='restore-script', option='backup'),
    ]


def postgresql_bin(part):
    """The directory of pg_dump and pg_restore: postgresql-bin, else
    pg_dump's on PATH, else the newest /usr/lib/postgresql/N/bin."""
    import glob
    import shutil
    given = part.settings['postgresql-bin']
    wanted = ('pg_dump', 'pg_restore')

    def complete(directory):
        return all(os.access(os.path.join(directory, p), os.X_OK)
                   for p in wanted)
    if given:
        if not complete(given):
            raise part.opt.error('postgresql-bin', '%s has no pg_dump and'
                                 ' pg_restore' % given)
        return given
    found = shutil.which('pg_dump')
    if found and complete(os.path.dirname(found)):
        return os.path.dirname(found)

    def version(path):
        number = path.split('/')[-2]
        return int(number) if number.isdigit() else 0
    for directory in sorted(glob.glob('/usr/lib/postgresql/*/bin'),
                            key=version, reverse=True):
        if complete(directory):
            return directory
    raise part.opt.error('backup', 'pg_dump and pg_restore are not on PATH'
                         ' nor in /usr/lib/postgresql/VERSION/bin: install'
                         ' PostgreSQL\'s client programs or give'
                         ' postgresql-bin')


def rel_backup(part):
    """pg_dump and blob snapshots (render/pgbackup.py): the backup
    script, its password file, and the restore drill (pgrestore.py)."""
    from zc.zodbrecipes import relconf
    from zc.zodbrecipes.render import pgbackup
    layout, server, s = part.layout, part.server, part.settings
    rel = server.rel
    if rel.type != 'postgresql':
        raise part.opt.error('backup', 'a RelStorage on %s: only one on'
                             ' postgresql is backed up (pg_dump)' % rel.type)
    dsn = [v for k, v, _ in rel.adapter if k == 'dsn']
    params = relconf._dsn_checker(part.working_set.entries)(
        dsn[0] if dsn else '')
    if not isinstance(params, dict):
        raise part.opt.error('backup', 'the DSN cannot be read (%s): the'
                             ' backup needs psycopg2 in the environment'
                             % (params or 'psycopg2 is missing'))
    keys = dict((k, v) for k, v, _ in rel.storage)
    shared = parse.boolean(keys.get('shared-blob-dir', 'false'))
    blob_dir = keys.get('blob-dir') if shared else None
    bindir = postgresql_bin(part)
    storage = _rel_storage(part)
    backups = s['backup-directory']
    etc = os.path.dirname(layout.zeo_conf)
    found = []
    secret = part.render('rel-storage', pgbackup.pgpass, params)
    pgpass = None
    if secret:
        pgpass = os.path.join(etc, 'pgpass')
        found.append(File(pgpass, secret, 0o600, option='backup'))
    found.append(File(layout.script('backup'), part.render(
        'backup', pgbackup.backup_script, layout.prefix,
        os.path.join(bindir, 'pg_dump'), part.backuptool, storage, blob_dir,
        backups, params, pgpass_file=pgpass, keep=s['backup-keep'],
        lock_dir=layout.run), 0o755, kind='backup-script', option='backup'))
    restore = layout.script('restore')
    config = dict(
        name=layout.prefix, backups=backups,
        dumps=os.path.join(backups, storage, 'pgdump'),
        snapshots=os.path.join(backups, storage, 'blobs'),
        blob_dir=blob_dir, pgpass=pgpass,
        keep_history=parse.boolean(keys.get('keep-history', 'true')),
        params=dict((k, v) for k, v in params.items() if k != 'password'),
        pg_restore=os.path.join(bindir, 'pg_restore'),
        tool=part.backuptool, stop=' '.join([layout.control, 'stop']),
        blobsnaps=os.path.join(backups, storage, 'blobs'))
    found.append(File(restore, part.program(
        restore, 'zc.zodbrecipes.pgrestore', repr(config)), 0o755,
        script=True, kind='restore-script', option='backup'))
    return found


def systemd(part):
    layout, server, s = part.layout, part.server, part.settings
    directory = s['systemd-directory']
    if not directory:
        return []
    prefix = layout.prefix
    writable = []
    for st in server.storages:
        writable += [os.path.dirname(p) for p in (st.path, st.blob_dir) if p]
    writable += [os.path.dirname(p) for p in
                 [server.transcript, server.socket] + server.logs +
                 ([server.pid_file] if server.pid_file else [])]
    writable = list(dict.fromkeys(writable))
    readable = [sys.executable, layout.directory]
    runtime = [layout.workdir] + [os.path.dirname(p) for p in (
        [server.pid_file] if server.pid_file else []) + (
        [server.address.socket] if server.address.socket else [])]
    account = dict(user=server.user, group=server.group)
    # systemctl start returns once the server answers (and fails if it
    # does not within the start timeout).
    ready = [layout.control, 'check', '--alive', '--wait',
             str(server.runner.get('start_timeout', 300))]
    units = {prefix + '.service': part.render(
        'systemd-directory', render_systemd.server_service, prefix,
        part.runzeo, layout.zeo_conf, directory=layout.workdir,
        writable=writable, readable=readable, ready=ready,
        umask=server.umask, runtime=runtime, **account)}
    if s['metrics-address']:
        units[prefix + '-metrics.service'] = part.render(
            'metrics-address', render_systemd.metrics_service, prefix,
            [layout.control, 'metrics', '--serve'],
            readable=readable + writable, **account)
    if s['pack'] and server.rel:
        units.update(part.render(
            'pack', render_systemd.zodbpack_units, prefix, s['pack'],
            part.zodbpack, part.pack_conf, _rel_storage(part), layout.run,
            pack_days(part, s['pack']) or 0, writable=[
                st.blob_dir for st in server.storages if st.blob_dir],
            readable=readable, **account))
    elif s['pack']:
        units.update(part.render(
            'pack', render_systemd.pack_units, prefix, s['pack'],
            part.zeopack, server.pack_address,
            [st.name for st in server.file_storages], readable=readable,
            lock_dir=layout.run, **account))
    if s['backup']:
        units.update(part.render(
            'backup', render_systemd.backup_units, prefix, s['backup'],
            layout.script('backup'), s['backup-directory'],
            readable=readable + writable, lock_dir=layout.run, **account))
        if s['backup-drill']:
            units.update(part.render(
                'backup-drill', render_systemd.drill_units, prefix,
                s['backup-drill'], layout.script('restore'),
                s['backup-directory'], readable=readable + writable,
                **account))
    found = []
    for unit, text in units.items():
        if unit == prefix + '.service':
            kind = 'systemd-service'
        else:
            kind = 'systemd-' + unit[len(prefix) + 1:].replace('.', '-')
        found.append(File(os.path.join(directory, unit), text, kind=kind,
                          option='systemd-directory'))
    return found


def supervisor(part):
    layout, server = part.layout, part.server
    directory = part.settings['supervisor-directory']
    if not directory:
        return []
    text = part.render(
        'supervisor-directory', render_supervisor.render, layout.prefix,
        part.runzeo, layout.zeo_conf, server.transcript, user=server.user,
        directory=layout.workdir, umask=server.umask)
    if part.settings['metrics-address']:
        text += '\n' + part.render(
            'metrics-address', render_supervisor.render_metrics,
            layout.prefix, [layout.control, 'metrics', '--serve'],
            os.path.join(os.path.dirname(server.transcript),
                         layout.prefix + '-metrics.log'), user=server.user)
    return [File(os.path.join(directory, layout.prefix + '.conf'), text,
                 kind='supervisor-file', option='supervisor-directory')]


def plone_scripts(part):
    """bin/zeopack and bin/repozo, as plone.recipe.zeoserver names them,
    for a part written its way (no zeo.conf text, not in deployment mode)
    or that names them: zeopack packs the part's storages keeping pack-days
    of history, repozo runs ZODB's (or the repozo option's) repozo."""
    s, layout, server = part.settings, part.layout, part.server
    names = ('zeopack-script-name', 'repozo-script-name')
    if not any(n in s.given for n in names) and (
            'zeo.conf' in s.given or layout.deployment):
        return []
    found = []
    if s['zeopack'] != '' and server.file_storages:
        path = os.path.join(layout.bin, s['zeopack-script-name'])
        found.append(File(path, part.render(
            'zeopack-script-name', cron.pack_script, layout.prefix,
            part.zeopack, server.pack_address,
            [st.name for st in server.file_storages], layout.run,
            s['pack-days']), 0o755, option='zeopack-script-name'))
    if s['repozo'] != '':
        path = os.path.join(layout.bin, s['repozo-script-name'])
        if s['repozo']:
            directory, module = os.path.split(s['repozo'])
            module = module[:-3] if module.endswith('.py') else module
            if not module.isidentifier():
                raise part.opt.error('repozo', '%r is no Python module name'
                                     % module)
            text = part.program(path, module, extra=[directory])
        else:
            text = part.program(path, 'ZODB.scripts.repozo')
        found.append(File(path, text, 0o755, script=True,
                          option='repozo-script-name'))
    return found


OUTPUTS = (configuration, programs, control_script, rc_script, logrotate,
           rel_pack_config, migration, pack, backup, systemd, supervisor, plone_scripts)


def claim(buildout, opt, paths):
    """Refuse a file another part of this buildout run writes too (two
    server parts with one bin/zeopack, say), or a path its server or jobs
    use at run time; paths: (path, option) for files, (path, option,
    'used') for run-time paths."""
    claimed = buildout.__dict__.setdefault('_zc_zodbrecipes_files', {})
    for path, option, *used in paths:
        other = claimed.setdefault(path, opt.part)
        if other != opt.part:
            raise opt.error(option or 'name', '%s is %s by part %s too:'
                            ' give one of them another name' % (
                                path, 'used' if used else 'written', other))


def runtime_paths(part):
    """(path, option, 'used') for what the server and its jobs use at run
    time, which no other part may use: zdaemon's socket, the transcript
    and logs, the pid file, the data files and the pack jobs' locks."""
    layout, server, source = part.layout, part.server, part.source
    found = [(server.socket, source('socket-name', 'zdaemon.conf')),
             (server.transcript, source('zdaemon.conf'))]
    found += [(p, source('zeo.conf', 'zeo-log')) for p in server.logs]
    if server.pid_file:
        found.append((server.pid_file, source('zeo.conf', 'pid-file')))
    for st in server.storages:
        found += [(st.path, source('zeo.conf', 'file-storage'))] * bool(
            st.path)
        found += [(st.blob_dir, source('zeo.conf', 'blob-storage'))] * bool(
            st.blob_dir)
    if part.settings['pack']:
        found += [(commandline.lock_path(layout.run, layout.prefix, st.name),
                   'pack') for st in server.file_storages]
    unique = dict.fromkeys((os.path.abspath(p), o, 'used') for p, o in found)
    return list(unique)


def render(part):
    """Every file of the part, in the order they are written; part.claims
    are those and the part's run-time paths (see claim)."""
    files = [f for output in OUTPUTS for f in output(part)]
    part.claims = [(f.path, f.option) for f in files] + runtime_paths(part)
    claim(part.buildout, part.opt, part.claims)
    return files


def directories(part, files):
    """(path, mode, owner, option) of the directories the part needs: those
    of its files, and those the server writes into (owned by its user);
    option is the one an error about the directory names."""
    from zc.zodbrecipes.server.config import owner as owner_of
    layout, server, source = part.layout, part.server, part.source
    owner = owner_of(server.user)
    found = [(d, None, None, source()) for d in (layout.etc, layout.bin,
                                                 layout.scripts)]
    found += [(os.path.dirname(f.path), None, None, f.option or source())
              for f in files]
    found += [(d, None, owner, source()) for d in (layout.run, layout.log)]
    found.append((os.path.dirname(server.transcript), None, owner,
                  source('zdaemon.conf')))
    found.append((os.path.dirname(server.socket), None, owner,
                  source('socket-name', 'zdaemon.conf')))
    for st in server.storages:
        if st.path:
            found.append((os.path.dirname(st.path), None, owner,
                          source('zeo.conf', 'file-storage')))
        if st.blob_dir:
            found.append((st.blob_dir, 0o700, owner,
                          source('zeo.conf', 'blob-storage')))
    found += [(d, 0o700, owner, source('rel-storage'))
              for d in server.private_dirs]
    found += [(os.path.dirname(p), None, owner, source('zeo.conf', 'zeo-log'))
              for p in server.logs]
    if server.pid_file:
        found.append((os.path.dirname(server.pid_file), None, owner,
                      source('zeo.conf', 'pid-file')))
    if server.address.socket:
        found.append((os.path.dirname(server.address.socket), None, owner,
                      source('zeo.conf', 'zeo-address')))
    unique = {}
    for d, mode, who, option in found:
        unique.setdefault((d, mode, who), option)
    return list(unique.items())


def published(part, files):
    """The options the part publishes for other parts."""
    layout, server = part.layout, part.server
    files_ = server.file_storages
    blobs = [st for st in server.storages if st.blob_dir]
    found = {
        'address': str(server.address),
        'zeo-conf': layout.zeo_conf,
        'zdaemon-conf': layout.zdaemon_conf,
        'control-script': layout.control,
        'storages': ' '.join(st.name for st in server.storages),
        'log-file': server.transcript,
        'file-storage': files_[0].path if files_ else '',
        'blob-storage': blobs[0].blob_dir if blobs else '',
        'data-paths': ' '.join(p for st in server.storages
                               for p in (st.path, st.blob_dir) if p),
        'log-paths': ' '.join(server.logs),
        'socket-name': server.socket,
    }
    if part.settings['backup']:
        found['backup-directory'] = part.settings['backup-directory']
    found.update((f.kind, f.path) for f in files if f.kind)
    return found
