"""The Python half of bin/NAME-backup and bin/NAME-restore.

The generated shell scripts say what happens in which order; this program
(``parts/NAME/backuptool``, run with the server's eggs) does the parts that
would be slow or fragile in /bin/sh:

- ``snapshot BLOBS SNAPSHOTS STAMP``: a snapshot of a blob directory as
  ``SNAPSHOTS/STAMP``.  ZODB never changes a blob file once written (a new
  revision is a new file), so a file the previous snapshot has with the same
  size and modification time becomes a hard link to it: a snapshot costs
  the time and the disk of what changed since the previous one.  Snapshots
  are flat (one directory, file a/b/c stored as a+b+c): see FLAT.
- ``copy [--link] SNAPSHOT BLOBS``: a blob directory from a snapshot (whole
  copies, or hard links for a drill that only reads it).
- ``choose REPOSITORY SNAPSHOTS [DATE]``: the snapshot that belongs with
  the repozo backup ``repozo -R [-D DATE]`` restores.
- ``prune REPOSITORY SNAPSHOTS``: remove the snapshots older than the oldest
  repozo backup still kept (retention prunes both together).
- ``guard ...``: is the server, or anything that would restart it, up?
- ``check DATA.FS [BLOBS]``: does a restored storage open, pass fstest,
  load, and is every blob its records refer to there?

Snapshot names are repozo's file names without extension (UTC time,
``2024-01-31-03-00-00``), so a repozo backup and its blobs share a name.
Exit status: 0 done, 1 failed or refused, 2 usage.
"""
import errno
import itertools
import os
import re
import shutil
import stat
import subprocess
import sys

STAMP = re.compile(r'\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\Z')
DATE = re.compile(r'\d{4}-\d\d-\d\d(-\d\d(-\d\d(-\d\d)?)?)?\Z')
REPOZO_DATA = ('.fs', '.fsz', '.deltafs', '.deltafsz')
# A pg_dump archive (custom format) of a RelStorage on PostgreSQL: a full
# backup of its own, named like repozo's files (STAMP.dump).
DUMP = '.dump'
PARTIAL = '.partial-'


class Failed(Exception):
    """A message for the operator; exit status 1."""


class Usage(Exception):
    """Wrong arguments; exit status 2."""


VERBOSE = [False]


def say(message, always=True):
    """Print a message (a backup's notes only with -v: cron mails any
    output)."""
    if always or VERBOSE[0]:
        print(message, flush=True)


# -- snapshots -----------------------------------------------------------------

