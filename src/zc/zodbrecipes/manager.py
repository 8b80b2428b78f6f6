"""Start zdaemon's daemon manager with runzeo spawned first.

zdctl's start runs a new Python for zdrun, which imports zdaemon and
ZConfig, loads zdaemon's schema and configuration, and only then spawns
runzeo: some 0.2 s before runzeo's own start begins.  Here the control
script forks, and the child -- the daemon manager to be -- does at once
what zdrun would do before spawning (claim the zdaemon socket, set the
environment and the user, start a new session, change directory, route
stdout and stderr into a pipe for the transcript) and spawns runzeo.
Only then does it import zdaemon, load zdaemon.conf and become an
ordinary zdrun manager that has already spawned its program: the same
socket, commands, transcript, restarts and log lines as zdrun's own.

The recipe writes the settings needed before zdaemon is loaded (program,
directory, socket, transcript, umask, user, environment) into the
control script at build time, taken from the zdaemon.conf it validated;
where zdaemon.conf asks for what only zdctl does (a start test program,
another zdrun or Python, daemon off), it writes none and zdctl starts
the server as before.
"""
import _socket
import os
import select
import sys
import time

from zc.zodbrecipes import talk


GRACE = 2  # seconds the manager may wait before it loads zdaemon


class Taken(Exception):
    """Another daemon manager answers on the socket."""


def claim(path, owner=None):
    """Bind zdaemon's socket, as zdrun does: bind a temporary name, then
    link it to the real one (an atomic test-and-set).  A stale socket
    (nobody answers) is removed.

    owner is (uid, gid) of the user the manager will become, or None.
    zdctl switches user before zdrun binds, so the socket is that user's;
    here root binds it before the manager switches, so it is handed over
    before it is linked: else only root could connect (mode 0700), and the
    service user's status, stop or logreopen (logrotate's postrotate runs
    as it) would find "not running"."""
    temp = '%s.%d' % (path, os.getpid())
    for attempt in range(50):
        _unlink(temp)
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            sock.bind(temp)
            os.chmod(temp, 0o700)
            if owner:
                os.chown(temp, *owner)
            try:
                os.link(temp, path)
            except FileExistsError:
                sock.close()
                if talk.send(path, 'status', timeout=5) is not None:
                    raise Taken(path)
                _unlink(path)  # stale
                continue
        except BaseException:
            sock.close()
            raise
        finally:
            _unlink(temp)
        sock.listen(1)
        sock.setblocking(False)
        return sock
    raise Taken(path)


def _unlink(path):
    _quietly(os.unlink, path)


def _quietly(function, *args):
    """function(*args), where failing (it is gone already) is fine."""
    try:
        function(*args)
    except OSError:
        pass


def launch(spawn):
    """Fork the daemon manager; return (its pid, runzeo's pid or 0, the
    pipe to close once runzeo serves or failed, why runzeo could not be
    spawned or '')."""
    owner = _owner(spawn.get('user'))
    make_directories(spawn, owner)
    sock = claim(spawn['socket'], owner)
    r, w = os.pipe()
    go, ready = os.pipe()
    try:
        child = os.fork()
    except BaseException:
        sock.close()
        _unlink(spawn['socket'])
        raise
    if child == 0:  # pragma: no cover (the manager; its log tells)
        status = 1
        try:
            os.close(r)
            os.close(ready)
            status = _manager(spawn, sock, w, go)
        except SystemExit as e:  # how zdrun ends
            status = e.code if isinstance(e.code, int) else int(
                e.code is not None)
        except BaseException:
            import traceback
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(status)
    os.close(w)
    os.close(go)
    sock.close()
    pid, _, why = _read_all(r).decode('utf-8', 'replace').partition(' ')
    return child, int(pid or 0), ready, why.strip()


def _account(user):
    import pwd
    try:
        return pwd.getpwuid(int(user))
    except ValueError:
        return pwd.getpwnam(user)


