"""systemd units for a ZEO server and its pack and backup jobs.

The server unit runs runzeo directly (systemd does what zdaemon does
otherwise: restart, user switch, signals).  Jobs are oneshot services
started by timers, which never start a job that is still running.
"""
import re

from zc.zodbrecipes.options import OptionError
from zc.zodbrecipes.render import commandline
from zc.zodbrecipes.render import quoting


# Directories that ProtectHome=yes hides.
HOMES = ('/home', '/root', '/run/user')

_UNIT = re.compile(r'[A-Za-z0-9:_.-]+\Z')


def unit_name(name):
    """A unit name prefix: systemd allows letters, digits and ":_.-"."""
    name = quoting.name(name)
    if not _UNIT.match(name):
        raise OptionError('name: %r cannot be used in a systemd unit name'
                          % name)
    return name


def protect_home(paths):
    """The ProtectHome= value that leaves the paths usable.

    ``yes`` makes /home, /root and /run/user inaccessible, which would hide a
    buildout (or its Python) living there: then the best we can do is
    ``read-only`` (ReadWritePaths= still makes the data directories
    writable).
    """
    for path in paths:
        if any(path == h or path.startswith(h + '/') for h in HOMES):
            return 'read-only'
    return 'yes'


def _paths(paths, what):
    return [quoting.systemd_word(quoting.abspath(p, what), what)
            for p in paths]


RUN = ('/run/', '/var/run/')


def runtime_directories(paths):
    """The RuntimeDirectory= names (relative to /run) of those directories
    that live under /run (or /var/run, its old name): a tmpfs that a
    reboot empties.  systemd creates them at every start, owned by the
    unit's User=."""
    found = []
    for path in paths:
        path = quoting.abspath(path, 'directory').rstrip('/')
        for run in RUN:
            if path.startswith(run) and path != run.rstrip('/'):
                found.append(quoting.systemd_word(path[len(run):],
                                                  'run-time directory'))
    return list(dict.fromkeys(found))


def _runtime(directories):
    """Lines creating the run-time directories (0750), kept when the unit
    stops: other units (several servers of one deployment, their jobs)
    use them too."""
    if not directories:
        return []
    return ['RuntimeDirectory=' + ' '.join(directories),
            'RuntimeDirectoryMode=0750',
            'RuntimeDirectoryPreserve=yes']


def _hardening(writable, readable):
    """Sandboxing lines; writable directories stay writable."""
    writable = _paths(writable, 'writable path')
    readable = _paths(readable, 'path')
    lines = ['NoNewPrivileges=yes', 'PrivateTmp=yes', 'ProtectSystem=strict']
    if writable:
        lines.append('ReadWritePaths=' + ' '.join(writable))
    lines.append('ProtectHome=' + protect_home(writable + readable))
    return lines


def _account(user, group):
    lines = []
    if user:
        lines.append('User=' + quoting.user(user))
    if group:
        lines.append('Group=' + quoting.user(group, 'group'))
    return lines


def _unit(sections):
    """Unit text from (section, lines) pairs."""
    return '\n'.join('[%s]\n%s\n' % (title, '\n'.join(lines))
                     for title, lines in sections)


def server_service(name, runzeo, config, user=None, group=None,
                   directory=None, writable=(), readable=(),
                   stop_timeout=300, umask=None, ready=None, runtime=()):
    """A .service running ``runzeo -C config`` in the foreground.

    - ready: an argv run after the start (ExecStartPost=) that returns
      once the server answers, so that ``systemctl start`` does too, and
      units ordered after this one start when it serves (the control
      script's ``check --alive --wait``); a failure fails the start.
    - runtime: directories the server needs that a reboot may have
      removed (its working directory, the pid file's, a unix socket's):
      those under /run are created at start (RuntimeDirectory=).
    - writable: the directories the server writes (data, blobs, logs, pid
      file and unix socket); everything else is read-only for it.
    - readable: other paths it needs, such as the Python interpreter of
      runzeo, so that ProtectHome= does not hide them.
    - stop_timeout: seconds a stop may take: closing a big FileStorage
      writes its index.  Then systemd kills the server.
    """
    name = unit_name(name)
    runzeo = quoting.abspath(runzeo, 'runzeo')
    config = quoting.abspath(config, 'configuration file')
    directory = quoting.abspath(directory or '/', 'directory')
    service = [
        'Type=simple',
        *_account(user, group),
    ]
    if umask is not None:
        if not re.match(r'0?[0-7]{3}\Z', str(umask)):
            raise OptionError('umask: %r is not an octal umask' % (umask,))
        service.append('UMask=%04o' % int(str(umask), 8))
    # (The writable paths are checked first: their errors name them.)
    hardening = _hardening(writable, [runzeo, config, directory, *readable]
                           + ([ready[0]] if ready else []))
    service += _runtime(runtime_directories(runtime))
    service += [
        'WorkingDirectory=' + quoting.systemd_word(directory, 'directory'),
        'ExecStart=' + quoting.systemd_command([runzeo, '-C', config]),
        *(['ExecStartPost=' + quoting.systemd_command(ready)]
          if ready else []),
        'ExecReload=/bin/kill -USR2 $MAINPID',
        'KillSignal=SIGTERM',
        'TimeoutStopSec=%d' % quoting.whole_number(stop_timeout,
                                                   'stop timeout', 1),
        'Restart=on-failure',
        # runzeo exits 2 on a configuration error: restarting won't help.
        'RestartPreventExitStatus=2',
        *hardening,
    ]
    return _unit([
        ('Unit', ['Description=ZEO server %s' % name,
                  'After=network.target']),
        ('Service', service),
        ('Install', ['WantedBy=multi-user.target']),
    ])


