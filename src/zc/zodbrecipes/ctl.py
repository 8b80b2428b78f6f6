"""The control script: zdaemon's zdctl, with waits that mean something.

zdctl's ``start`` returns once the process is spawned (or polls a test
program in whole seconds), and ``stop`` polls in whole seconds too.  Ours:

- ``start`` returns 0 when the server answers ZEO clients on its address
  -- the runzeo it started, whose process holds the listening socket, not
  another server on the same address -- or 1 with the reason from the log
  when the server failed to come up (and then stops the daemon manager
  rather than leave it restarting a server that cannot run);
- ``stop`` returns when the server process is gone: its port is closed and
  a FileStorage has written its index;
- ``status`` follows the LSB: 0 when our runzeo serves, 3 when not (also
  when another server answers on the address: it names that process).

``stats``, ``check`` and ``metrics`` read the server's figures (monitor).
Everything else (``fg``, ``logtail``, ``logreopen``, ``kill``, ``show``,
``reopen_transcript``...) is zdctl's, in zdcontrol.

The modules, each importing only those below it::

    ctl         main: the control script's entry point
    zdcontrol   zdctl's commands (imports zdaemon); ctl imports it only
                for the commands that need zdaemon
    monitor     stats, check, metrics; ctl imports it only for them
    commands    the command names; Server: start, stop, restart, status
    manager     the daemon manager; commands imports it only to start one
    talk        zdaemon's socket, the server's address, waits: a leaf

This module is what the control script imports, and it imports nothing
heavy: ``start``, ``stop``, ``restart`` and ``status`` talk to zdaemon's
socket themselves, and ``start`` has the daemon manager (see manager.py)
spawn runzeo before zdaemon and ZConfig are even imported, so that the
server comes up about as fast as runzeo started by hand.  For the same
reason talk uses the _socket extension rather than the socket module, and
commands imports re only to explain a failure: together they would take
longer to import than the rest of a ``stop``.
"""
import os
import sys

from zc.zodbrecipes import commands


def main(config, args=None):
    if args is None:
        args = sys.argv[1:]
    if os.environ.get('DAEMON_MANAGER_MODE'):
        # We were spawned by zdctl's start to be the daemon manager (zdrun).
        from zdaemon import zdctl
        return zdctl.main(args)
    if not args:
        print(commands.usage(os.path.basename(sys.argv[0])), file=sys.stderr)
        sys.exit(2)
    if args[0] in commands.MONITOR:
        from zc.zodbrecipes import monitor
        sys.exit(monitor.main(config, args))
    if len(args) == 1 and args[0] in commands.FAST and config.get('socket'):
        server = commands.Server(config)
        command = args[0]
        result = None
        if command == 'status':
            result = server.do_status()
        elif command == 'stop':
            result = server.do_stop()
        else:
            if command == 'restart':
                result = server.do_stop()
                if result:
                    sys.exit(result)
            result = server.do_start()
            if result is None:
                args = ['start']  # zdctl's start, below
        if result is not None:
            sys.exit(result)
    from zc.zodbrecipes import zdcontrol
    sys.exit(zdcontrol.main(config, args))
