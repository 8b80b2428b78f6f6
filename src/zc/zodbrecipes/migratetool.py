"""bin/NAME-migrate: copy a server part's FileStorage (and blobs) into the
RelStorage its ``migrate-to`` option names, and check the copy.

The configuration (``parts/NAME/migrate.conf``) is in zodbconvert's
format: a ``<filestorage source>`` opened read-only (so the running
server keeps its lock and keeps serving) and a ``<relstorage
destination>``.  The copying is zodbconvert's (``--incremental``); this
program says when copying is safe and checks what was copied:

    bin/NAME-migrate        copy into an empty destination
    bin/NAME-migrate -i     copy what the source committed since the last
                            pass (the destination's last transaction must
                            be one of the source's)
    bin/NAME-migrate -i -f  the final pass, once the server is stopped: it
                            holds the storage's lock file, so the server
                            cannot start while it copies
    bin/NAME-migrate -c     only check the copy

Every pass ends with the check: the destination's transactions are the
source's up to the last one copied (their number, when the destination
keeps history), and a sample of objects (always the root) has the same
state and serial on both sides, their blobs the same content.

Exit status: 0 copied and checked, 1 refused or the check failed, 2 usage.
"""
import argparse
import hashlib
import io
import logging
import random
import sys


class Failed(Exception):
    """A message for the operator; exit status 1."""


SCHEMA = """
<schema>
  <import package="ZODB"/>
  <import package="relstorage"/>
  <section type="ZODB.storage" name="source" attribute="source"
    required="yes" />
  <section type="ZODB.storage" name="destination" attribute="destination"
    required="yes" />
</schema>
"""


def load(path):
    import ZConfig
    schema = ZConfig.loadSchemaFile(io.StringIO(SCHEMA))
    config, _ = ZConfig.loadConfig(schema, path)
    return config


def has_data(storage):
    it = storage.iterator()
    try:
        for _ in it:
            return True
        return False
    finally:
        getattr(it, 'close', lambda: None)()


def in_source(source, tid):
    """Is tid the id of a transaction of source?"""
    it = source.iterator(tid, tid)
    try:
        return any(t.tid == tid for t in it)
    finally:
        getattr(it, 'close', lambda: None)()


def tid_text(tid):
    from ZODB.utils import readable_tid_repr
    return readable_tid_repr(tid)


def guard(source, dest, incremental):
    """Refuse what would not make a copy of source in dest."""
    if not has_data(dest):
        return
    if not incremental:
        raise Failed('the destination holds data already: -i resumes an'
                     ' earlier copy of this source (never a database that'
                     ' holds anything else)')
    last = dest.lastTransaction()
    if not in_source(source, last):
        raise Failed('the destination\'s last transaction %s is not a'
                     ' transaction of the source: it is no copy of this'
                     ' storage, not copying' % tid_text(last))


