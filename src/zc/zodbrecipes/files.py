"""Writing generated files: atomically, with explicit modes, only on change.

A no-op buildout run must not touch a file (its mtime is how operators and
tools such as logrotate or config management see change), and a reader must
never see half a file, so every file goes through ``write``.
"""
import os
import tempfile


def write(path, text, mode=0o644):
    """Write text to path unless it already holds exactly that text.

    Returns True when the file was (re)written.  The mode is enforced in
    either case, so a file somebody made group-writable is corrected.
    """
    data = text.encode('utf-8')
    try:
        with open(path, 'rb') as f:
            same = f.read() == data
    except FileNotFoundError:
        same = False
    if same:
        if (os.stat(path).st_mode & 0o7777) != mode:
            os.chmod(path, mode)
        return False
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.' + os.path.basename(
        path) + '.')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return True


def makedirs(path, mode=None, owner=None):
    """Create a directory (and parents) if missing.

    ``mode`` is applied to the directory itself when it is created (and
    tightened, never loosened, when it exists); other directories it
    creates are 0755 whatever the umask, so that nobody else can replace
    what the part writes into them.  ``owner`` is a (uid, gid) pair applied
    to the directories this call creates.
    """
    if os.path.isdir(path):
        if mode is not None:
            current = os.stat(path).st_mode & 0o7777
            if current & ~mode:
                os.chmod(path, current & mode)
        return
    parent = os.path.dirname(path)
    if parent and parent != path:
        makedirs(parent, owner=owner)
    os.mkdir(path)
    os.chmod(path, 0o755 if mode is None else mode)
    if owner is not None and os.geteuid() == 0:
        os.chown(path, *owner)


# File systems that hold no files of ours (mkdir there fails, or worse).
PSEUDO = frozenset((
    'proc', 'sysfs', 'devtmpfs', 'devpts', 'cgroup', 'cgroup2', 'debugfs',
    'tracefs', 'securityfs', 'pstore', 'bpf', 'configfs', 'fusectl',
    'mqueue', 'binfmt_misc', 'autofs', 'efivarfs', 'hugetlbfs'))


def unusable_directory(path):
    """Why the directory path cannot be created or used, or None.

    Checked when buildout reads a part, so that a directory install would
    fail to create stops buildout before it uninstalls anything.
    """
    existing = path
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        return '%s is not a directory' % existing
    kind = filesystem(existing)
    if kind in PSEUDO:
        return '%s is on a %s file system' % (existing, kind)
    if existing != path and not os.access(existing, os.W_OK | os.X_OK):
        return 'cannot create %s: %s is not writable' % (path, existing)
    return None


def filesystem(path):
    """The type of the file system holding path (None if unknown)."""
    path = os.path.realpath(path)
    best, kind = '', None
    try:
        with open('/proc/self/mountinfo') as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields, _, rest = line.partition(' - ')
        point = fields.split()[4].encode().decode('unicode_escape')
        inside = point == '/' or path == point or path.startswith(
            point + '/')
        if inside and len(point) >= len(best):
            best, kind = point, (rest.split() or [None])[0]
    return kind