def _owner(user):
    """(uid, gid) of the user the manager switches to, when it switches
    (as root); else None."""
    if user is None or os.geteuid() != 0:
        return None
    record = _account(user)
    if record.pw_uid == 0:
        return None
    return record.pw_uid, record.pw_gid


def make_directories(spawn, owner):
    """The run-time directories of zdaemon.conf (directory, the socket's):
    created when missing, as zdctl does, owned by the user the server runs
    as.  /run is emptied by a reboot: the start after it creates them
    again, and the pack job's lock (in the same run directory, as the cron
    user) finds a directory it can write."""
    for d in (spawn['directory'], os.path.dirname(spawn['socket'])):
        if d and not os.path.isdir(d):
            os.mkdir(d, 0o750)
            if owner:
                os.chown(d, *owner)


def _manager(spawn, sock, report, go):
    """The daemon manager: spawn runzeo, then become zdrun."""
    keep = (sock.fileno(), report, go)
    for fd in range(3, 256):
        if fd not in keep:
            _quietly(os.close, fd)
    try:
        os.environ.pop('DAEMON_MANAGER_MODE', None)
        os.environ.update(spawn.get('environment') or {})
        _set_user(spawn.get('user'))
        os.setsid()
        if spawn.get('directory'):
            os.chdir(spawn['directory'])
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
    except Exception as e:
        # Told to the control script, which says why start failed.
        _report(report, 0, 'cannot start the daemon manager: %s' % e)
        _unlink(spawn['socket'])
        return 1
    read_from, write_to = os.pipe()
    os.dup2(write_to, 1)
    os.dup2(write_to, 2)
    os.close(write_to)
    sys.stdout = sys.__stdout__ = os.fdopen(1, 'w', 1)
    sys.stderr = sys.__stderr__ = os.fdopen(2, 'w', 1)
    os.umask(spawn.get('umask', 0o22))
    program = spawn['program']
    started = time.time()
    # An exec that fails (runzeo or its interpreter not executable by the
    # user, a missing file) is told through a close-on-exec pipe: EOF
    # there means runzeo runs.  Its message would otherwise wait in the
    # transcript pipe that only zdaemon's copier empties.
    failed_r, failed_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.closerange(3, failed_w)
            os.closerange(failed_w + 1, 256)
            os.execv(program[0], program)
        except BaseException as e:
            message = 'cannot execute %s: %s' % (
                program[0], getattr(e, 'strerror', None) or e)
            os.write(2, (message + '\n').encode())
            os.write(failed_w, message.encode())
        finally:
            os._exit(127)
    os.close(failed_w)
    failure = _read_all(failed_r)
    if failure:
        os.waitpid(pid, 0)
        _report(report, 0, failure.decode('utf-8', 'replace'))
        _unlink(spawn['socket'])
        return 127
    _report(report, pid)
    # Loading zdaemon and its configuration takes a tenth of a second of
    # CPU, which on a busy machine runzeo's start would pay for: wait
    # until the control script has seen runzeo serve (or fail, or gave
    # up, or is gone), but no longer than GRACE seconds, during which
    # zdaemon commands wait in the socket's queue.
    select.select([go], [], [], GRACE)
    os.close(go)
    # zdaemon says why it cannot load its configuration on stderr, and
    # exits (2): into the transcript pipe, which nobody empties if it
    # does.  Kept, to tell the transcript (and so start) why.
    import io
    stderr, sys.stderr = sys.stderr, io.StringIO()
    try:
        daemonizer = _Manager(spawn, sock, pid, started, read_from)
    except BaseException as e:
        said = sys.stderr.getvalue()
        sys.stderr = stderr
        _give_up(spawn, pid, e, said)
        return 1
    said = sys.stderr.getvalue()
    sys.stderr = stderr
    if said:
        stderr.write(said)
    daemonizer.run()
    return 0


