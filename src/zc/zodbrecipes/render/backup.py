"""Backup and restore scripts for the FileStorages of a ZEO server.

Each server part has its own backup directory (never shared with another
part), and in it each storage its own::

    BACKUPS/.lock                  held by a backup or restore of the part
    BACKUPS/STORAGE/filestorage/   repozo's repository (full backups, the
                                   incremental backups that follow them)
    BACKUPS/STORAGE/blobs/STAMP/   a snapshot of the blob directory (flat:
                                   a+b+c is the blob file a/b/c), named
                                   like the repozo backup taken with it
                                   (UTC time, 2024-01-31-03-00-00)

The backup script runs ``repozo -B`` first and snapshots the blobs
afterwards, so every blob the backed-up Data.fs refers to is in the
snapshot.  ZODB never changes a blob file once written: files the previous
snapshot holds unchanged become hard links to it, and a snapshot costs what
changed.  Snapshots are pruned with the repozo backups they belong to.

The restore script refuses while the server or anything that would restart
it is up, moves the current files aside (never deletes them), restores the
newest backup (or the one as of a date) with the blobs of that backup, and
checks the result.  With ``-t`` it is a drill: the same restore into a
scratch directory, touching nothing of the server.

The scripts are /bin/sh; the work that would be slow or fragile in shell
(snapshots, choosing a snapshot, the guard, the checks) is done by
``zc.zodbrecipes.backuptool``, run with the server's eggs.
"""
from zc.zodbrecipes.options import OptionError
from zc.zodbrecipes.render import commandline
from zc.zodbrecipes.render import quoting

LOCKED = commandline.LOCKED


def _storages(storages):
    """Checked (name, Data.fs path, blob directory or '') triples."""
    result = []
    for name, path, blobs in storages:
        result.append((
            quoting.storage_name(name),
            quoting.abspath(path, 'file storage'),
            quoting.abspath(blobs, 'blob directory') if blobs else '',
        ))
    if not result:
        raise OptionError('storage: there is no storage to back up')
    if len({n for n, _, _ in result}) != len(result):
        raise OptionError('storage: storage names must be unique')
    return result


def _calls(function, storages):
    """One line per storage calling a shell function with its triple."""
    return ''.join(
        '%s %s\n' % (function, ' '.join(quoting.sh_quoted(w) for w in triple))
        for triple in storages)


def _path(value, what):
    return quoting.sh_quoted(quoting.abspath(value, what))


def backups_lock(doing):
    """Shell lines taking the backup directory's lock ($backups/.lock) or
    exiting LOCKED: one backup or restore of a server at a time.  doing:
    "backup" or "restore", for the message."""
    other = ('another backup or a restore' if doing == 'backup'
             else 'a backup or another restore')
    return (
        'mkdir -p "$backups"\n'
        'exec 9>"$backups/.lock"\n'
        'if ! %s -n 9; then\n'
        '    echo "$0: %s of this server is running" >&2\n'
        '    exit %d\n'
        'fi\n' % (commandline.FLOCK, other, LOCKED))


def backup_script(name, repozo, tool, storages, backups, keep=7, gzip=True,
                  quick=False, verify=True, lock_dir=None):
    """A /bin/sh script backing up each storage: ``bin/NAME-backup [-F]``.

    - tool: the backuptool program (``parts/NAME/backuptool``).
    - storages: (storage name, Data.fs path, blob directory or None).
    - backups: the part's backup directory (created when missing, mode
      0700).
    - keep: how many full backups (each with its incremental backups and
      their blob snapshots) to keep per storage.
    - gzip: compress (``repozo -z``); quick: ``repozo -Q``, checking only the
      last incremental backup's checksum to decide between incremental and
      full; verify: check the repository afterwards (``repozo -V``).
    - lock_dir: where the pack jobs' per-storage lock files are
      (``commandline.lock_path``).  Each storage is backed up holding its
      pack lock, from repozo to the end of the blob snapshot: a pack in
      between could remove blob files the repozo backup refers to.  The
      backup waits for a pack that runs; a pack started meanwhile gives up
      (exit status LOCKED) or waits, as its job does.
    """
    options = ['-z'] if gzip else []
    options += ['-Q'] if quick else []
    return _BACKUP % dict(
        name=quoting.name(name),
        repozo=_path(repozo, 'repozo'),
        tool=_path(tool, 'backuptool'),
        backups=_path(backups, 'backups'),
        keep=quoting.whole_number(keep, 'keep', 1),
        options=''.join(' ' + o for o in options),
        verify='' if verify else '# ',
        locked=LOCKED,
        flock=commandline.FLOCK,
        backups_lock=backups_lock('backup'),
        calls=_calls('backup', [
            triple + ((commandline.lock_path(lock_dir, name, triple[0],
                                             packable=False)
                       if lock_dir else ''),)
            for triple in _storages(storages)]),
    )


