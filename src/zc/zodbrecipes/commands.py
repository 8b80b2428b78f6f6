"""The control script's commands: their names, and those it runs itself.

``start``, ``stop``, ``restart`` and ``status`` (FAST) are run here, by
``Server``, with waits that mean something (see ctl); ``stats``,
``check`` and ``metrics`` (MONITOR) by monitor; the others are zdctl's, in zdcontrol, which uses ``Server`` for its own start, stop and
status too.  ``COMMANDS`` is the one list of the control script's
commands: its usage line and zdcontrol's "unknown command" message name
them from it.

It talks to zdaemon and to the server through talk, and imports the
daemon manager only to start one; like talk, it imports nothing heavy,
and re only to explain a failure.
"""
import os
import sys
import time

from zc.zodbrecipes.talk import POLL
from zc.zodbrecipes.talk import alive
from zc.zodbrecipes.talk import answer
from zc.zodbrecipes.talk import holder
from zc.zodbrecipes.talk import query
from zc.zodbrecipes.talk import send
from zc.zodbrecipes.talk import wait_for
from zc.zodbrecipes.talk import wait_gone


# The control script's commands, in the order its usage line gives them.
COMMANDS = ('start', 'stop', 'restart', 'status', 'stats', 'check',
            'metrics', 'fg', 'logtail', 'logreopen', 'reopen_transcript',
            'kill', 'show')

# Those Server runs without zdaemon (see ctl.main).
FAST = COMMANDS[:4]

# Those of monitor (see ctl.main), which needs neither zdaemon nor its socket.
MONITOR = COMMANDS[4:7]


def usage(program):
    """The control script's usage line."""
    return 'usage: %s {%s}' % (program, '|'.join(COMMANDS))


def command_list():
    """The commands, for a message: "start, stop, ... or show"."""
    return '%s or %s' % (', '.join(COMMANDS[:-1]), COMMANDS[-1])


_ERROR_LINE = (
    r'(Error|error:|Exception|Errno|Traceback|CRITICAL|FATAL|denied|'
    r'cannot|Cannot|could not|No such file)')


def reason(text):
    """The line of a log excerpt that best says why a start failed."""
    import re
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # The last line of a traceback names the exception; an "Error:" line
    # from runzeo names a configuration problem.
    for line in reversed(lines):
        if re.match(r'([\w.]+(Error|Exception)|Error):', line):
            return line
    for line in reversed(lines):
        if re.search(_ERROR_LINE, line):
            return line
    return lines[-1] if lines else 'no message in the log'


def reason_or_none(text):
    return reason(text) if text.strip() else None


class Logs:
    """Remembers where log files end, to read what is written after."""

    def __init__(self, paths):
        self.offsets = {}
        for path in paths:
            try:
                self.offsets[path] = os.path.getsize(path)
            except OSError:
                self.offsets[path] = 0

    def new_text(self):
        out = []
        for path, offset in self.offsets.items():
            try:
                with open(path, 'rb') as f:
                    if os.fstat(f.fileno()).st_size < offset:
                        offset = 0  # rotated meanwhile
                    f.seek(offset)
                    out.append(f.read().decode('utf-8', 'replace'))
            except OSError:
                pass
        return '\n'.join(out)


