"""How the control program talks to zdaemon and to the ZEO server, and waits.

- ``probe`` and ``answer``: does a ZEO server answer clients on its
  address, and is it the runzeo zdaemon reports (``holder``: whose is it
  then)?
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


def probe(address, timeout=1.0, tls=False, cert=None):
    """Does a ZEO server answer at address (str path or (host, port))?"""
    return answer(address, timeout=timeout, tls=tls, cert=cert) is not None


# ZEO's status request: a message of 4 bytes, "ruok", sent instead of the
# client's handshake.  The server answers it with one message, a JSON
# object of figures per storage, and closes the connection itself: its
# protocol then counts as closed, so no "disconnected" line reaches the
# server's log (ZEO/asyncio/server.py, ServerProtocol.finish_connection),
# as it does for a client that only reads the greeting and hangs up.
# ZEO 6.2 still logs "Connected ..." for every connection it accepts
# (ZEO/asyncio/base.py, connection_made), before it knows what the
# connection is for: the runzeo the recipe generates drops that line
# (runzeo.py), which makes the exchange silent.
RUOK = struct.pack('>I', 4) + b'ruok'


def answer(address, pid=None, timeout=1.0, tls=False, cert=None):
    """Does a ZEO server answer at address, and is it process pid's?

    None when no ZEO server answers; else True when the socket that
    answered is held by process pid (or by a process it spawned), False
    when it is another process's.  Without pid, or where /proc cannot tell
    (not Linux, another user's process), any answer is True.

    A ZEO server announces its protocol (b'Z5', b'M5'...) as the first
    message on every connection, once its storages are open and it is
    serving; a listening socket alone is not enough.  We then ask for its
    figures (RUOK), which it answers without logging anything.  A server
    with TLS accepts only clients with a certificate: with cert (the
    certificate and key files the control script presents) the exchange
    runs inside TLS; without, the server's side of the TLS handshake is
    the answer.

    Whose it is: another ZEO server on the same address (another
    buildout's, runzeo started by hand) greets us just the same, while
    the runzeo we started fails to bind.  For a unix socket the kernel
    names the process that listens (SO_PEERCRED); for TCP, /proc/net/tcp
    and tcp6 give the inode of the socket listening where we connected,
    and /proc/PID/fd says whether pid holds it.
    """
    found = exchange(address, timeout, tls, cert)
    if found is None:
        return None
    if pid is None:
        return True
    return owned(address, found[0], pid)


def exchange(address, timeout=1.0, tls=False, cert=None):
    """(listener, figures) from the ZEO server at address, or None when
    none answers.  figures: the bytes of its RUOK answer (JSON), or None
    over TLS without a client certificate the server accepts (only the
    handshake then).
    listener: what ``owned`` needs to tell whose socket answered."""
    if isinstance(address, str):
        family = _socket.AF_UNIX
    else:
        family = _socket.AF_INET6 if ':' in address[0] else _socket.AF_INET
    s = _socket.socket(family, _socket.SOCK_STREAM)
    s.settimeout(timeout)
    connected = False
    try:
        s.connect(address)
        connected = True
        # Taken before TLS, which detaches s.
        listener = (_peer_pid(s) if family == _socket.AF_UNIX
                    else s.getpeername())
        if tls and not cert:
            return (listener, None) if _tls_answers(s, timeout) else None
        figures = _tls_ask(s, timeout, cert) if tls else _ask(s)
    except OSError:
        figures = None
    finally:
        s.close()
    if figures is None and tls and cert and connected:
        # The server refused our certificate (or we could not load it):
        # is it a TLS server at all?
        found = exchange(address, timeout, tls)
        return found and (listener, None)
    if figures is None:
        return None
    return listener, figures or None


def owned(address, listener, pid):
    """Is the socket that answered at address (``exchange``'s listener)
    process pid's, or one of its children's?"""
    if isinstance(address, str):
        held = None if listener is None else listener in _family(pid)
    else:
        held = _holds(_family(pid), _tcp_listeners(*listener[:2]))
    return held is not False


def _message(s, buffered):
    """The next ZEO message read from s (after bytes already buffered):
    (message, rest), or (None, b'') at the end of the stream or for a
    message longer than a status answer can be (what answered is no ZEO
    server)."""
    data = buffered
    while True:
        if len(data) >= 4:
            size = struct.unpack('>I', data[:4])[0]
            if size > 1 << 20:
                return None, b''
            if len(data) >= 4 + size:
                return data[4:4 + size], data[4 + size:]
        chunk = s.recv(65536)
        if not chunk:
            return None, b''
        data += chunk


def _ask(s):
    """Read a ZEO server's greeting on s, send RUOK, return the answer
    (None: what answered is no ZEO server, or it closed)."""
    greeting, rest = _message(s, b'')
    if not greeting or len(greeting) > 64 or greeting[:1] not in (b'Z', b'M'):
        return None
    s.sendall(RUOK)
    figures, _ = _message(s, rest)
    # The server closes the connection; waiting for that before closing
    # ours spares it a "connection reset" (an ERROR line over TLS).
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    return figures


def _tls_ask(sock, timeout, cert):
    """_ask inside TLS, presenting cert ([certificate, key]); None when
    the certificate cannot be loaded (a key with a password) or the server
    refuses it (with TLS 1.3, at the first read)."""
    sock, context = _tls_client(sock, timeout)
    try:
        context.load_cert_chain(cert[0], cert[1] or None, password=b'')
        with context.wrap_socket(sock) as tls:
            figures = _ask(tls)
            try:
                tls.unwrap()  # answer the server's close_notify
            except OSError:
                pass
            return figures
    except (OSError, ValueError):
        return None
    finally:
        sock.close()


def _tls_client(sock, timeout):
    """(a socket module socket of the raw _socket, a TLS client context
    that does not verify the server): whose server it is, /proc says (the
    ownership check); a certificate only has to get us in."""
    import socket
    import ssl
    sock = socket.socket(fileno=sock.detach())
    sock.settimeout(timeout)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return sock, context


def _tls_answers(sock, timeout):
    import ssl
    sock, context = _tls_client(sock, timeout)
    try:
        tls = context.wrap_socket(sock, do_handshake_on_connect=False)
        tls.do_handshake()
    except ssl.SSLError as e:
        # The server refused us for want of a client certificate: it is
        # up and doing TLS.
        return 'CERTIFICATE' in str(e).upper()
    return tls.getpeercert(binary_form=True) is not None



# -- whose socket ------------------------------------------------------------
#
# Only the control script's start and status ask, once a server answered;
# what they read is small: the few lines of /proc/net/tcp in the LISTEN
# state and the descriptors of one runzeo.

def _peer_pid(s):
    """The pid that listens on the other end of unix socket s, or None."""
    try:
        cred = s.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
    except (AttributeError, OSError):
        return None
    return struct.unpack('3i', cred)[0] or None


def _family(pid):
    """pid and the processes it spawned, and theirs (a program that is a
    wrapper around runzeo)."""
    pids = [pid]
    for p in pids:
        try:
            tasks = os.listdir('/proc/%d/task' % p)
        except OSError:
            continue
        for task in tasks:
            try:
                with open('/proc/%d/task/%s/children' % (p, task)) as f:
                    pids.extend(int(c) for c in f.read().split())
            except (OSError, ValueError):
                pass
    return pids


_V4_MAPPED = b'\0' * 10 + b'\xff\xff'
_V4_ANY = _V4_MAPPED + b'\0' * 4
_V6_ANY = b'\0' * 16


def _ip16(host):
    """An IP address as 16 bytes (IPv4 as ::ffff:a.b.c.d)."""
    if ':' in host:
        return _socket.inet_pton(_socket.AF_INET6, host.split('%')[0])
    return _V4_MAPPED + _socket.inet_pton(_socket.AF_INET, host)


def _proc_ip(text):
    """An address of /proc/net/tcp(6) -- 32-bit words in host order, as
    hex -- as 16 bytes."""
    raw = b''.join(struct.pack('=I', int(text[i:i + 8], 16))
                   for i in range(0, len(text), 8))
    return raw if len(raw) == 16 else _V4_MAPPED + raw


def _read_proc(name):
    """A /proc file's bytes, read in large pieces (read through a buffer,
    /proc/net/tcp takes five times as long); None if there is none."""
    try:
        fd = os.open(name, os.O_RDONLY)
    except OSError:
        return None
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b''.join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def _tcp_listeners(host, port):
    """The inodes of the TCP sockets listening where a connection to host
    and port goes: one bound to that address, else one bound to all
    addresses of its family, else (IPv4) a dual-stack [::] one.  None
    where /proc does not tell."""
    want = _ip16(host)
    ranks = {want: 0, _V4_ANY if want.startswith(_V4_MAPPED) else _V6_ANY: 1}
    if want.startswith(_V4_MAPPED):
        ranks.setdefault(_V6_ANY, 2)
    found = {}
    readable = False
    # The kernel walks all its TCP sockets for each file (a millisecond):
    # an IPv4 listener found in tcp makes tcp6 needless (a [::] listener
    # could not bind beside it).
    names = ('/proc/net/tcp', '/proc/net/tcp6') if want.startswith(
        _V4_MAPPED) else ('/proc/net/tcp6',)
    for name in names:
        if found:
            break
        text = _read_proc(name)
        if text is None:
            continue
        readable = True
        for line in text.splitlines()[1:]:
            if b' 0A ' not in line:  # a quick look for LISTEN
                continue
            fields = line.split()
            if fields[3] != b'0A':
                continue
            ip, hex_port = fields[1].split(b':')
            if int(hex_port, 16) != port:
                continue
            rank = ranks.get(_proc_ip(ip))
            if rank is not None:
                found.setdefault(rank, set()).add(int(fields[9]))
    if not readable:
        return None
    return found[min(found)] if found else set()


def _holds(pids, inodes):
    """Does one of pids hold every socket of inodes?  None where /proc
    does not tell."""
    if inodes is None:
        return None
    if not inodes:
        return False  # what answered listens where /proc does not show
    wanted = {'socket:[%d]' % i for i in inodes}
    unknown = False
    for p in pids:
        fds = '/proc/%d/fd' % p
        try:
            names = os.listdir(fds)
        except PermissionError:
            unknown = True
            continue
        except OSError:
            continue  # gone
        for name in names:
            try:
                wanted.discard(os.readlink(fds + '/' + name))
            except OSError:
                pass
            if not wanted:
                return True
    return None if unknown else False


def holder(address):
    """The pid of the process listening on address, for a message (it
    reads every process's descriptors); None when it cannot be found."""
    if isinstance(address, str):
        s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            s.connect(address)
            return _peer_pid(s)
        except OSError:
            return None
        finally:
            s.close()
    try:
        host = _socket.getaddrinfo(address[0], address[1], 0,
                                   _socket.SOCK_STREAM)[0][4][0]
    except OSError:
        return None
    inodes = _tcp_listeners(host, address[1])
    if not inodes:
        return None
    wanted = {'socket:[%d]' % i for i in inodes}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        fds = '/proc/%s/fd' % name
        try:
            names = os.listdir(fds)
        except OSError:
            continue
        for fd in names:
            try:
                if os.readlink(fds + '/' + fd) in wanted:
                    return int(name)
            except OSError:
                pass
    return None


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
