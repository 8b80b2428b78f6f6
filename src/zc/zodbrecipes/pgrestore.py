"""bin/NAME-restore of a server part whose RelStorage is on PostgreSQL.

``bin/NAME-restore -t`` is the restore drill of the part's pg_dump backups
(render/pgbackup.py), touching nothing of the live database:

1. ``pg_restore -l`` reads the newest dump's table of contents, which must
   list the data of RelStorage's ``object_state`` table.
2. When the database role may create a database (CREATEDB, or superuser),
   the dump is restored (``pg_restore``, owners and privileges left out)
   into a scratch database of the same server, created for the drill under
   a new name (``NAME_drill_STAMP_PID``; CREATE DATABASE fails rather than
   reuse one) and dropped at the end.  It is opened with RelStorage
   (read-only, history-free or history-keeping as configured, the blobs
   of the dump's snapshot when blobs are kept on disk): the root and the
   objects reachable from it (up to ``-n``, 1000) load, and each blob
   among them opens and reads through.
3. Otherwise -- the soundest check feasible without a database to load
   into -- ``pg_restore -f /dev/null`` reads and decompresses every
   table's data and every large object of the dump (a damaged archive
   fails it), and every file of the blob snapshot reads through.  The
   report says that the dump was not loaded (grant CREATEDB to the role
   for the whole drill).

Exit status: 0 the drill passed, 1 it failed (the report says why), 2
usage, 75 a backup or another drill is running.  The password is read
from the part's password file (PGPASSFILE), never from the command line.

A full restore (without -t) is not automated: the script prints the
manual steps (README.txt, "Restoring a RelStorage on PostgreSQL").
"""
import argparse
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile

from zc.zodbrecipes import backuptool

LOCKED = 75

MANUAL = """\
A RelStorage is restored by hand, never over the live database:
  1. stop the server (and its clients): %(stop)s
  2. create an empty database owned by the storage's role, e.g.
     createdb -O ROLE NEWDB
  3. pg_restore --no-owner -d NEWDB %(dumps)s/STAMP.dump
     (the newest dump: bin/%(name)s-restore -l)
  4. with blobs on disk, copy the snapshot of the same STAMP into a new
     blob directory: %(tool)s copy %(blobsnaps)s/STAMP NEW-BLOB-DIR
  5. point rel-storage at NEWDB (and NEW-BLOB-DIR), run buildout, start the
     server; keep the old database until the new one has been checked
     (bin/%(name)s-restore -t drills the newest dump first).
"""


class Failed(Exception):
    pass


def say(message):
    print(message, flush=True)


def _conninfo(params):
    from zc.zodbrecipes.relconf import dsn_quote
    return ' '.join('%s=%s' % (k, dsn_quote(v)) for k, v in
                    sorted(params.items()) if v is not None)


def _run(argv, what, **kw):
    result = subprocess.run(argv, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)
    if result.returncode:
        raise Failed('%s failed (exit status %s): %s' % (
            what, result.returncode, result.stderr.strip()[-2000:]))
    return result.stdout


def newest(config):
    stamps = backuptool.repozo_stamps(config['dumps'])[1]
    if not stamps:
        raise Failed('no dump in %s' % config['dumps'])
    return stamps[-1]


def check_toc(config, dump):
    toc = _run([config['pg_restore'], '-l', dump], 'pg_restore -l')
    if not any('TABLE DATA' in line and ' object_state ' in line + ' '
               for line in toc.splitlines()):
        raise Failed('%s holds no data of the object_state table' % dump)
    say('%s: its table of contents lists the object_state data' % dump)


def may_create(params):
    import psycopg2
    with psycopg2.connect(_conninfo(params)) as conn:
        with conn.cursor() as cur:
            cur.execute('SELECT rolcreatedb OR rolsuper FROM pg_roles'
                        ' WHERE rolname = current_user')
            row = cur.fetchone()
    conn.close()
    return bool(row and row[0])


def _admin(params, sql):
    import psycopg2
    conn = psycopg2.connect(_conninfo(params))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def snapshot_dir(config, stamp):
    if not config['blob_dir']:
        return None
    path = os.path.join(config['snapshots'], stamp)
    if not os.path.isdir(path):
        raise Failed('no blob snapshot %s for the dump of %s' % (path, stamp))
    return path