class Server:
    """What the control script knows of its server, from the build.

    config is the dictionary the recipe wrote into the script: name,
    address, address_str, tls, tls_client (the certificate and key the
    control script presents to a TLS server), logs, storages, and (since 4.0) socket, stop_timeout,
    start_timeout and, where nothing in zdaemon.conf needs zdctl itself
    (a user to switch to, a start test program...), spawn: the runner
    settings the daemon manager needs to spawn runzeo at once.
    """

    def __init__(self, config):
        self.config = config
        address = config['address']
        self.address = address if isinstance(address, str) else tuple(
            address)
        self.label = config.get('name', 'server')
        self.socket = config.get('socket')
        self.stop_timeout = config.get('stop_timeout', 300)
        self.start_timeout = config.get('start_timeout', 300)

    def answer(self, pid):
        """None when no ZEO server answers on the address, True when our
        runzeo, process pid, does (see talk.answer), False when another
        process does (any process, when pid is 0: none of ours runs)."""
        answered = answer(self.address, pid or None,
                          tls=self.config.get('tls'),
                          cert=self.config.get('tls_client'))
        return False if answered and not pid else answered

    def serving(self, pid):
        """Does our runzeo, process pid, answer ZEO clients?"""
        return self.answer(pid) is True

    def taken(self):
        """"ADDRESS is in use by another process (pid N)", or None when
        no other process listens there (reads every process's /proc: for
        messages only)."""
        other = holder(self.address)
        if other is None and self.answer(0) is None:
            return None
        return '%s is in use by another process%s' % (
            self.config['address_str'],
            ' (pid %s)' % other if other else '')

    def status(self):
        return query(self.socket)

    def say_serving(self, pid, already=False):
        print('%s: %sserving on %s (pid %s)' % (
            self.label, 'already ' if already else '',
            self.config['address_str'], pid))

    def timed_out(self):
        print('%s: not serving on %s after %s seconds (start-timeout);'
              ' the server is still starting' % (
                  self.label, self.config['address_str'],
                  self.start_timeout), file=sys.stderr)
        return 1

    # -- status ---------------------------------------------------------------

    def do_status(self):
        """LSB: 0 when our runzeo answers on the address, else 3; where
        another process answers there, it says so."""
        status = self.status()
        pid = int(status['application']) if status else 0
        answered = self.answer(pid)
        if answered:
            self.say_serving(pid)
            return 0
        if not status:
            state = 'not running'
        elif not pid:
            state = ('not running (the daemon manager is up, the server'
                     ' is not)')
        elif answered is None:
            state = 'running (pid %s) but not answering on %s' % (
                pid, self.config['address_str'])
        else:
            state = 'running (pid %s) but not serving' % pid
        # A ZEO server answering on our address is not ours: our clients
        # would use its database.
        other = self.taken() if answered is False else None
        print('%s: %s%s' % (self.label, state, '; %s' % other if other
                            else ''))
        return 3

    # -- stop -----------------------------------------------------------------

    def do_stop(self):
        status = self.status()
        if not status:
            print('%s: not running' % self.label)
            return 0
        pid = int(status['application'])
        manager = int(status.get('manager') or 0)
        send(self.socket, 'stop')
        # zdrun exits once the server process is reaped, and unlinks its
        # socket just before.
        limit = self.stop_timeout + 30
        if manager:
            gone = self.wait_stopped(manager, pid, limit)
        else:
            gone = wait_for(lambda: not self.status(), limit)
        if not gone:
            print('%s: still running after %s seconds' % (self.label, limit),
                  file=sys.stderr)
            return 1
        print('%s: stopped%s' % (self.label, ' (pid %s)' % pid if pid else ''))
        return 0

    RESEND = 1.0  # seconds

    def wait_stopped(self, manager, pid, limit):
        """Wait for the manager to exit after a stop.

        runzeo (ZEO 6.2) leaves its loop by raising SystemExit from its
        SIGTERM handler; when the signal arrives while Python runs a
        weakref callback, the exception is printed as "ignored" and the
        server goes on serving (zdaemon would SIGKILL it after
        stop-timeout).  A server that is closing no longer greets clients,
        so one that still does a second after the stop missed it: it gets
        SIGTERM again.
        """
        deadline = time.monotonic() + limit
        while True:
            left = deadline - time.monotonic()
            if wait_gone(manager, min(self.RESEND, max(left, 0))):
                return True
            if left <= self.RESEND:
                return False
            if pid and alive(pid) and self.serving(pid):
                print('%s: the server ignored SIGTERM; sending it again'
                      % self.label, file=sys.stderr)
                send(self.socket, 'kill 15')

    # -- start ----------------------------------------------------------------

    def do_start(self):
        """Start through the fast path; None where zdctl must do it (a
        manager is up already, or zdaemon.conf needs zdctl)."""
        spawn = self.config.get('spawn')
        if not spawn:
            return None  # zdctl's start answers "already serving" too
        status = self.status()
        pid = int(status['application']) if status else 0
        if pid and self.serving(pid):
            self.say_serving(pid, already=True)
            return 0
        if status:
            return None
        from zc.zodbrecipes import manager
        logs = Logs(self.config.get('logs', ()))
        try:
            launched = manager.launch(spawn)
        except manager.Taken:
            return None  # another start won the race: zdctl's way
        except OSError as e:
            print('%s: start failed: %s' % (self.label, e), file=sys.stderr)
            return 1
        child, pid, self.ready, why = launched
        try:
            return self.wait_serving(logs, child, pid, why)
        finally:
            self.release()

    ready = None

    def release(self):
        """Let a manager we launched load zdaemon (manager.GRACE)."""
        if self.ready is not None:
            os.close(self.ready)
            self.ready = None

    def wait_serving(self, logs, child, pid, why=''):
        if not pid:
            os.waitpid(child, 0)
            return self.start_failed(logs, 'the server could not be spawned',
                                     why)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            # Another ZEO server on the address answers too, while ours
            # fails to bind: only ours counts.
            if self.serving(pid):
                return self.wait_supervised(logs, child, pid)
            if os.waitpid(child, os.WNOHANG)[0]:
                self.stop_unsupervised(pid)
                return self.start_failed(logs, 'the daemon manager exited')
            if not alive(pid):
                return self.start_failed(logs, 'the server exited')
            time.sleep(POLL)
        return self.timed_out()

    def wait_supervised(self, logs, child, pid):
        """runzeo serves: start succeeds once the daemon manager we
        launched has loaded zdaemon and answers on its socket for that
        runzeo.  A manager that died meanwhile (it could not load zdaemon
        as the server's user, say) would leave runzeo orphaned, and
        status and stop saying "not running": that is a failed start."""
        self.release()
        from zc.zodbrecipes.manager import GRACE
        status = query(self.socket, timeout=GRACE + 30)
        if status and status.get('application') == str(pid):
            self.say_serving(pid)
            return 0
        if alive(pid) and not wait_for(lambda: not alive(child), 5):
            return self.start_failed(  # pragma: no cover (races)
                logs, 'the daemon manager does not answer on %s'
                % self.socket)
        self.stop_unsupervised(pid)
        return self.start_failed(logs, 'the daemon manager exited')

    def stop_unsupervised(self, pid):
        """The manager we launched is gone: nothing supervises its runzeo,
        which status and stop could not find; stop it."""
        if alive(pid):
            os.kill(pid, 15)  # SIGTERM: runzeo closes its storages
            wait_gone(pid, self.stop_timeout)

    def start_failed(self, logs, what, why=''):
        self.release()
        # Do not leave zdaemon restarting a server that cannot start.
        if self.status():
            send(self.socket, 'stop')
            wait_for(lambda: not self.status(), self.stop_timeout + 30)
        text = why or wait_for(lambda: reason_or_none(logs.new_text()), 1)
        what = self.taken() or what
        print('%s: start failed, %s: %s' % (
            self.label, what, text or 'no message in the log (%s)'
            % ', '.join(logs.offsets)), file=sys.stderr)
        return 1
