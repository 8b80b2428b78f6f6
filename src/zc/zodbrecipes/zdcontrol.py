"""The control script's commands beyond the fast paths of ctl: zdaemon's
zdctl, with waits that mean something (see ctl for what they are).
Its start, stop and status are commands.Server's.

Importing zdaemon costs a tenth of a second or more; ctl imports this
module only for the commands it does not handle itself.
"""
import os
import signal
import sys
import time

from zdaemon import zdctl

from zc.zodbrecipes import commands
from zc.zodbrecipes import talk


class Control(zdctl.ZDCmd):

    def __init__(self, options, config):
        runner = getattr(options.configroot, 'runner', None)
        # What the script was built with, else what zdaemon.conf says.
        config = dict(config)
        config.setdefault('socket', options.sockname)
        config.setdefault('stop_timeout',
                          getattr(runner, 'stop_timeout', None) or 300)
        config['start_timeout'] = options.start_timeout
        self.server = commands.Server(config)
        self.config = config
        self.label = self.server.label
        zdctl.ZDCmd.__init__(self, options)

    # zdctl's own waits (in whole seconds) are replaced by ours; the
    # inherited do_start calls awhile after spawning the manager.
    def awhile(self, cond, msg):
        pass

    def do_start(self, arg):
        self.get_status()
        if self.zd_pid and self.server.serving(self.zd_pid):
            self.server.say_serving(self.zd_pid, already=True)
            return 0
        logs = commands.Logs(self.config.get('logs', ()))
        zdctl.ZDCmd.do_start(self, arg)
        if not self.options.daemon:
            return 0
        return self.wait_serving(logs)

    def wait_serving(self, logs):
        deadline = time.monotonic() + self.options.start_timeout
        appears = time.monotonic() + talk.MANAGER_APPEARS
        pid = manager_seen = None
        while time.monotonic() < deadline:
            self.get_status()
            if self.zd_up:
                manager_seen = True
                if self.zd_pid and pid is None:
                    pid = self.zd_pid
                if pid and self.zd_pid != pid:
                    return self.server.start_failed(logs, 'the server exited')
                if not self.zd_pid and (
                        pid or not self.zd_should_be_up
                        or 'backoff=0\n' not in self.zd_status):
                    return self.server.start_failed(logs, 'the server exited')
                if pid and self.server.serving(pid):
                    self.server.say_serving(pid)
                    return 0
            elif manager_seen or time.monotonic() > appears:
                return self.server.start_failed(
                    logs, 'the daemon manager exited')
            time.sleep(talk.POLL)
        return self.server.timed_out()

    def do_stop(self, arg):
        return self.server.do_stop()

    def do_restart(self, arg):
        result = self.do_stop(arg)
        if result:
            return result
        return self.do_start(arg)

    def do_wait(self, arg):
        talk.wait_for(lambda: not self.get_status() or not self.zd_pid, 1e9)
        return self.do_status()

    def do_status(self, arg=''):
        if arg not in ('', '-l'):
            print('status takes no argument but -l')
            return 2
        result = self.server.do_status()
        if arg == '-l':  # zdaemon's own status, asked only to show it
            self.get_status()
            if self.zd_status:
                print(self.zd_status)
        return result

    # LSB's exit status for "program is not running", for the commands
    # that need it running (status has its own, 3).
    NOT_RUNNING = 7

    def not_running(self, what):
        print('%s: not running; %s' % (self.label, what), file=sys.stderr)
        return self.NOT_RUNNING

    def do_logreopen(self, arg):
        self.get_status()
        if not self.zd_up:
            return self.reopen_unmanaged()
        self.send_action('reopen_transcript')
        if self.zd_pid:
            os.kill(self.zd_pid, 12)  # SIGUSR2: runzeo reopens its logs
        return 0

    def reopen_unmanaged(self):
        """No daemon manager answers: a runzeo of this configuration run
        by systemd or supervisor reopens its logs on SIGUSR2 just the
        same.  logrotate's postrotate runs logreopen whichever runs the
        server; without this, the server would write on into the rotated
        file, to be compressed and deleted later."""
        pid = runzeo_of(self.server.address, self.config.get('zeo_conf'))
        if not pid:
            return self.not_running('no log reopened')
        os.kill(pid, signal.SIGUSR2)
        print('%s: logs reopened (pid %d, not run by zdaemon)'
              % (self.label, pid))
        return 0

    def do_reopen_transcript(self, arg):
        self.get_status()
        if not self.zd_up:
            return self.not_running('no transcript reopened')
        self.send_action('reopen_transcript')
        return 0

    def do_kill(self, arg):
        try:
            name = zdctl.name2signal(arg or 'SIGTERM')
        except ValueError:
            print('%s: invalid signal %r' % (self.label, arg), file=sys.stderr)
            return 2
        self.get_status()
        if not self.zd_pid:
            return self.not_running('no signal sent')
        try:
            os.kill(self.zd_pid, getattr(signal, name))
        except OSError as e:
            print('%s: %s not sent to pid %s: %s' % (
                self.label, name, self.zd_pid, e), file=sys.stderr)
            return 1
        print('%s: %s sent to pid %s' % (self.label, name, self.zd_pid))
        return 0

    def do_logtail(self, arg):
        """Follow the transcript (zdctl's default is runner's logfile,
        which the recipe does not set), or the file given."""
        path = arg or (self.config.get('logs') or [None])[0] or (
            self.options.transcript)
        try:
            follow(path)
        except KeyboardInterrupt:
            return 0
        except OSError as e:
            print('%s: %s' % (self.label, e), file=sys.stderr)
            return 1

    def do_show(self, arg):
        if arg == 'address':
            print(self.config['address_str'])
            return 0
        return zdctl.ZDCmd.do_show(self, arg)

    def default(self, line):
        print('%s: unknown command %r; use %s' % (
            self.label, line.split()[0], commands.command_list()),
            file=sys.stderr)
        return 2