def load_sample(config, params, blob_dir, sample):
    """Open the RelStorage of params; load the root and what it reaches
    (up to sample objects); read each blob among them.  Returns (objects,
    blobs)."""
    import ZODB.config
    from ZODB.blob import is_blob_record
    from ZODB.serialize import referencesf
    from ZODB.utils import z64
    from zc.zodbrecipes import zconf
    text = ('%%import relstorage\n<relstorage>\n'
            '  keep-history %s\n  shared-blob-dir %s\n  blob-dir %s\n'
            '  read-only true\n  <postgresql>\n    dsn %s\n  </postgresql>\n'
            '</relstorage>\n' % (
                'true' if config['keep_history'] else 'false',
                'true' if config['blob_dir'] else 'false',
                zconf.quote(blob_dir), zconf.quote(_conninfo(params))))
    storage = ZODB.config.storageFromString(text)
    try:
        seen, queue, blobs = {z64}, [z64], 0
        while queue and len(seen) <= sample:
            oid = queue.pop(0)
            data, serial = storage.load(oid)
            if is_blob_record(data):
                with open(storage.loadBlob(oid, serial), 'rb') as f:
                    while f.read(1 << 20):
                        pass
                blobs += 1
            for ref in referencesf(data):
                if ref not in seen and len(seen) < sample:
                    seen.add(ref)
                    queue.append(ref)
        return len(seen), blobs
    finally:
        storage.close()


def read_snapshot(path):
    files = 0
    for directory, _, names in os.walk(path):
        for name in names:
            with open(os.path.join(directory, name), 'rb') as f:
                while f.read(1 << 20):
                    pass
            files += 1
    return files


def drill(config, sample):
    stamp = newest(config)
    dump = os.path.join(config['dumps'], stamp + backuptool.DUMP)
    say('drill of the dump of %s (%s)' % (stamp, dump))
    check_toc(config, dump)
    snapshot = snapshot_dir(config, stamp)
    params = dict(config['params'])
    if not may_create(params):
        _run([config['pg_restore'], '-f', os.devnull, dump], 'pg_restore')
        say('%s reads through (every table and large object)' % dump)
        if snapshot:
            say('blob snapshot %s: %d files read' % (
                snapshot, read_snapshot(snapshot)))
        say('the role %s may not create a database: the dump was checked,'
            ' not loaded (grant it CREATEDB for the whole drill)'
            % params.get('user', '(default)'))
        return False
    scratch = '%s_drill_%s_%d' % (
        (params.get('dbname') or 'zodb')[:20], stamp.replace('-', ''),
        os.getpid())
    scratch = ''.join(c if c.isalnum() or c == '_' else '_'
                      for c in scratch.lower())
    work = tempfile.mkdtemp(prefix='.drill.', dir=config['backups'])
    created = False
    try:
        _admin(params, 'CREATE DATABASE "%s" TEMPLATE template0' % scratch)
        created = True
        target = dict(params, dbname=scratch)
        _run([config['pg_restore'], '--no-owner', '--no-privileges',
              '--exit-on-error', '--no-password', '-d', _conninfo(target),
              dump], 'pg_restore into the scratch database %s' % scratch)
        say('restored into the scratch database %s' % scratch)
        blobs = os.path.join(work, 'blobs')
        if snapshot:
            backuptool.copy(snapshot, blobs, link=True)
        objects, loaded = load_sample(config, target, blobs, sample)
        say('loaded the root and %d objects, %d blobs' % (objects - 1,
                                                         loaded))
        return True
    finally:
        try:
            if created:
                # Ours: created above under a name no other run uses.
                _admin(params, 'DROP DATABASE "%s"' % scratch)
        finally:
            shutil.rmtree(work)


def _stopped(number, frame):
    raise SystemExit(128 + number)


def main(config, args=None):
    prog = sys.argv[0] if args is None else '%s-restore' % config['name']
    parser = argparse.ArgumentParser(
        prog=prog, description='Restore drill of the pg_dump backups of'
        ' the RelStorage (%s).' % config['dumps'])
    parser.add_argument('-t', '--drill', action='store_true',
                        help='the restore drill (nothing live is touched)')
    parser.add_argument('-l', '--list', action='store_true',
                        help='the newest dump')
    parser.add_argument('-n', '--sample', type=int, default=1000,
                        help='objects to load (default 1000)')
    options = parser.parse_args(sys.argv[1:] if args is None else args)
    if args is None:
        # A drill stopped by a signal still drops its scratch database.
        for number in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, _stopped)
    if config.get('pgpass'):
        os.environ['PGPASSFILE'] = config['pgpass']
    try:
        if options.list:
            say(os.path.join(config['dumps'], newest(config)
                             + backuptool.DUMP))
            return 0
        if not options.drill:
            print(MANUAL % config, end='', file=sys.stderr)
            return 1
        os.makedirs(config['backups'], exist_ok=True)
        with open(os.path.join(config['backups'], '.lock'), 'w') as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                print('%s: a backup or another restore of this server is'
                      ' running' % prog, file=sys.stderr)
                return LOCKED
            loaded = drill(config, options.sample)
    except Exception as e:
        print('%s: FAILED: %s: %s' % (prog, type(e).__name__, e),
              file=sys.stderr)
        return 1
    if loaded:
        say('%s: drill passed: the newest dump restores and checks out'
            % prog)
    else:
        say('%s: drill passed: the newest dump reads through (not loaded)'
            % prog)
    return 0