def _report(fd, pid, why=''):
    """Tell the control script runzeo's pid, or 0 and why there is none."""
    os.write(fd, ('%d %s' % (pid, why)).encode('utf-8', 'replace'))
    os.close(fd)


def _read_all(fd):
    data = b''
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    os.close(fd)
    return data


def _set_user(user):
    """Become user, as zdctl does before it spawns zdrun."""
    if user is None:
        return
    record = _account(user)
    if os.geteuid() != 0:
        if os.geteuid() != record.pw_uid:
            raise OSError('only root can switch to user %s' % user)
        return
    import grp
    os.setgid(record.pw_gid)
    os.setgroups(sorted(g.gr_gid for g in grp.getgrall()
                        if record.pw_name in g.gr_mem))
    os.setuid(record.pw_uid)


def _give_up(spawn, pid, error, said=''):
    """The manager could not be set up: stop runzeo, say why (said: what
    it wrote to stderr meanwhile; zdaemon's "Error: ..." lines)."""
    import signal
    try:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
    except OSError:
        pass
    _unlink(spawn['socket'])
    try:
        why = [line[len('Error:'):].strip() for line in said.splitlines()
               if line.startswith('Error:')]
        with open(spawn['transcript'], 'a') as f:
            f.write('daemon manager could not start: %s\n' % (
                '; '.join(why) if why else '%s: %s' % (
                    type(error).__name__, error)))
    except OSError:
        pass


def _Manager(spawn, sock, pid, started, read_from):
    import socket
    import threading

    from zdaemon import zdrun

    class Manager(zdrun.Daemonizer):
        """zdrun's Daemonizer, adopting a program it did not spawn."""

        def run(self):
            self.child_exits = zdrun._ChildExits()
            proc = self.proc = zdrun.Subprocess(
                self.options, child_exits=self.child_exits)
            proc.pid, proc.lasttime = pid, started
            # zdrun's socket object, for its accept() (claim made an
            # _socket one, to spare the control script the socket module).
            self.mastersocket = socket.socket(fileno=sock.detach())
            self.mastersocket.setblocking(False)
            self.mastersocket.set_inheritable(True)
            try:
                self.setsignals()
                try:  # it may have exited before we listened for it
                    exited, status = os.waitpid(pid, os.WNOHANG)
                    if exited:
                        self.waitstatus = exited, status
                except ChildProcessError:
                    pass
                self.logger.info('spawned process pid=%d', pid)
                try:
                    self.runforever()
                except Exception:
                    self.logger.critical('runforever raised', exc_info=True)
            finally:
                _unlink(self.options.sockname)
                self.drain()

        def drain(self):
            """Copy what is left in the transcript pipe (the last words
            of a server that failed) before exiting: zdrun's copying
            thread dies with the process."""
            transcript = self.transcript
            if transcript is None:
                return
            os.set_blocking(transcript.read_from, False)
            with transcript.lock:
                while True:
                    try:
                        data = os.read(transcript.read_from, 65536)
                    except OSError:
                        break
                    if not data:
                        break
                    transcript.write(data)

    options = zdrun.ZDRunOptions()
    # zdrun takes the program from its arguments, as zdctl passes it.
    options.realize(['-C', spawn['config']] + list(spawn['program']))
    manager = Manager()
    manager.options = options
    manager.logger = options.logger
    configured = list(options.configroot.runner.program or ())
    if configured != list(spawn['program']):
        manager.logger.warning(
            'zdaemon.conf names the program %r, the control script spawned'
            ' %r: re-run buildout', configured, spawn['program'])
    transcript = manager.transcript = zdrun.Transcript.__new__(
        zdrun.Transcript)
    transcript.read_from = read_from
    transcript.filename = options.transcript
    transcript.file = open(options.transcript, 'ab', 0)
    transcript.write = transcript.file.write
    transcript.lock = threading.Lock()
    threading.Thread(target=transcript.copy, daemon=True).start()
    return manager
