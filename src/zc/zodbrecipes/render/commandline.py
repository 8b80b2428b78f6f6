"""Command lines that several outputs share: packing a storage, and locks.

One zeopack command per storage, built by ``pack_argv``, is run from a
cron.d file or a user crontab (cron), a systemd service (systemd) and the
script for packing by hand (cron).  ``locked`` runs a command under
``flock -n`` with a lock file per storage (``lock_path``): a pack still
running when the next one is due makes the next one give up, with exit
status LOCKED, instead of piling up.  The backup script takes its lock
with the same FLOCK and gives up with the same LOCKED, and reads the
server's address with ``server_address``.
"""
from zc.zodbrecipes import options
from zc.zodbrecipes.options import OptionError
from zc.zodbrecipes.render import quoting


FLOCK = '/usr/bin/flock'

# flock's exit status when the lock is taken (EX_TEMPFAIL): the script tells
# "already running" apart from a failed pack with it.
LOCKED = 75


def pack_argv(zeopack, address, storage, days=None):
    """The zeopack command that packs one storage.

    address is a ZEO address in string form: ``host:port``, ``[::1]:port``
    or the absolute path of a unix socket.  days is a number, None (leave
    zeopack's default, 0) or a ``quoting.Var`` naming a script variable.
    """
    argv = [quoting.abspath(zeopack, 'zeopack')]
    if days is not None:
        if not isinstance(days, quoting.Var):
            days = str(quoting.whole_number(days, 'days'))
        argv += ['-d', days]
    return argv + _server(server_address(address), _storage(storage))


def server_address(value):
    """The parsed ZEO address of a string; its errors name the address."""
    try:
        return options.address(str(value))
    except OptionError as e:
        raise OptionError('address: %s' % e)


def _storage(value):
    name = quoting.storage_name(value)
    if ':' in name:
        raise OptionError('storage: %r: zeopack cannot name a storage with'
                          ' ":"' % name)
    return name


def _server(address, storage):
    """zeopack's arguments naming one storage of a server."""
    if address.socket:
        if ':' in address.socket:
            raise OptionError('address: zeopack cannot use a unix socket'
                              ' path with ":" (%r)' % address.socket)
        return ['-u', '%s:%s' % (address.socket, storage)]
    if address.family == 'inet6':
        # zeopack splits host:port:storage on every ":", so an IPv6 host
        # can only be given with the (deprecated, working) -h/-p/-S options.
        return ['-h', address.host, '-p', str(address.port), '-S', storage]
    return ['%s:%s:%s' % (address.host, address.port, storage)]


def lock_path(lock_dir, name, storage, packable=True):
    """The lock file held while a storage is packed (and while it is backed
    up: the backup script holds it too).  packable=False: for a storage
    zeopack may be unable to name (the backup's)."""
    lock_dir = quoting.abspath(lock_dir, 'lock directory')
    storage = (_storage(storage) if packable
               else quoting.storage_name(storage))
    return '%s/%s-pack-%s.lock' % (
        lock_dir.rstrip('/'), quoting.name(name), storage)


def locked(lock, argv):
    """argv run under flock: give up at once if the lock is taken."""
    return [FLOCK, '-n', '-E', str(LOCKED),
            quoting.abspath(lock, 'lock file')] + list(argv)


def pack_commands(name, zeopack, address, storages, lock_dir, days=None):
    """(storage, argv) for each storage: zeopack under its lock."""
    storages = list(storages)
    if not storages:
        raise OptionError('storage: there is no storage to pack')
    return [(s, locked(lock_path(lock_dir, name, s),
                       pack_argv(zeopack, address, s, days)))
            for s in storages]


def zodbpack_argv(zodbpack, config, days=None):
    """RelStorage's zodbpack packing the storages of a configuration file,
    keeping days days of history (a number or a ``quoting.Var``)."""
    argv = [quoting.abspath(zodbpack, 'zodbpack')]
    if days is not None:
        if not isinstance(days, quoting.Var):
            days = str(quoting.whole_number(days, 'days'))
        argv += ['-d', days]
    return argv + [quoting.abspath(config, 'pack configuration')]


def zodbpack_commands(name, zodbpack, config, storage, lock_dir, days=None):
    """[(storage, argv)]: zodbpack under the storage's lock, the one the
    ZEO pack job of a storage of that name takes."""
    return [(storage, locked(lock_path(lock_dir, name, storage),
                             zodbpack_argv(zodbpack, config, days)))]
