"""Backup and restore scripts for the FileStorages of a ZEO server.

For each storage the backup directory holds::

    BACKUPS/STORAGE/filestorage/   repozo's repository (full backups, the
                                   incremental backups that follow them)
    BACKUPS/STORAGE/blobs/STAMP/   a copy of the blob directory per run
                                   (STAMP: UTC time, 2024-01-31-03-00-00)

The backup script runs ``repozo -B`` first and copies the blobs afterwards,
so every blob the backed-up Data.fs refers to is in the copy.  It needs
nothing beyond POSIX tools, GNU ``cp -a`` and util-linux ``flock``: blobs are
copied whole each time (no rsync, no hard-link snapshots), so size the
backup disk for KEEP copies of the blob directory.

The restore script refuses to run while the server is up, moves the current
files aside (never deletes them) and restores the newest backup.
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


def backup_script(name, repozo, storages, backups, keep=7, gzip=True,
                  quick=False, verify=True):
    """A /bin/sh script backing up each storage: ``bin/NAME-backup [-F]``.

    - storages: (storage name, Data.fs path, blob directory or None).
    - backups: the backup directory (created when missing, mode 0700).
    - keep: how many full backups (each with its incremental backups) and
      how many blob copies to keep per storage.
    - gzip: compress (``repozo -z``); quick: ``repozo -Q``, checking only the
      last incremental backup's checksum to decide between incremental and
      full; verify: check the repository afterwards (``repozo -V``).
    """
    options = ['-z'] if gzip else []
    options += ['-Q'] if quick else []
    return _BACKUP % dict(
        name=quoting.name(name),
        repozo=quoting.sh_quoted(quoting.abspath(repozo, 'repozo')),
        backups=quoting.sh_quoted(quoting.abspath(backups, 'backups')),
        keep=quoting.whole_number(keep, 'keep', 1),
        options=''.join(' ' + o for o in options),
        verify='' if verify else '# ',
        locked=LOCKED,
        flock=commandline.FLOCK,
        calls=_calls('backup', _storages(storages)),
    )


_BACKUP = """\
#!/bin/sh
# Back up the storages of the ZEO server %(name)s with repozo and copy their
# blob directories.  Usage: %(name)s-backup [-F]  (-F: a full backup)
# Keeps the %(keep)d newest full backups of each storage (with the incremental
# backups that follow them) and the %(keep)d newest blob copies.
# Written by zc.zodbrecipes: changes are lost when buildout runs again.
set -eu
LC_ALL=C
export LC_ALL
umask 077

repozo=%(repozo)s
backups=%(backups)s
keep=%(keep)d

full=
usage() {
    echo "usage: $0 [-F]" >&2
    exit 2
}
while getopts F opt; do
    case $opt in
        F) full=yes ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage

mkdir -p "$backups"
exec 9>"$backups/.lock"
if ! %(flock)s -n 9; then
    echo "$0: another backup is running" >&2
    exit %(locked)d
fi

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

# Remove all but the $keep newest blob copies in directory $1.
prune_blobs() {
    count=0
    for d in "$1"/[0-9]*[0-9]; do
        if [ -d "$d" ]; then count=$((count + 1)); fi
    done
    for d in "$1"/[0-9]*[0-9]; do
        [ "$count" -gt "$keep" ] || break
        rm -rf "$d"
        count=$((count - 1))
    done
}

# backup STORAGE DATA.FS BLOB-DIRECTORY
backup() {
    repository=$backups/$1/filestorage
    mkdir -p "$repository"
    "$repozo" -B%(options)s ${full:+-F} -r "$repository" -f "$2"
    %(verify)s"$repozo" -V -r "$repository" >/dev/null
    prune_repository "$repository"
    [ -n "$3" ] || return 0
    copies=$backups/$1/blobs
    stamp=$(date -u +%%Y-%%m-%%d-%%H-%%M-%%S)
    if [ -e "$copies/$stamp" ]; then
        echo "$0: $copies/$stamp exists already" >&2
        return 1
    fi
    mkdir -p "$copies"
    rm -rf "$copies/partial"
    cp -a "$3" "$copies/partial"
    mv "$copies/partial" "$copies/$stamp"
    prune_blobs "$copies"
}