def snapshots(directory):
    """The stamps of the complete snapshots in directory, oldest first."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if STAMP.match(n)
                  and os.path.isdir(os.path.join(directory, n)))


def _same(a, b):
    return a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns


def _tree(source, target, previous, link_all=False):
    """Copy the tree source to target (which must not exist); files that
    previous (a directory or None) holds unchanged become hard links to
    them.  tmp/ (uploads not yet committed) is copied empty.  Returns
    (linked, copied, copied bytes).

    A snapshot recreates every directory of a blob directory (thousands,
    one or more per object with blobs), so the walk does as few system
    calls per directory as it can: one scandir, a mkdir with the mode (a
    chmod only when the umask took bits away) and a utime once the
    directory is filled (its times are the source's, as ``cp -a`` keeps
    them)."""
    counts = [0, 0, 0]
    mask = os.umask(0)
    os.umask(mask)
    _directory(source, target, previous, link_all, os.stat(source), mask,
               counts, True)
    return tuple(counts)


def _put(path, here, old, st, compare=True):
    """Hard-link here to old, the previous snapshot's copy, when it is the
    same file (compare: size and modification time; ZODB blob files never
    change) and a link can be made; else copy path.  True when linked."""
    if old is not None and compare:
        try:
            if not _same(os.lstat(old), st):
                old = None
        except OSError:
            old = None
    if old is not None:
        try:
            os.link(old, here, follow_symlinks=False)
            return True
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.EMLINK, errno.EPERM,
                               errno.ENOENT):
                raise
    shutil.copy2(path, here, follow_symlinks=False)
    return False


def _directory(source, target, previous, link_all, st, mask, counts, top):
    mode = stat.S_IMODE(st.st_mode)
    os.mkdir(target, mode)
    if mode & mask:
        os.chmod(target, mode)
    with os.scandir(source) as entries:
        entries = list(entries)
    for entry in entries:
        name = entry.name
        here = os.path.join(target, name)
        old = os.path.join(previous, name) if previous else None
        if entry.is_dir(follow_symlinks=False):
            sub = entry.stat(follow_symlinks=False)
            if top and name == 'tmp':
                os.mkdir(here, stat.S_IMODE(sub.st_mode))
                os.chmod(here, stat.S_IMODE(sub.st_mode))
                os.utime(here, ns=(sub.st_atime_ns, sub.st_mtime_ns))
            else:
                _directory(entry.path, here, old, link_all, sub, mask,
                           counts, False)
            continue
        fst = entry.stat(follow_symlinks=False)
        if _put(entry.path, here, old, fst, compare=not link_all):
            counts[0] += 1
        else:
            counts[1] += 1
            counts[2] += fst.st_size
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


# A snapshot is stored flat: one directory holding every file of the blob
# directory under its relative path with "/" written "+" ("%" and "+" in
# names as %25 and %2B; ZODB's names have neither): 0x00+0x3f+0x03d4.blob is
# 0x00/0x3f/0x03d4.blob.  A blob directory has about a directory per object
# with blobs, and creating them again in every snapshot cost more than
# linking the files; restores rebuild them.  FLAT, a name no encoded path
# has, marks such a snapshot; a snapshot without it is a copy of the tree.
FLAT = '%snapshot'
FLAT_TEXT = """\
A snapshot of a blob directory, stored flat by zc.zodbrecipes: the file
a+b+c here is the file a/b/c of the blob directory ("%" and "+" in names are
written %25 and %2B).  bin/NAME-restore rebuilds the directory from it.
"""
_ESCAPED = re.compile('%(25|2B)')


def _encode(parts):
    return '+'.join(p.replace('%', '%25').replace('+', '%2B') for p in parts)


def _decode(name):
    parts = [_ESCAPED.sub(lambda m: '%' if m.group(1) == '25' else '+', p)
             for p in name.split('+')]
    if any(p in ('', '.', '..') for p in parts):
        raise Failed('%r is not the name of a file of a snapshot' % name)
    return parts


def _flat(source, target, previous):
    """The flat snapshot target of the blob directory source; files that
    previous (a snapshot, flat or not, or None) holds unchanged become hard
    links to them.  tmp/ (uploads not yet committed) is left out.  Returns
    (linked, copied, copied bytes)."""
    linked = copied = size = 0
    flat = previous is not None and os.path.exists(
        os.path.join(previous, FLAT))
    os.mkdir(target, 0o700)
    pending = [(source, ())]
    while pending:
        directory, parts = pending.pop()
        with os.scandir(directory) as entries:
            entries = list(entries)
        for entry in entries:
            relative = parts + (entry.name,)
            if entry.is_dir(follow_symlinks=False):
                if relative != ('tmp',):
                    pending.append((entry.path, relative))
                continue
            name = _encode(relative)
            if len(os.fsencode(name)) > 255:
                raise Failed('%s: the path is too long for a flat snapshot'
                             % entry.path)
            here = os.path.join(target, name)
            st = entry.stat(follow_symlinks=False)
            old = None
            if previous is not None:
                old = os.path.join(previous,
                                   name if flat else os.path.join(*relative))
            if _put(entry.path, here, old, st):
                linked += 1
            else:
                copied += 1
                size += st.st_size
    with open(os.path.join(target, FLAT), 'w') as f:
        f.write(FLAT_TEXT)
    return linked, copied, size


def _unflatten(source, target, link):
    """The blob directory target from the flat snapshot source: copies of
    its files, or hard links for a drill that only reads them."""
    os.mkdir(target, 0o700)
    os.mkdir(os.path.join(target, 'tmp'), 0o700)
    made = {target}
    with os.scandir(source) as entries:
        entries = [e for e in entries if e.name != FLAT]
    for entry in entries:
        here = os.path.join(target, *_decode(entry.name))
        parent = os.path.dirname(here)
        if parent not in made:
            os.makedirs(parent, 0o700, exist_ok=True)
            made.add(parent)
        if link:
            try:
                os.link(entry.path, here, follow_symlinks=False)
                continue
            except OSError as e:
                if e.errno not in (errno.EXDEV, errno.EMLINK, errno.EPERM):
                    raise
        shutil.copy2(entry.path, here, follow_symlinks=False)


def snapshot(blobs, directory, stamp):
    """SNAPSHOTS/STAMP from BLOBS, linking what the newest earlier snapshot
    holds unchanged."""
    if not STAMP.match(stamp):
        raise Failed('%r is not a repozo time stamp' % stamp)
    target = os.path.join(directory, stamp)
    if os.path.exists(target):
        say('blobs: %s is there already' % target, False)
        return
    os.makedirs(directory, exist_ok=True)
    earlier = [s for s in snapshots(directory) if s < stamp]
    previous = os.path.join(directory, earlier[-1]) if earlier else None
    partial = os.path.join(directory, PARTIAL + stamp)
    if os.path.exists(partial):
        # Left by a run that failed half-way: our own incomplete copy.
        shutil.rmtree(partial)
    linked, copied, size = _flat(blobs, partial, previous)
    os.rename(partial, target)
    say('blobs: %s: %d files copied (%d bytes), %d unchanged (linked)'
        % (target, copied, size, linked), False)


def copy(source, target, link=False):
    if os.path.lexists(target):
        raise Failed('%s exists already' % target)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    partial = target + '.partial'
    if os.path.lexists(partial):
        raise Failed('%s exists already' % partial)
    if os.path.exists(os.path.join(source, FLAT)):
        _unflatten(source, partial, link)
    else:
        _tree(source, partial, source if link else None, link_all=link)
    os.rename(partial, target)


# -- repozo backups and their snapshots --------------------------------------

def repozo_stamps(repository):
    """The stamps of repozo's data files, oldest first, and the stamps of
    its full backups (a directory of pg_dump archives, STAMP.dump, holds
    only full backups)."""
    try:
        names = os.listdir(repository)
    except FileNotFoundError:
        return [], []
    stamps, full = set(), set()
    for name in names:
        root, ext = os.path.splitext(name)
        if ext in REPOZO_DATA + (DUMP,) and STAMP.match(root):
            stamps.add(root)
            if ext in ('.fs', '.fsz', DUMP):
                full.add(root)
    return sorted(stamps), sorted(full)


def restored_stamp(repository, date=None):
    """The stamp of the newest repozo file ``repozo -R [-D date]`` uses
    (repozo compares the names as strings with the date as given)."""
    if date is not None and not DATE.match(date):
        raise Failed('%r is not a date (YYYY-MM-DD[-HH[-MM[-SS]]], UTC)'
                     % date)
    stamps, full = repozo_stamps(repository)
    chosen = [s for s in stamps if date is None or s <= date]
    if not chosen or not [s for s in full if s <= chosen[-1]]:
        raise Failed('no backup in %s%s' % (
            repository, ' as of %s' % date if date else ''))
    return chosen[-1]


def choose(repository, directory, date=None):
    """The snapshot of the repozo backup restored as of date: the one of
    the same name, else (blob copies made before snapshots were named by
    their repozo backup, a little after it) the first taken after that
    backup and before the next one."""
    stamp = restored_stamp(repository, date)
    stamps = repozo_stamps(repository)[0]
    later = [s for s in stamps if s > stamp]
    for name in snapshots(directory):
        if name == stamp or (name > stamp and (not later or
                                               name < later[0])):
            return os.path.join(directory, name)
    raise Failed('no blob snapshot in %s for the backup of %s'
                 % (directory, stamp))


def prune(repository, directory):
    """Remove the snapshots older than the oldest repozo backup kept."""
    stamps = repozo_stamps(repository)[0]
    if not stamps:
        return
    for name in snapshots(directory):
        if name < stamps[0]:
            shutil.rmtree(os.path.join(directory, name))
            say('blobs: removed %s (its repozo backup is gone)'
                % os.path.join(directory, name), False)


# -- the restore guard ---------------------------------------------------------

def _zdaemon(sock):
    from zc.zodbrecipes import talk
    status = talk.query(sock, timeout=5) if os.path.exists(sock) else None
    if not status:
        return None
    app = status.get('application', '0')
    return ('zdaemon (pid %s) is up: it runs the server or starts it'
            ' again (%s)' % (status.get('manager', '?'),
                             'server pid %s' % app if app not in ('', '0')
                             else 'the server is not running now'))


def _address(address):
    from zc.zodbrecipes import options
    import socket
    a = options.address(address)
    target = a.local()
    if a.socket:
        if not os.path.exists(a.socket):
            return None
        s = socket.socket(socket.AF_UNIX)
    else:
        kind = socket.AF_INET6 if ':' in target[0] else socket.AF_INET
        s = socket.socket(kind)
    s.settimeout(10)
    try:
        s.connect(target)
    except OSError:
        return None
    finally:
        s.close()
    return 'something answers on the server\'s address %s' % address


def _systemd(unit):
    systemctl = shutil.which('systemctl')
    if not systemctl:
        return None  # no systemd here: no unit can be running
    p = subprocess.run([systemctl, 'is-active', unit], capture_output=True,
                       text=True)
    state = p.stdout.strip()
    # activating: starting, or waiting to restart after a failure.
    if state in ('active', 'activating', 'reloading', 'deactivating',
                 'refreshing'):
        return 'the systemd unit %s is %s' % (unit, state)
    return None


def _supervisor(program):
    supervisorctl = (os.environ.get('SUPERVISORCTL')
                     or shutil.which('supervisorctl'))
    if not supervisorctl:
        return ('cannot ask supervisor about the program %s (no'
                ' supervisorctl on PATH; set SUPERVISORCTL)' % program)
    p = subprocess.run([supervisorctl, 'status', program],
                       capture_output=True, text=True)
    words = p.stdout.split()
    if len(words) >= 2 and words[0] == program and words[1] in (
            'RUNNING', 'STARTING', 'BACKOFF', 'STOPPING'):
        return 'the supervisor program %s is %s' % (program, words[1])
    return None


def _lock_held(path):
    """Does another process hold the storage's lock file (zc.lockfile takes
    an flock on Data.fs.lock while the storage is open)?"""
    import fcntl
    try:
        fd = os.open(path + '.lock', os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return '%s is open in another process: its lock file is held' % path
    finally:
        os.close(fd)
    return None


def guard(zdaemon=None, address=None, systemd=None, supervisor=None,
          storages=()):
    """Why the restore must not run now (a list, empty when it may)."""
    found = []
    if zdaemon:
        found.append(_zdaemon(zdaemon))
    if address:
        found.append(_address(address))
    if systemd:
        found.append(_systemd(systemd))
    if supervisor:
        found.append(_supervisor(supervisor))
    found += [_lock_held(p) for p in storages]
    return [f for f in found if f]


# -- checking a restored storage ---------------------------------------------

SAMPLE = 100  # objects loaded besides the root


def check(path, blobs=None):
    """fstest, then open the storage read-only, load the root and a sample
    of objects, and load every blob a record refers to."""
    import ZODB
    import ZODB.FileStorage
    import ZODB.blob
    import ZODB.utils
    from ZODB.scripts import fstest
    try:
        fstest.check(path)
    except fstest.FormatError as e:
        raise Failed('%s: fstest: %s' % (path, e))
    storage = ZODB.FileStorage.FileStorage(path, read_only=True,
                                           blob_dir=blobs or None)
    db = ZODB.DB(storage)
    try:
        transactions = records = blob_count = 0
        missing, seen = [], set()
        for txn in storage.iterator():
            transactions += 1
            for record in txn:
                records += 1
                key = record.oid, record.tid
                if not blobs or key in seen or not record.data or \
                        not ZODB.blob.is_blob_record(record.data):
                    continue
                seen.add(key)
                blob_count += 1
                try:
                    storage.loadBlob(record.oid, record.tid)
                except Exception:
                    missing.append(ZODB.utils.oid_repr(record.oid))
        if missing:
            raise Failed('%s: %d blob files missing in %s (oids %s)' % (
                path, len(missing), blobs, ', '.join(missing[:10])))
        conn = db.open()
        try:
            root = conn.root()
            list(root.keys())
            loaded = 0
            for oid in itertools.islice(storage._index.keys(), SAMPLE):
                conn.get(oid)._p_activate()
                loaded += 1
        finally:
            conn.close()
    except Failed:
        raise
    except Exception as e:
        raise Failed('%s: %s: %s' % (path, type(e).__name__, e))
    finally:
        db.close()
    say('checked %s: %d transactions, %d records, %d blobs, %d objects'
        ' loaded' % (path, transactions, records, blob_count, loaded))


# -- command line --------------------------------------------------------------

USAGE = """\
usage: backuptool [-v] snapshot BLOBS SNAPSHOTS STAMP
       backuptool copy [--link] SNAPSHOT BLOBS
       backuptool choose REPOSITORY SNAPSHOTS [DATE]
       backuptool stamp REPOSITORY [DATE]
       backuptool [-v] prune REPOSITORY SNAPSHOTS
       backuptool guard [--zdaemon SOCKET] [--address ADDRESS]
                        [--systemd UNIT] [--supervisor PROGRAM] [DATA.FS...]
       backuptool check DATA.FS [BLOBS]"""


def _options(args, names):
    found, rest = {}, []
    args = list(args)
    while args:
        a = args.pop(0)
        if a in names:
            if not args:
                raise Usage(a)
            found[a[2:]] = args.pop(0)
        elif a.startswith('--'):
            raise Usage(a)
        else:
            rest.append(a)
    return found, rest


def run(args):
    if args[0] == '-v':
        VERBOSE[0] = True
        args = args[1:]
    command, args = args[0], args[1:]
    if command == 'snapshot' and len(args) == 3:
        snapshot(*args)
    elif command == 'copy' and args[:1] == ['--link'] and len(args) == 3:
        copy(args[1], args[2], link=True)
    elif command == 'copy' and len(args) == 2:
        copy(*args)
    elif command == 'choose' and len(args) in (2, 3):
        say(choose(*args))
    elif command == 'stamp' and len(args) in (1, 2):
        say(restored_stamp(*args))
    elif command == 'prune' and len(args) == 2:
        prune(*args)
    elif command == 'guard':
        kw, storages = _options(args, ('--zdaemon', '--address', '--systemd',
                                       '--supervisor'))
        reasons = guard(storages=storages, **kw)
        if reasons:
            raise Failed('\n'.join(reasons))
    elif command == 'check' and len(args) in (1, 2):
        check(*args)
    else:
        raise Usage(command)


def main(args=None):
    if args is None:
        args = sys.argv[1:]
    try:
        if not args or args == ['-v']:
            raise Usage()
        run(args)
    except Usage:
        print(USAGE, file=sys.stderr)
        return 2
    except Failed as e:
        print(str(e), file=sys.stderr)
        return 1
    return 0
