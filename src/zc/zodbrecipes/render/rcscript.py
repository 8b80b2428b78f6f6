"""An init script (/etc/init.d/NAME) for a ZEO server.

The script only hands its arguments to the control program, which already
switches to the server's user (zdaemon's ``user``) and answers ``start``,
``stop``, ``restart`` and ``status`` with LSB exit codes.  The LSB header
lets update-rc.d / insserv order it after the file systems and network.
"""
from zc.zodbrecipes import commands
from zc.zodbrecipes.render import quoting


def render(name, control, description=None):
    """The text of an rc script named name running the control program.

    control is the absolute path of the control script (bin/NAME).
    """
    name = quoting.name(name, 'name')
    control = quoting.abspath(control, 'control script')
    description = quoting.single_line(
        description or 'ZEO server %s' % name, 'description')
    return _SCRIPT % dict(name=name, description=description,
                          control=quoting.sh_quoted(control),
                          commands='|'.join(commands.FAST))


_SCRIPT = """\
#!/bin/sh
### BEGIN INIT INFO
# Provides:          %(name)s
# Required-Start:    $remote_fs $network
# Required-Stop:     $remote_fs $network
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: %(description)s
### END INIT INFO
# Written by zc.zodbrecipes: changes are lost when buildout runs again.

if [ $# -eq 0 ]; then
    echo "usage: $0 {%(commands)s}" >&2
    exit 2
fi
exec %(control)s "$@"
"""
