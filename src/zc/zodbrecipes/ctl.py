"""The control script: zdaemon's zdctl, with waits that mean something.

zdctl's ``start`` returns once the process is spawned (or polls a test
program in whole seconds), and ``stop`` polls in whole seconds too.  Ours:

- ``start`` returns 0 when the server answers ZEO clients on its address,
  or 1 with the reason from the log when the server failed to come up (and
  then stops the daemon manager rather than leave it restarting a server
  that cannot run);
- ``stop`` returns when the server process is gone: its port is closed and
  a FileStorage has written its index;
- ``status`` follows the LSB: 0 when serving, 3 when not.

Everything else (``fg``, ``logtail``, ``logreopen``, ``kill``, ``show``,
``reopen_transcript``...) is zdctl's.
"""
import os
import re
import socket
import struct
import sys
import time

from zdaemon import zdctl


POLL = 0.01            # seconds between checks while waiting
MANAGER_APPEARS = 10   # seconds a freshly spawned manager may take


def probe(address, timeout=1.0, tls=False):
    """Does a ZEO server answer at address (str path or (host, port))?

    A ZEO server announces its protocol (b'Z5', b'M5'...) as the first
    message on every connection, once its storages are open and it is
    serving; a listening socket alone is not enough.  A server with TLS
    accepts only clients with a certificate: there, the server's side of
    the TLS handshake is the answer.
    """
    if isinstance(address, str):
        family = socket.AF_UNIX
    else:
        family = socket.AF_INET6 if ':' in address[0] else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(address)
        if tls:
            return _tls_answers(s)
        data = b''
        while len(data) < 5:
            chunk = s.recv(64)
            if not chunk:
                return False
            data += chunk
        size = struct.unpack('>I', data[:4])[0]
        return 0 < size < 64 and data[4:5] in (b'Z', b'M')
    except OSError:
        return False
    finally:
        s.close()


def _tls_answers(sock):
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        tls = context.wrap_socket(sock, do_handshake_on_connect=False)
        tls.do_handshake()
    except ssl.SSLError as e:
        # The server refused us for want of a client certificate: it is
        # up and doing TLS.
        return 'CERTIFICATE' in str(e).upper()
    return tls.getpeercert(binary_form=True) is not None


def wait_for(condition, timeout, interval=POLL):
    """Poll condition until it is true or timeout passes; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


_ERROR_LINE = re.compile(
    r'(Error|error:|Exception|Errno|Traceback|CRITICAL|FATAL|denied|'
    r'cannot|Cannot|could not|No such file)')


def reason(text):
    """The line of a log excerpt that best says why a start failed."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # The last line of a traceback names the exception; an "Error:" line
    # from runzeo names a configuration problem.
    for line in reversed(lines):
        if re.match(r'([\w.]+(Error|Exception)|Error):', line):
            return line
    for line in reversed(lines):
        if _ERROR_LINE.search(line):
            return line
    return lines[-1] if lines else 'no message in the log'


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


