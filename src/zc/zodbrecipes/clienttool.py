"""``bin/<name>``: check, explore and script the database of a ZEO client.

The client recipe generates a script that calls ``main`` with the path of
the part's ``zodb.conf``.  Commands:

check [--timeout SECONDS] [--server-status]
    Connect, print the last transaction and the size of the storage; exit
    0 when that works and 2 when it does not (usable as a health check).
    With --server-status (ZEO), also the server's figures for the storage
    as this client sees them (ClientStorage.server_status()).
shell
    An interactive Python with ``db``, ``conn`` and ``root``.
run SCRIPT [ARGS...]
    Run a Python script with ``db``, ``conn`` and ``root`` in its globals
    and ``sys.argv`` set to ``[SCRIPT, ARGS...]``.  Nothing is committed
    for the script: it calls ``transaction.commit()`` itself; what it
    leaves uncommitted is aborted.

The tool never opens the client's persistent cache file (a ZEO cache file
has one user at a time, and that is the application) nor a RelStorage
client's persistent local cache: it uses a cache in memory.  Blob settings
are used as configured.
"""
import argparse
import code
import logging
import os
import runpy
import sys

import transaction
import ZConfig
import ZODB.config
import ZODB.TimeStamp
import ZODB.utils

OK, CRITICAL = 0, 2
CHECK_TIMEOUT = 10  # seconds check waits at most, unless --timeout says


