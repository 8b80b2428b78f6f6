"""What the server's user can reach, checked when buildout reads the part.

As root the recipe builds files for another user (the deployment user, or
``effective-user``): the server, its jobs and its scripts run as that user.
When that user cannot execute the interpreter, read the eggs or the
scripts, or write the data and log directories, the server would fail at
its first start (or a job at its first run) with little to say why.  These
checks say it at build time, naming the path.

The user's access is computed from the mode bits, owners and groups of the
path and of every directory above it (as the kernel does for that user's
uid and groups, without access control lists or capabilities): nothing is
run as the user.  Only as root: otherwise the server cannot be switched to
another user anyway.
"""
import grp
import os
import pwd
import stat
import sys

R, W, X = 4, 2, 1
_WORDS = {R: 'read', W: 'write', X: 'execute', R | X: 'read',
          W | X: 'write'}


class Account:
    """A user's uid and groups."""

    def __init__(self, name):
        record = pwd.getpwnam(name)
        self.name = name
        self.uid = record.pw_uid
        self.gids = {record.pw_gid} | {
            g.gr_gid for g in grp.getgrall() if name in g.gr_mem}

    def allowed(self, st, want):
        """Whether the mode bits of st grant all of want (R|W|X)."""
        if self.uid == 0:
            # root reads and writes anything, executes what anyone may
            return not want & X or stat.S_ISDIR(st.st_mode) or bool(
                st.st_mode & 0o111)
        mode = st.st_mode
        if st.st_uid == self.uid:
            bits = (mode >> 6) & 7
        elif st.st_gid in self.gids:
            bits = (mode >> 3) & 7
        else:
            bits = mode & 7
        return bits & want == want


def _walk(path):
    """The directories above path, outermost first, then path itself."""
    path = os.path.abspath(path)
    found = [path]
    while True:
        parent = os.path.dirname(path)
        if parent == path:
            break
        found.append(parent)
        path = parent
    return found[::-1]


def blocking(account, path, want):
    """Why account cannot access path as want (R, W, X bits), as a phrase
    naming the path that stops it, or None.  A path that does not exist is
    checked as far as it exists (directories install creates are the
    user's).  Symbolic links are followed: the directories of the link and
    of its target must both be searchable."""
    for candidate in dict.fromkeys((os.path.abspath(path),
                                    os.path.realpath(path))):
        chain = _walk(candidate)
        for i, p in enumerate(chain):
            try:
                st = os.stat(p)
            except OSError:
                return None  # from here on, install creates it
            if not account.allowed(st, want if i == len(chain) - 1 else X):
                return '%s%s is mode %04o, owner %s, group %s' % (
                    'it is a link to %s; ' % candidate
                    if candidate != os.path.abspath(path) else '',
                    p, stat.S_IMODE(st.st_mode), _user(st.st_uid),
                    _group(st.st_gid))
    return None


def _user(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def check(opt, option, user, readable, writable):
    """Raise opt.error(option, ...) when user cannot run the interpreter
    of the generated scripts, read (and search) every path of readable, or
    write (and search) every path of writable that exists (writable:
    (path, option) pairs).  Does nothing unless running as root and user
    is another existing user."""
    if not user or os.geteuid() != 0:
        return
    try:
        account = Account(user)
    except KeyError:
        return  # config.user_group says so
    if account.uid == 0:
        return
    wants = [(p, want, option, note) for p, want, note in interpreter()]
    wants += [(p, R | X if os.path.isdir(p) else R, option, '')
              for p in readable]
    wants += [(p, W | X, o, '') for p, o in writable]
    for path, want, which, note in wants:
        why = blocking(account, path, want)
        if why:
            raise opt.error(which, 'the user %s cannot %s %s (%s%s): the'
                            ' server and its jobs run as that user' % (
                                user, _WORDS[want], path, note, why))


def interpreter():
    """(path, want, note) of what running the interpreter of the
    generated scripts (this one) takes: the program, and for a virtual
    environment the interpreter it was made from and its standard
    library (a venv made with copies runs, but finds no standard library
    its user cannot read)."""
    import sysconfig
    executable = sys.executable
    found = [(executable, X, 'the interpreter of the generated scripts: ')]
    base = getattr(sys, '_base_executable', None)
    if base and os.path.realpath(base) != os.path.realpath(executable):
        found.append((base, X, 'the interpreter %s was made from: '
                      % executable))
    stdlib = sysconfig.get_paths().get('stdlib')
    if stdlib:
        found.append((stdlib, R | X, 'the standard library of %s: '
                      % executable))
    return found