class Control(zdctl.ZDCmd):

    def __init__(self, options, config):
        self.config = config
        address = config['address']
        self.address = address if isinstance(address, str) else tuple(
            address)
        self.label = config.get('name', 'server')
        zdctl.ZDCmd.__init__(self, options)

    # zdctl's own waits (in whole seconds) are replaced by ours; the
    # inherited do_start calls awhile after spawning the manager.
    def awhile(self, cond, msg):
        pass

    def stop_timeout(self):
        runner = getattr(self.options.configroot, 'runner', None)
        return getattr(runner, 'stop_timeout', None) or 300

    def serving(self):
        return probe(self.address, tls=self.config.get('tls'))

    def manager_gone(self):
        return not self.get_status()

    def do_start(self, arg):
        self.get_status()
        if self.zd_pid and self.serving():
            print('%s: already serving on %s (pid %s)' % (
                self.label, self.config['address_str'], self.zd_pid))
            return 0
        logs = Logs(self.config.get('logs', ()))
        zdctl.ZDCmd.do_start(self, arg)
        if not self.options.daemon:
            return 0
        return self.wait_serving(logs)

    def wait_serving(self, logs):
        deadline = time.monotonic() + self.options.start_timeout
        appears = time.monotonic() + MANAGER_APPEARS
        pid = manager_seen = None
        while time.monotonic() < deadline:
            self.get_status()
            if self.zd_up:
                manager_seen = True
                if self.zd_pid and pid is None:
                    pid = self.zd_pid
                if pid and self.zd_pid != pid:
                    return self.start_failed(logs, 'the server exited')
                if not self.zd_pid and (
                        pid or not self.zd_should_be_up
                        or 'backoff=0\n' not in self.zd_status):
                    return self.start_failed(logs, 'the server exited')
                if pid and self.serving():
                    print('%s: serving on %s (pid %s)' % (
                        self.label, self.config['address_str'], pid))
                    return 0
            elif manager_seen or time.monotonic() > appears:
                return self.start_failed(logs, 'the daemon manager exited')
            time.sleep(POLL)
        print('%s: not serving on %s after %s seconds (start-timeout);'
              ' the server is still starting' % (
                  self.label, self.config['address_str'],
                  self.options.start_timeout), file=sys.stderr)
        return 1

    def start_failed(self, logs, what):
        # Do not leave zdaemon restarting a server that cannot start.
        if self.get_status():
            self.send_action('stop')
            wait_for(self.manager_gone, self.stop_timeout() + 30)
        text = wait_for(lambda: reason_or_none(logs.new_text()), 1)
        print('%s: start failed, %s: %s' % (
            self.label, what, text or 'no message in the log (%s)'
            % ', '.join(logs.offsets)), file=sys.stderr)
        return 1

    def do_stop(self, arg):
        self.get_status()
        if not self.zd_up:
            print('%s: not running' % self.label)
            return 0
        pid = self.zd_pid
        self.send_action('stop')
        # zdrun exits once the server process is reaped.
        limit = self.stop_timeout() + 30
        if not wait_for(self.manager_gone, limit):
            print('%s: still running after %s seconds' % (self.label, limit),
                  file=sys.stderr)
            return 1
        print('%s: stopped%s' % (self.label, ' (pid %s)' % pid if pid else ''))
        return 0

    def do_restart(self, arg):
        result = self.do_stop(arg)
        if result:
            return result
        return self.do_start(arg)

    def do_wait(self, arg):
        wait_for(lambda: not self.get_status() or not self.zd_pid, 1e9)
        return self.do_status()

    def do_status(self, arg=''):
        if arg not in ('', '-l'):
            print('status takes no argument but -l')
            return 2
        self.get_status()
        if not self.zd_up:
            print('%s: not running' % self.label)
            result = 3
        elif not self.zd_pid:
            print('%s: not running (the daemon manager is up, the server'
                  ' is not)' % self.label)
            result = 3
        elif self.serving():
            print('%s: serving on %s (pid %s)' % (
                self.label, self.config['address_str'], self.zd_pid))
            result = 0
        else:
            print('%s: running (pid %s) but not answering on %s' % (
                self.label, self.zd_pid, self.config['address_str']))
            result = 3
        if arg == '-l' and self.zd_status:
            print(self.zd_status)
        return result

    def do_logreopen(self, arg):
        self.get_status()
        if not self.zd_up:
            print('%s: not running' % self.label)
            return 0
        self.send_action('reopen_transcript')
        if self.zd_pid:
            os.kill(self.zd_pid, 12)  # SIGUSR2: runzeo reopens its logs
        return 0

    def do_show(self, arg):
        if arg == 'address':
            print(self.config['address_str'])
            return 0
        return zdctl.ZDCmd.do_show(self, arg)

    def default(self, line):
        print('%s: unknown command %r; use start, stop, restart, status,'
              ' fg, logtail, logreopen, reopen_transcript, kill or show'
              % (self.label, line.split()[0]), file=sys.stderr)
        return 2


def reason_or_none(text):
    return reason(text) if text.strip() else None


def main(config, args=None):
    if args is None:
        args = sys.argv[1:]
    if os.environ.get('DAEMON_MANAGER_MODE'):
        # We were spawned by do_start to be the daemon manager (zdrun).
        return zdctl.main(args)
    if not args:
        print('usage: %s {start|stop|restart|status|fg|logtail|logreopen|'
              'reopen_transcript|kill|show}' % os.path.basename(sys.argv[0]),
              file=sys.stderr)
        sys.exit(2)
    options = zdctl.ZDCtlOptions()
    options.realize(['-C', config['zdaemon_conf']] + list(args))
    control = Control(options, config)
    sys.exit(control.onecmd(' '.join(options.args)) or 0)