def metrics_service(name, command, user=None, group=None, readable=()):
    """NAME-metrics.service: the HTTP endpoint of the server's Prometheus
    metrics (command: the control script's ``metrics --serve``), started
    and stopped with the server's unit, restarted when it fails.  It reads
    the data directories (their sizes) and writes nothing."""
    name = unit_name(name)
    service = ['Type=simple', *_account(user, group),
               'ExecStart=' + quoting.systemd_command(command),
               'Restart=on-failure',
               'RestartSec=5',
               *_hardening([], [command[0], *readable])]
    return _unit([
        ('Unit', ['Description=Prometheus metrics of ZEO server %s' % name,
                  'After=%s.service' % name,
                  'PartOf=%s.service' % name]),
        ('Service', service),
        ('Install', ['WantedBy=%s.service' % name]),
    ])


def job_service(description, commands, user=None, group=None, writable=(),
                readable=()):
    """A oneshot .service running each argv in turn (it stops at the first
    that fails, and the unit is then marked failed).
    """
    commands = list(commands)
    if not commands:
        raise OptionError('command: there is nothing to run')
    description = quoting.single_line(description, 'description')
    service = ['Type=oneshot', *_account(user, group)]
    service += ['ExecStart=' + quoting.systemd_command(argv)
                for argv in commands]
    service += _hardening(writable, [argv[0] for argv in commands]
                          + list(readable))
    return _unit([
        ('Unit', ['Description=' + description.replace('%', '%%')]),
        ('Service', service),
    ])


def timer(description, schedule):
    """A .timer starting the .service of the same name on schedule.

    Persistent=true runs a job missed while the machine was off at the next
    boot.
    """
    description = quoting.single_line(description, 'description')
    return _unit([
        ('Unit', ['Description=' + description.replace('%', '%%')]),
        ('Timer', ['OnCalendar=' + schedule.systemd_oncalendar(),
                   'Persistent=true']),
        ('Install', ['WantedBy=timers.target']),
    ])


def pack_units(name, schedule, zeopack, address, storages, user=None,
               group=None, readable=(), lock_dir=None):
    """{file name: text} for NAME-pack.service and NAME-pack.timer.

    Each storage is packed by its own zeopack command, keeping
    schedule.days days of history.  (schedule.email has no systemd
    counterpart: failures show in ``systemctl --failed`` and the journal.)
    lock_dir: each zeopack holds the storage's lock file there
    (``commandline.lock_path``), waiting while a backup of the storage
    holds it (the timer already keeps packs from overlapping).
    """
    name = unit_name(name)
    commands = [commandline.pack_argv(zeopack, address, s, schedule.days)
                for s in storages]
    writable = []
    if lock_dir:
        commands = [[commandline.FLOCK,
                     commandline.lock_path(lock_dir, name, s)] + argv
                    for s, argv in zip(storages, commands)]
        writable = [lock_dir]
    return {
        name + '-pack.service': job_service(
            'Pack the storages of ZEO server %s' % name, commands,
            user, group, writable=writable, readable=readable),
        name + '-pack.timer': timer(
            'Pack ZEO server %s on schedule' % name, schedule),
    }


def zodbpack_units(name, schedule, zodbpack, config, storage, lock_dir,
                   days=0, user=None, group=None, writable=(), readable=()):
    """{file name: text} for NAME-pack.service and NAME-pack.timer packing
    a RelStorage with zodbpack keeping days days of history (zodbpack's
    own default is 1; ours is zeopack's, 0), under the lock of the pack script (a pack
    started by hand makes the timer's give up, failed, with status 75).
    writable: what zodbpack writes besides the lock (the blob directory).
    """
    name = unit_name(name)
    commands = [argv for _, argv in commandline.zodbpack_commands(
        name, zodbpack, config, storage, lock_dir, days)]
    return {
        name + '-pack.service': job_service(
            'Pack the RelStorage of ZEO server %s' % name, commands,
            user, group, writable=[lock_dir] + list(writable),
            readable=[config] + list(readable)),
        name + '-pack.timer': timer(
            'Pack ZEO server %s on schedule' % name, schedule),
    }


def backup_units(name, schedule, script, backup_dir, user=None, group=None,
                 readable=(), lock_dir=None):
    """{file name: text} for NAME-backup.service and NAME-backup.timer
    running the backup script, which may write only to backup_dir (and
    lock_dir, where it takes the pack jobs' locks).
    """
    name = unit_name(name)
    return {
        name + '-backup.service': job_service(
            'Back up ZEO server %s' % name, [[script]], user, group,
            writable=[backup_dir] + ([lock_dir] if lock_dir else []),
            readable=readable),
        name + '-backup.timer': timer(
            'Back up ZEO server %s on schedule' % name, schedule),
    }


def drill_units(name, schedule, script, backup_dir, user=None, group=None,
                readable=()):
    """{file name: text} for NAME-backup-drill.service and .timer running
    the restore script's drill (``-t``), which writes only its scratch
    directory in backup_dir.
    """
    name = unit_name(name)
    return {
        name + '-backup-drill.service': job_service(
            'Restore drill of the backups of ZEO server %s' % name,
            [[script, '-t']], user, group, writable=[backup_dir],
            readable=readable),
        name + '-backup-drill.timer': timer(
            'Restore drill of ZEO server %s on schedule' % name, schedule),
    }
