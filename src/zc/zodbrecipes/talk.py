"""How the control program talks to zdaemon and to the ZEO server, and waits.

- ``probe``: does a ZEO server answer clients on its address?
- ``send`` and ``query``: a command to zdaemon's socket, and its status;
- ``wait_for``, ``alive`` and ``wait_gone``: waiting for a condition or
  for a process to exit.

This is the leaf that the control script's own commands (commands.py),
the daemon manager (manager.py) and the zdctl fallback (zdcontrol.py) all
import: it imports nothing of this package.  The control script imports it on
every run, so it imports nothing heavy: the _socket extension rather than
the socket module (socket and ssl only to probe a TLS server), and select
only to wait for a process.
"""
import _socket
import os
import struct
import time


POLL = 0.005           # seconds between checks while waiting
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
        family = _socket.AF_UNIX
    else:
        family = _socket.AF_INET6 if ':' in address[0] else _socket.AF_INET
    s = _socket.socket(family, _socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(address)
        if tls:
            return _tls_answers(s, timeout)
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


def _tls_answers(sock, timeout):
    import socket
    import ssl
    sock = socket.socket(fileno=sock.detach())
    sock.settimeout(timeout)
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


def alive(pid):
    """Is process pid there (a zombie counts as gone)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[-1].split()[0] != 'Z'
    except OSError:
        return True  # no /proc: kill(0) is all we can know


def wait_gone(pid, timeout):
    """Wait until process pid has exited; False if it is still there
    after timeout seconds.  (A pidfd says so the moment it exits.)"""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    except (AttributeError, OSError):
        return wait_for(lambda: not alive(pid), timeout)
    try:
        import select
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def send(sock, action, timeout=10):
    """Send a command to zdaemon's socket; its answer, or None."""
    if not sock:
        return None
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock)
        s.sendall(action.encode() + b'\n')
        s.shutdown(_socket.SHUT_WR)
        data = b''
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        return None
    finally:
        s.close()
    return data.decode('utf-8', 'replace')


def query(sock, timeout=10):
    """zdaemon's status as a dict (application, manager, should_be_up...),
    or None when no daemon manager answers on sock."""
    answer = send(sock, 'status', timeout)
    if not answer or 'application=' not in answer:
        return None
    return dict(line.split('=', 1) for line in answer.splitlines()
                if '=' in line)