def _digest(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def current_records(source):
    """(oid, tid, data) of every object's current record in source."""
    token = None
    while True:
        oid, tid, data, token = source.record_iternext(token)
        yield oid, tid, data
        if token is None:
            return


def check(source, dest, sample=100, out=print):
    """Compare dest with source up to dest's last transaction; raise
    Failed naming what differs."""
    from ZODB.POSException import POSKeyError
    from ZODB.blob import is_blob_record
    from ZODB.utils import oid_repr, z64
    if not has_data(dest):
        if has_data(source):
            raise Failed('the destination is empty')
        out('both storages are empty')
        return
    last = dest.lastTransaction()
    problems = []
    copied = [t.tid for t in source.iterator(None, last)]
    if not copied or copied[-1] != last:
        raise Failed('the destination\'s last transaction %s is not one of'
                     ' the source\'s' % tid_text(last))
    what = []
    if dest.supportsUndo():  # it keeps history: every transaction is there
        count = sum(1 for _ in dest.iterator())
        if count != len(copied):
            problems.append('the destination has %d transactions, the'
                            ' source %d up to %s' % (
                                count, len(copied), tid_text(last)))
        what.append('%d transactions' % len(copied))
    # A sample of the objects as of the last transaction copied (objects
    # changed since are left for the next pass); the root always.
    root, chosen, seen = [], [], 0
    for oid, tid, data in current_records(source):
        if tid > last:
            continue
        if oid == z64:
            root.append((oid, tid, data))
            continue
        seen += 1  # a uniform sample of what we saw (reservoir sampling)
        if len(chosen) < sample:
            chosen.append((oid, tid, data))
        else:
            i = random.randrange(seen)
            if i < sample:
                chosen[i] = (oid, tid, data)
    seen += len(root)
    chosen = root + chosen
    blobs = 0
    for oid, tid, data in chosen:
        try:
            got, serial = dest.load(oid)
        except POSKeyError:
            problems.append('object %s is missing' % oid_repr(oid))
            continue
        if serial != tid:
            problems.append('object %s: serial %s, the source\'s %s' % (
                oid_repr(oid), tid_text(serial), tid_text(tid)))
            continue
        if got != data:
            problems.append('object %s: its state differs' % oid_repr(oid))
            continue
        if is_blob_record(data):
            blobs += 1
            try:
                same = (_digest(source.loadBlob(oid, tid))
                        == _digest(dest.loadBlob(oid, tid)))
            except (POSKeyError, OSError) as e:
                problems.append('the blob of object %s: %s' % (
                    oid_repr(oid), e))
                continue
            if not same:
                problems.append('the blob of object %s differs'
                                % oid_repr(oid))
    what.append('%d of %d objects' % (len(chosen), seen))
    what.append('%d blobs' % blobs)
    if problems:
        raise Failed('the copy differs from the source:\n  '
                     + '\n  '.join(problems))
    out('checked up to %s: %s are the same' % (tid_text(last),
                                             ', '.join(what)))


def take_lock(path):
    """The storage's lock file, as the server takes it; Failed if held."""
    import zc.lockfile
    try:
        return zc.lockfile.LockFile(path + '.lock')
    except zc.lockfile.LockError:
        raise Failed('%s is open in another process: stop the server'
                     ' first' % path)


def main(config, args=None):
    prog = sys.argv[0] if args is None else '%s-migrate' % config['name']
    parser = argparse.ArgumentParser(
        prog=prog, description='Copy the storage into the RelStorage of'
        ' migrate-to (%s), and check the copy.' % config['conf'])
    parser.add_argument('-i', '--incremental', action='store_true',
                        help='resume: copy what is new since the last pass')
    parser.add_argument('-f', '--final', action='store_true',
                        help='the final pass: the server must be stopped')
    parser.add_argument('-c', '--check', action='store_true',
                        help='only check the copy')
    parser.add_argument('-n', '--sample', type=int, default=100,
                        help='objects to compare (default 100)')
    options = parser.parse_args(sys.argv[1:] if args is None else args)
    if options.final and not options.incremental:
        parser.error('-f is the last of the passes: give -i too')
    if options.sample < 0:
        parser.error('-n must not be negative')
    logging.basicConfig(level=logging.WARNING, format='%(message)s')
    # A running server's index is older than its Data.fs: the read-only
    # storage reads the rest of the file instead, which is no news.
    logging.getLogger('ZODB.FileStorage').setLevel(logging.ERROR)
    lock = None
    try:
        if options.final:
            lock = take_lock(config['data'])
        conf = load(config['conf'])
        if not options.check:
            source, dest = conf.source.open(), conf.destination.open()
            try:
                guard(source, dest, options.incremental)
            finally:
                source.close()
                dest.close()
            from relstorage import zodbconvert
            logging.getLogger().setLevel(logging.INFO)
            zodbconvert.main([prog, '--incremental', config['conf']])
        source, dest = conf.source.open(), conf.destination.open()
        try:
            check(source, dest, options.sample)
        finally:
            source.close()
            dest.close()
    except Failed as e:
        print('%s: %s' % (prog, e), file=sys.stderr)
        sys.exit(1)
    finally:
        if lock is not None:
            lock.close()
    if options.final:
        print('%s: final pass done: point the clients at the RelStorage'
              ' (it is complete as of the stop of the server)' % prog)