%(calls)s"""


def restore_script(name, repozo, storages, backups, status_command, address,
                   python):
    """A /bin/sh script restoring each storage from its newest backup.

    - status_command: argv that exits 0 when the server is up (for the
      zdaemon control script: ``bin/NAME status``, which also exits 0 while
      zdaemon restarts the server); the script then refuses to run.
    - address: the server's address; the script also refuses when anything
      accepts connections there (checked with python, an interpreter path).
    """
    status = quoting.command(status_command, 'status command')
    return _RESTORE % dict(
        name=quoting.name(name),
        repozo=quoting.sh_quoted(quoting.abspath(repozo, 'repozo')),
        python=quoting.sh_quoted(quoting.abspath(python, 'python')),
        backups=quoting.sh_quoted(quoting.abspath(backups, 'backups')),
        status=quoting.sh_command(status),
        where=' '.join(quoting.sh_quoted(w) for w in _where(address)),
        calls=_calls('check', _storages(storages)) + '\n' +
        _calls('restore', _storages(storages)),
    )


def _where(value):
    """The probe's arguments for an address: family, then host port or
    socket path."""
    address = commandline.server_address(value)
    if address.socket:
        return ['unix', address.socket]
    return [address.family, address.host, str(address.port)]


_RESTORE = """\
#!/bin/sh
# Restore the storages of the ZEO server %(name)s from their newest backups.
# Usage: %(name)s-restore
# Run it as the user the server runs as, with the server stopped: it refuses
# to run while the server is up.  The current files are moved aside (to
# NAME.before-restore-TIME), never deleted.
# Written by zc.zodbrecipes: changes are lost when buildout runs again.
set -eu
LC_ALL=C
export LC_ALL

repozo=%(repozo)s
python=%(python)s
backups=%(backups)s

if [ $# -ne 0 ]; then
    echo "usage: $0" >&2
    exit 2
fi

if %(status)s >/dev/null 2>&1; then
    echo "$0: the server is running: stop it first" >&2
    exit 1
fi
answer=0
"$python" - %(where)s <<'EOF' || answer=$?
import socket
import sys

family, where = sys.argv[1], sys.argv[2:]
if family == 'unix':
    sock, target = socket.socket(socket.AF_UNIX), where[0]
else:
    kind = socket.AF_INET6 if family == 'inet6' else socket.AF_INET
    sock, target = socket.socket(kind), (where[0], int(where[1]))
sock.settimeout(10)
try:
    sock.connect(target)
except OSError:
    sys.exit(1)
sock.close()
EOF
case $answer in
    0) echo "$0: something answers on the server's address: stop it first" >&2
        exit 1 ;;
    1) ;;
    *) echo "$0: cannot check the server's address" >&2
        exit 1 ;;
esac

# Print the path of the newest blob copy in directory $1, if any.
newest_blobs() {
    newest=
    for d in "$1"/[0-9]*[0-9]; do
        if [ -d "$d" ]; then newest=$d; fi
    done
    echo "$newest"
}

# check STORAGE DATA.FS BLOB-DIRECTORY: is there something to restore?
check() {
    found=
    for f in "$backups/$1/filestorage"/*.fs*; do
        if [ -e "$f" ]; then found=$f; fi
    done
    if [ -z "$found" ]; then
        echo "$0: no backup of $1 in $backups/$1/filestorage" >&2
        exit 1
    fi
    if [ -n "$3" ] && [ -z "$(newest_blobs "$backups/$1/blobs")" ]; then
        echo "$0: no copy of the blobs of $1 in $backups/$1/blobs" >&2
        exit 1
    fi
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
    set_aside "$2"
    set_aside "$2.index"
    mkdir -p "$(dirname "$2")"
    "$repozo" -R -w -r "$backups/$1/filestorage" -o "$2"
    [ -n "$3" ] || return 0
    set_aside "$3"
    set_aside "$3.partial"
    mkdir -p "$(dirname "$3")"
    cp -a "$(newest_blobs "$backups/$1/blobs")" "$3.partial"
    mv "$3.partial" "$3"
}

stamp=$(date -u +%%Y-%%m-%%d-%%H-%%M-%%S)
%(calls)s"""
