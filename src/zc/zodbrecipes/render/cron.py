"""Packing a ZEO server's storages from cron, or by hand.

One zeopack command per storage, built by ``pack_argv``, is used three ways:
in a cron.d file (with a user column), in a user crontab (without), and in
a /bin/sh script for packing by hand.  Each run holds a lock file per storage
(``flock -n``), so a pack that is still running when the next one is due
makes the next one give up instead of piling up.  These command lines are
commandline's, shared with the systemd units and the backup script.
"""
import re

from zc.zodbrecipes.options import OptionError
from zc.zodbrecipes.render import commandline
from zc.zodbrecipes.render import quoting
from zc.zodbrecipes.render.commandline import LOCKED
# Also reached from here: cron.pack_argv (render.txt), cron.pack_commands
# (server.py).
from zc.zodbrecipes.render.commandline import pack_argv  # noqa: F401
from zc.zodbrecipes.render.commandline import pack_commands


def crontab(schedule, commands, user=None, comment=None):
    """The text of a crontab running each argv in commands on schedule.

    With a user, the text is for /etc/cron.d (a user column); without, it is
    a user crontab.  MAILTO is set only when the schedule names an address:
    otherwise cron mails the output to the user the job runs as (an empty
    MAILTO would throw failure reports away).  In a user crontab MAILTO
    applies to every line after it: install the text as a whole crontab, or
    mind the lines that follow.
    """
    lines = []
    if comment:
        lines.append('# ' + quoting.single_line(comment, 'comment'))
    if schedule.email:
        lines.append('MAILTO=' + schedule.email)
    who = [quoting.user(user)] if user else []
    for argv in commands:
        lines.append(' '.join(
            [schedule.cron_time()] + who + [_cron_command(argv)]))
    return '\n'.join(lines) + '\n'


def _cron_command(argv):
    return quoting.cron_command(quoting.command(argv, 'command'))


_CROND_NAME = re.compile(r'[^A-Za-z0-9_-]')


def crond_filename(name):
    """A file name that Debian's cron does not skip in /etc/cron.d.

    cron ignores names with anything but letters, digits, "_" and "-":
    every other character becomes "_".
    """
    fixed = _CROND_NAME.sub('_', quoting.single_line(name, 'cron.d name'))
    if not fixed.strip('_'):
        raise OptionError('cron.d name: %r has no usable character' % name)
    return fixed


def pack_script(name, zeopack, address, storages, lock_dir, days=0):
    """A /bin/sh script packing every storage: ``bin/NAME-pack [-d DAYS]
    [-S STORAGE]`` (plone.recipe.zeoserver's ``bin/zeopack`` takes ``-D``
    for ``-d``, and ``-B``, which a ZEO 5+ server does not need).

    It packs all storages (or the one named) even when one fails and exits
    1 if any failed, 2 on bad usage.
    """
    commands = pack_commands(name, zeopack, address, storages, lock_dir,
                             quoting.Var('days'))
    return _pack_script(name, commands, days)


def zodbpack_script(name, zodbpack, config, storage, lock_dir, days=0):
    """The script of pack_script for a RelStorage: zodbpack with the
    part's pack configuration, under the same lock, with the same usage
    and exit statuses (0 packed, 1 failed or already being packed, 2 bad
    usage)."""
    commands = commandline.zodbpack_commands(
        name, zodbpack, config, storage, lock_dir, quoting.Var('days'))
    return _pack_script(name, commands, days)


def _pack_script(name, commands, days):
    days = quoting.whole_number(days, 'days')
    packs = ''.join('pack %s %s\n' % (quoting.sh_word(s),
                                      quoting.sh_command(argv))
                    for s, argv in commands)
    known = [s for s, _ in commands]
    return _SCRIPT % dict(name=quoting.name(name), days=days, locked=LOCKED,
                          packs=packs,
                          known=quoting.sh_quoted(' %s ' % ' '.join(known)))


_SCRIPT = """\
#!/bin/sh
# Pack the storages of the ZEO server %(name)s, keeping DAYS days of history.
# Usage: %(name)s-pack [-d DAYS] [-S STORAGE]
# Written by zc.zodbrecipes: changes are lost when buildout runs again.
set -eu

days=%(days)d
only=
storages=%(known)s

usage() {
    echo "usage: $0 [-d DAYS] [-S STORAGE]" >&2
    exit 2
}

while getopts d:D:S:B: opt; do
    case $opt in
        d | D) days=$OPTARG ;;
        S) only=$OPTARG ;;
        B) ;;  # a blob directory: a ZEO 5+ server packs its blobs itself
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage
case $days in
    '' | *[!0-9]*)
        echo "$0: DAYS must be a whole number, not '$days'" >&2
        exit 2 ;;
esac
if [ -n "$only" ]; then
    case $storages in
        *" $only "*) ;;
        *) echo "$0: there is no storage '$only' (storages:$storages)" >&2
           exit 2 ;;
    esac
fi

failed=0

pack() {
    storage=$1
    shift
    [ -z "$only" ] || [ "$only" = "$storage" ] || return 0
    status=0
    "$@" || status=$?
    case $status in
        0) ;;
        %(locked)d) echo "$0: $storage is being packed or backed up now" >&2
            failed=1 ;;
        *) echo "$0: packing $storage failed (exit status $status)" >&2
            failed=1 ;;
    esac
}

%(packs)s
exit "$failed"
"""