def main(config_path, argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_usage(sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.CRITICAL if args.command == 'check' else
        logging.WARNING, format='%(levelname)s %(name)s: %(message)s')
    if args.command == 'check':
        return check(config_path, args.timeout, args.server_status)
    try:
        db = open_database(config_path)
    except Exception as e:
        print('%s: cannot open the database: %s' % (
            _prog(), _describe(e)), file=sys.stderr)
        return 1
    try:
        if args.command == 'shell':
            return shell(db)
        return run(db, args.script, args.args)
    finally:
        transaction.abort()
        db.close()


def _prog():
    return os.path.basename(sys.argv[0])


def _parser():
    parser = argparse.ArgumentParser(
        prog=_prog(), description='Check, explore and script the database'
        ' this ZEO client is configured for.')
    commands = parser.add_subparsers(dest='command', metavar='COMMAND')
    check = commands.add_parser(
        'check', help='connect and report the last transaction and the'
        ' size; exit 0 when healthy, 2 when not')
    check.add_argument(
        '-t', '--timeout', type=_seconds, default=None, help='how long to'
        ' wait for a connection (default: wait-timeout, at most %s)'
        % CHECK_TIMEOUT)
    check.add_argument(
        '--server-status', action='store_true', help="also the ZEO server's"
        ' figures for the storage (connections, commits, waiting'
        ' transactions, commit lock)')
    commands.add_parser(
        'shell', help='an interactive Python with db, conn and root')
    run = commands.add_parser(
        'run', help='run a Python script with db, conn and root in its'
        ' globals (it commits itself)')
    run.add_argument('script')
    run.add_argument('args', nargs=argparse.REMAINDER)
    return parser


def _seconds(value):
    seconds = int(value)
    if seconds < 1:
        raise argparse.ArgumentTypeError('must be at least 1')
    return seconds


def _describe(error):
    text = str(error)
    return '%s: %s' % (type(error).__name__, text) if text else (
        type(error).__name__)


# -- opening ---------------------------------------------------------------

def load(config_path):
    """The database factory of the first <zodb> section, cache in memory."""
    config, _ = ZConfig.loadConfig(ZODB.config.getDbSchema(), config_path)
    factory = config.database[0]
    section = factory.config.storage.config
    if _is_relstorage(section):
        section.cache_local_dir = None
    else:
        section.cache_path = None
    return factory


def _is_relstorage(section):
    return section.getSectionType() == 'relstorage'


def open_database(config_path):
    return load(config_path).open({})


# -- commands --------------------------------------------------------------

def check(config_path, timeout=None, server_status=False):
    try:
        opener = load(config_path).config.storage
    except Exception as e:
        print('CRITICAL: cannot read %s: %s' % (config_path, _describe(e)))
        return CRITICAL
    section = opener.config
    if _is_relstorage(section):
        where = _relstorage_where(section)
        timeout = timeout or CHECK_TIMEOUT
    else:
        if timeout is None:
            timeout = min(section.wait_timeout, CHECK_TIMEOUT)
        section.wait_timeout = timeout
        where = 'storage %r at %s' % (section.storage, ', '.join(
            _address(s.address) for s in section.server))
    try:
        storage = _open_within(opener, timeout)
    except Exception as e:
        print('CRITICAL: no connection to %s within %s s (%s)' % (
            where, timeout, _describe(e)))
        return CRITICAL
    try:
        report = ['last transaction: %s' % _last_transaction(storage),
                  'size: %s bytes, objects: %s' % (storage.getSize(),
                                                   len(storage))]
        if server_status and hasattr(storage, 'server_status'):
            report.append(_server_status(storage.server_status()))
    except Exception as e:
        print('CRITICAL: connected to %s, but: %s' % (where, _describe(e)))
        return CRITICAL
    finally:
        storage.close()
    print('OK: connected to %s' % where)
    print('\n'.join(report))
    return OK


def _server_status(status):
    """The figures a ZEO server keeps for the storage, in one line."""
    return ('server: %(connections)s connections, %(commits)s commits,'
            ' %(aborts)s aborts, %(conflicts)s conflicts, %(waiting)s'
            ' waiting for the commit lock, which is %(lock)s' % dict(
                status, lock='held' if status.get('lock_time') else 'free'))


def _open_within(opener, timeout):
    """opener.open(), or TimeoutError after timeout seconds.

    ZEO bounds its own wait (wait_timeout); a database driver may wait
    for an unresponsive host as long as the operating system lets it, so
    the open runs in a daemon thread that the exit of the tool ends.
    """
    import threading
    result = {}

    def open_():
        try:
            result['storage'] = opener.open()
        except Exception as e:
            result['error'] = e
    thread = threading.Thread(target=open_, daemon=True)
    thread.start()
    thread.join(timeout + 1)
    if 'error' in result:
        raise result['error']
    if 'storage' not in result:
        raise TimeoutError('no answer within %s s' % timeout)
    return result['storage']


def _relstorage_where(section):
    """The database of a <relstorage> section, without a password."""
    from zc.zodbrecipes.relconf import public_dsn
    adapter = section.adapter.config
    kind = adapter.getSectionType()
    if kind == 'sqlite3':
        detail = adapter.data_dir
    elif kind == 'postgresql':
        detail = public_dsn(adapter.dsn or '')
    else:
        detail = ' '.join('%s=%s' % (k, getattr(adapter, k)) for k in (
            'host', 'port', 'db', 'unix_socket') if getattr(
                adapter, k, None))
    return 'RelStorage (%s %s)' % (kind, detail)


def _address(address):
    if isinstance(address, str):
        return address
    host, port = address[:2]
    return '[%s]:%s' % (host, port) if ':' in host else '%s:%s' % (
        host, port)


def _last_transaction(storage):
    tid = storage.lastTransaction()
    if tid == ZODB.utils.z64:
        return 'none (the storage is empty)'
    return '%s UTC (tid %s)' % (ZODB.TimeStamp.TimeStamp(tid),
                                ZODB.utils.tid_repr(tid))


def _namespace(db):
    conn = db.open()
    return {'db': db, 'conn': conn, 'root': conn.root()}


class _Console(code.InteractiveConsole):
    """Prompts only for a terminal, so that piped input gives clean output."""

    def raw_input(self, prompt=''):
        return input(prompt if sys.stdin.isatty() else '')


def shell(db):
    _Console(_namespace(db)).interact(
        banner='db, conn and root are set up; commit with'
        ' "import transaction; transaction.commit()".', exitmsg='')
    return 0


def run(db, script, args):
    sys.argv = [script] + list(args)
    runpy.run_path(script, init_globals=_namespace(db), run_name='__main__')
    return 0