_BACKUP = """\
#!/bin/sh
# Back up the storages of the ZEO server %(name)s: repozo for each Data.fs,
# then a snapshot of its blobs named like the repozo backup (files unchanged
# since the previous snapshot are hard links to it).
# Usage: %(name)s-backup [-F] [-v]  (-F: a full backup; -v: say what the
# snapshots copied, linked and removed)
# Keeps the %(keep)d newest full backups of each storage, with the incremental
# backups that follow them and the blob snapshots of all these.
# Written by zc.zodbrecipes: changes are lost when buildout runs again.
set -eu
LC_ALL=C
export LC_ALL
umask 077

repozo=%(repozo)s
tool=%(tool)s
backups=%(backups)s
keep=%(keep)d

full=
verbose=
usage() {
    echo "usage: $0 [-F] [-v]" >&2
    exit 2
}
while getopts Fv opt; do
    case $opt in
        F) full=yes ;;
        v) verbose=yes ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage

%(backups_lock)s
# Remove the files older than the $keep newest full backups in repository $1.
# File names start with their UTC time, so they sort by age.
prune_repository() {
    count=0
    for f in "$1"/*.fs*; do
        if [ -e "$f" ]; then count=$((count + 1)); fi
    done
    [ "$count" -gt "$keep" ] || return 0
    count=$((count - keep))
    for f in "$1"/*.fs*; do
        count=$((count - 1))
        if [ "$count" -lt 0 ]; then
            oldest=${f##*/}
            oldest=${oldest%%%%.*}
            break
        fi
    done
    for f in "$1"/[0-9]*; do
        stamp=${f##*/}
        [ "${stamp%%%%.*}" != "$oldest" ] || break
        rm -f "$f"
    done
}

# backup STORAGE DATA.FS BLOB-DIRECTORY PACK-LOCK
backup() {
    repository=$backups/$1/filestorage
    mkdir -p "$repository"
    # Hold the storage's pack lock from repozo to the end of the snapshot: a
    # pack in between could remove blobs the repozo backup refers to.  Wait
    # for a pack that runs; a pack started meanwhile does not run.
    if [ -n "$4" ]; then
        # Read-only: a pack run by hand by another user may have made it.
        [ -e "$4" ] || : >>"$4"
        exec 7<"$4"
        if ! %(flock)s -n 7; then
            [ -z "$verbose" ] || echo "$0: waiting for the pack of $1 to end"
            %(flock)s 7
        fi
    fi
    "$repozo" -B%(options)s ${full:+-F} -r "$repository" -f "$2"
    %(verify)s"$repozo" -V -r "$repository" >/dev/null
    if [ -n "$3" ]; then
        "$tool" ${verbose:+-v} snapshot "$3" "$backups/$1/blobs" \\
            "$("$tool" stamp "$repository")"
    fi
    exec 7>&-
    prune_repository "$repository"
    "$tool" ${verbose:+-v} prune "$repository" "$backups/$1/blobs"
}

%(calls)s"""


def restore_script(name, repozo, tool, storages, backups, zdaemon=None,
                   address=None, systemd=None, supervisor=None, legacy=None,
                   stop=None):
    """A /bin/sh script restoring each storage:
    ``bin/NAME-restore [-D DATE] [-t]``.

    What the guard asks before a restore (each optional): zdaemon, the
    socket of the zdaemon manager; address, the server's address (anything
    answering there); systemd, the server's unit; supervisor, its program.
    It also refuses while another process has a Data.fs open.

    - legacy: where backups of an earlier layout may be (a directory with
      STORAGE/filestorage in it), named when a storage has no backup.
    - stop: the command that stops the server, for the refusal's message.
    """
    guard = []
    if zdaemon:
        guard += ['--zdaemon', quoting.abspath(zdaemon, 'zdaemon socket')]
    if address:
        guard += ['--address',
                  str(commandline.server_address(address))]
    if systemd:
        guard += ['--systemd', quoting.name(systemd, 'systemd unit')]
    if supervisor:
        guard += ['--supervisor',
                  quoting.name(supervisor, 'supervisor program')]
    checked = _storages(storages)
    guard += [path for _, path, _ in checked]
    return _RESTORE % dict(
        name=quoting.name(name),
        repozo=_path(repozo, 'repozo'),
        tool=_path(tool, 'backuptool'),
        backups=_path(backups, 'backups'),
        legacy=_path(legacy, 'legacy backups') if legacy else "''",
        guard=' \\\n    '.join(quoting.sh_quoted(w) for w in guard),
        refusal=quoting.sh_quoted('not restoring: stop the server first%s'
                                  % (': %s' % ' '.join(quoting.command(
                                      stop, 'stop command')) if stop
                                     else '')),
        locked=LOCKED,
        flock=commandline.FLOCK,
        restore_lock=backups_lock('restore'),
        checks=_calls('check', checked),
        calls=_calls('restore', checked),
    )


