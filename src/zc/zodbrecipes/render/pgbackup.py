"""The backup of a server part's RelStorage on PostgreSQL: pg_dump.

The part's backup directory holds, for its one storage::

    BACKUPS/.lock                  held by a backup or restore drill
    BACKUPS/STORAGE/pgdump/STAMP.dump
                                   pg_dump's archive (custom format, -Fc),
                                   named by its UTC time like repozo's
                                   files (2024-01-31-03-00-00)
    BACKUPS/STORAGE/blobs/STAMP/   with a blob directory on disk
                                   (shared-blob-dir true): a snapshot of it
                                   (backuptool snapshot), named like the dump

pg_dump reads one consistent snapshot of the database while the server
serves on; the blobs are snapshot after the dump, holding the storage's
pack lock from the dump to the end of the snapshot (a pack in between could
remove blob files the dump refers to), so every blob the dump refers to is
in the snapshot.

The password never appears on a command line (``ps`` shows those) nor in a
file others may read: pg_dump finds it in ``pgpass`` (``PGPASSFILE``, mode
0600, written from the DSN at build time); the connection string given to
pg_dump is the DSN without it.  Dumps are written with ``umask 077``.
"""
from zc.zodbrecipes.options import OptionError
from zc.zodbrecipes.relconf import dsn_quote
from zc.zodbrecipes.render import backup
from zc.zodbrecipes.render import commandline
from zc.zodbrecipes.render import quoting


def conninfo(params):
    """A libpq connection string of parsed DSN parameters, without the
    password."""
    return ' '.join('%s=%s' % (key, dsn_quote(value))
                    for key, value in sorted(params.items())
                    if key != 'password' and value is not None)


def _pgpass_field(value):
    return value.replace('\\', '\\\\').replace(':', '\\:')


def pgpass(params):
    """The text of a password file for the DSN's role (``*`` for what the
    DSN leaves to libpq's defaults; any database, so that a restore drill
    reaches its scratch database), or None without a password."""
    password = params.get('password')
    if password is None:
        return None
    if '\n' in password or '\r' in password:
        raise OptionError('password: a line break in a password cannot be'
                          ' written to a password file')

    def field(key):
        value = params.get(key)
        return _pgpass_field(value) if value else '*'
    host = params.get('host') or params.get('hostaddr')
    return '%s:%s:*:%s:%s\n' % (
        _pgpass_field(host) if host and ',' not in host else '*',
        field('port') if ',' not in (params.get('port') or '') else '*',
        field('user'), _pgpass_field(password))


def backup_script(name, pg_dump, tool, storage, blob_dir, backups, params,
                  pgpass_file=None, keep=7, lock_dir=None):
    """A /bin/sh script dumping the RelStorage: ``bin/NAME-backup [-v]``.

    - pg_dump: the pg_dump program; tool: the backuptool program.
    - storage: the storage's name; blob_dir: the blob directory on disk
      (shared-blob-dir true) or None.
    - params: the DSN's parameters (psycopg2's parse_dsn); pgpass_file:
      the password file holding its password, or None.
    - keep: how many dumps (each with its blob snapshot) to keep.
    - lock_dir: where the pack jobs' lock files are (the storage's pack
      lock is held from the dump to the end of the blob snapshot).
    """
    storage = quoting.storage_name(storage)
    return _BACKUP % dict(
        name=quoting.name(name),
        pg_dump=quoting.sh_quoted(quoting.abspath(pg_dump, 'pg_dump')),
        tool=quoting.sh_quoted(quoting.abspath(tool, 'backuptool')),
        backups=quoting.sh_quoted(quoting.abspath(backups, 'backups')),
        storage=quoting.sh_quoted(storage),
        blobs=quoting.sh_quoted(quoting.abspath(blob_dir, 'blob directory')
                                if blob_dir else ''),
        conninfo=quoting.sh_quoted(conninfo(params)),
        pgpass=('PGPASSFILE=%s\nexport PGPASSFILE\n' % quoting.sh_quoted(
            quoting.abspath(pgpass_file, 'password file'))
            if pgpass_file else ''),
        lock=quoting.sh_quoted(commandline.lock_path(
            lock_dir, name, storage, packable=False) if lock_dir else ''),
        keep=quoting.whole_number(keep, 'keep', 1),
        locked=commandline.LOCKED,
        flock=commandline.FLOCK,
        backups_lock=backup.backups_lock('backup'),
    )


_BACKUP = """\
#!/bin/sh
# Back up the RelStorage of the ZEO server %(name)s: pg_dump -Fc into
# STAMP.dump, then (blobs on disk) a snapshot of its blobs named like the
# dump (files unchanged since the previous snapshot are hard links to it).
# Usage: %(name)s-backup [-v]  (-v: say what is done)
# Keeps the %(keep)d newest dumps with their blob snapshots.
# Written by zc.zodbrecipes: changes are lost when buildout runs again.
set -eu
LC_ALL=C
export LC_ALL
umask 077
%(pgpass)s
pg_dump=%(pg_dump)s
tool=%(tool)s
backups=%(backups)s
storage=%(storage)s
blobs=%(blobs)s
conninfo=%(conninfo)s
lock=%(lock)s
keep=%(keep)d

verbose=
usage() {
    echo "usage: $0 [-v]" >&2
    exit 2
}
while getopts v opt; do
    case $opt in
        v) verbose=yes ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage

%(backups_lock)s
dumps=$backups/$storage/pgdump
mkdir -p "$dumps"
if [ -n "$lock" ]; then
    # Read-only: a pack run by hand by another user may have made it.
    [ -e "$lock" ] || : >>"$lock"
    exec 7<"$lock"
    if ! %(flock)s -n 7; then
        [ -z "$verbose" ] || echo "$0: waiting for the pack of $storage to end"
        %(flock)s 7
    fi
fi
stamp=$(date -u +%%Y-%%m-%%d-%%H-%%M-%%S)
while [ -e "$dumps/$stamp.dump" ]; do
    sleep 1
    stamp=$(date -u +%%Y-%%m-%%d-%%H-%%M-%%S)
done
# Our own incomplete dumps, left by a run that was stopped half-way.
rm -f "$dumps"/.partial-*.dump
partial=$dumps/.partial-$stamp.dump
if ! "$pg_dump" -Fc --no-password -d "$conninfo" -f "$partial"; then
    rm -f "$partial"  # our own incomplete dump
    echo "$0: pg_dump of $storage failed" >&2
    exit 1
fi
mv "$partial" "$dumps/$stamp.dump"
[ -z "$verbose" ] || echo "$0: dumped $storage to $dumps/$stamp.dump"
if [ -n "$blobs" ]; then
    "$tool" ${verbose:+-v} snapshot "$blobs" "$backups/$storage/blobs" "$stamp"
fi
exec 7>&-

# Keep the $keep newest dumps (names start with their UTC time, so they
# sort by age), then the snapshots of those.
count=0
for f in "$dumps"/[0-9]*.dump; do
    if [ -e "$f" ]; then count=$((count + 1)); fi
done
for f in "$dumps"/[0-9]*.dump; do
    [ "$count" -gt "$keep" ] || break
    rm -f "$f"
    [ -z "$verbose" ] || echo "$0: removed $f"
    count=$((count - 1))
done
"$tool" ${verbose:+-v} prune "$dumps" "$backups/$storage/blobs"
"""