def follow(path, lines=10, interval=0.2):
    """Print the last lines of path, then what is written to it, also
    after it was rotated (a new file by its name) or truncated; until
    interrupted."""
    f = open(path, 'rb')
    try:
        size = os.fstat(f.fileno()).st_size
        f.seek(max(0, size - 64 * 1024))
        tail = f.read().splitlines(True)[-lines:]
        out = sys.stdout.buffer
        out.write(b''.join(tail))
        out.flush()
        while True:
            chunk = f.read()
            if chunk:
                out.write(chunk)
                out.flush()
                continue
            try:
                renamed = os.stat(path).st_ino != os.fstat(f.fileno()).st_ino
            except FileNotFoundError:
                renamed = False  # rotated, not yet created again
            if renamed:
                out.write(f.read())  # written just before the rename
                out.flush()
                f.close()
                f = open(path, 'rb')
                continue
            if os.fstat(f.fileno()).st_size < f.tell():
                f.seek(0)  # truncated
                continue
            time.sleep(interval)
    finally:
        f.close()


def main(config, args):
    options = zdctl.ZDCtlOptions()
    options.realize(['-C', config['zdaemon_conf']] + list(args))
    control = Control(options, config)
    return control.onecmd(' '.join(options.args)) or 0


def runzeo_of(address, zeo_conf):
    """The pid of the runzeo listening on address with zeo_conf as its
    configuration (-C), or None (another program, or no way to tell)."""
    if not zeo_conf:
        return None
    pid = talk.holder(address)
    if not pid:
        return None
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            argv = f.read().decode('utf-8', 'replace').split('\0')
    except OSError:
        return None
    for i, arg in enumerate(argv[:-1]):
        if arg in ('-C', '--configure') and argv[i + 1] == zeo_conf:
            return pid
    return None