_RESTORE = """\
#!/bin/sh
# Restore the storages of the ZEO server %(name)s from their backups.
# Usage: %(name)s-restore [-D DATE] [-t]
#   -D DATE  the backup as of DATE (UTC, YYYY-MM-DD[-HH[-MM[-SS]]], as for
#            repozo -D) instead of the newest, with the blobs of that backup
#   -t       a drill: restore into a scratch directory in the backup
#            directory, check it, report and remove it; nothing of the
#            server is touched (exit status 1 when the backup is damaged)
# It refuses while the server or anything that would restart it is up, moves
# the current files aside (to NAME.before-restore-TIME, never deleted), and
# checks what it restored (fstest, loads, every blob): exit status 1 if not.
# Written by zc.zodbrecipes: changes are lost when buildout runs again.
set -eu
LC_ALL=C
export LC_ALL
umask 077

repozo=%(repozo)s
tool=%(tool)s
backups=%(backups)s
legacy=%(legacy)s

date=
drill=
usage() {
    echo "usage: $0 [-D DATE] [-t]" >&2
    exit 2
}
while getopts D:t opt; do
    case $opt in
        D) date=$OPTARG ;;
        t) drill=yes ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage

if [ -z "$drill" ] && ! "$tool" guard %(guard)s; then
    echo "$0:" %(refusal)s >&2
    exit 1
fi

%(restore_lock)s
# check STORAGE DATA.FS BLOB-DIRECTORY: is there a backup to restore?
check() {
    if "$tool" stamp "$backups/$1/filestorage" ${date:+"$date"} >/dev/null &&
        { [ -z "$3" ] || "$tool" choose "$backups/$1/filestorage" \\
            "$backups/$1/blobs" ${date:+"$date"} >/dev/null; }; then
        return 0
    fi
    if [ -n "$legacy" ] && [ -d "$legacy/$1/filestorage" ]; then
        echo "$0: backups of $1 made before each server had its own backup" \\
            "directory are in $legacy/$1 (shared by the servers of the" \\
            "deployment): check they are this server's, then move them to" \\
            "$backups/$1" >&2
    fi
    exit 1
}

# Move $1 to $1.before-restore-$stamp, if it exists.
set_aside() {
    if [ -e "$1" ]; then
        if [ -e "$1.before-restore-$stamp" ]; then
            echo "$0: $1.before-restore-$stamp exists already" >&2
            exit 1
        fi
        mv "$1" "$1.before-restore-$stamp"
        echo "$0: moved $1 to $1.before-restore-$stamp"
    fi
}

# restore STORAGE DATA.FS BLOB-DIRECTORY
restore() {
    repository=$backups/$1/filestorage
    snapshot=
    if [ -n "$3" ]; then
        snapshot=$("$tool" choose "$repository" "$backups/$1/blobs" \\
            ${date:+"$date"})
    fi
    if [ -n "$drill" ]; then
        data=$scratch/$1/Data.fs
        blobs=${3:+$scratch/$1/blobs}
    else
        data=$2
        blobs=$3
        mkdir -p "$(dirname "$2")"
        # Hold the storage's lock file: a server started meanwhile cannot
        # open the storage while it is being replaced.
        exec 8>>"$2.lock"
        if ! %(flock)s -n 8; then
            echo "$0: $2 is open in another process" >&2
            exit 1
        fi
        set_aside "$2"
        set_aside "$2.index"
    fi
    mkdir -p "$(dirname "$data")"
    if ! "$repozo" -R -w -r "$repository" ${date:+-D "$date"} -o "$data"
    then
        echo "$0: repozo could not restore $1" >&2
        failed="$failed $1"
        return 0
    fi
    if [ -n "$3" ]; then
        if [ -z "$drill" ]; then
            set_aside "$3"
            set_aside "$3.partial"
            mkdir -p "$(dirname "$3")"
        fi
        "$tool" copy ${drill:+--link} "$snapshot" "$blobs"
    fi
    if ! "$tool" check "$data" "$blobs"; then
        failed="$failed $1"
    fi
    echo "$0: restored $1 from the backup of" \\
        "$("$tool" stamp "$repository" ${date:+"$date"})${snapshot:+ with the blobs of $snapshot}"
}

%(checks)s
stamp=$(date -u +%%Y-%%m-%%d-%%H-%%M-%%S)
failed=
scratch=
if [ -n "$drill" ]; then
    scratch=$(mktemp -d "$backups/.drill.XXXXXX")
    # Our own scratch copy (blobs are hard links to the snapshots).
    trap 'rm -rf "$scratch"' EXIT
    trap 'exit 1' HUP INT TERM
fi

%(calls)s
if [ -n "$failed" ]; then
    echo "$0: FAILED:$failed did not restore or check out (see above)" >&2
    exit 1
fi
if [ -n "$drill" ]; then
    echo "$0: drill passed: the backups restore and check out"
fi
"""
