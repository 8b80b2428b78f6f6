"""The hostile-input corpus (hostile.cfg): reading it, building buildouts.

hostile.cfg is a list of blocks.  ``=== BASE`` holds a complete buildout
(a deployment, a server in deployment mode, a plain server and a client);
every other ``=== NAME`` block is one case: buildout configuration merged
into the base, then what must happen.  Inside a block:

``[section]``
    the section the following lines go to (a section the base does not
    have is added);
``key = value``
    (with indented continuation lines) replaces that option of the base
    section, or adds it;
``-key``
    removes the option from the base section;
``#...`` at the start of a line
    a comment;
``!error TEXT``
    buildout must fail, print ``Error:`` and TEXT (one line each; every
    ``!error`` line must be found).  ``/sample-buildout`` stands for the
    sample buildout's directory;
``!accepted``
    buildout must succeed, and the payload (the path ``@PWNED@`` stands
    for) must appear in some of the files named by ``!quoted-in PATH`` and
    in no other: in ZConfig files (``*.conf``) that load and hold every
    ``$`` escaped, in Python scripts inside string literals only;
``!root-only``
    the case needs buildout to run as root (it is skipped otherwise).

``@PWNED@`` in a case is replaced by the absolute path of a file that
must never be created: payloads are written as ``$(touch @PWNED@)``.
"""
import collections
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, 'hostile.cfg')


class OwnsLayer:
    """A test case mix-in: zope.testrunner sets up the class's layer;
    under other runners the class sets it up (and tears it down) itself."""

    @classmethod
    def setUpClass(cls):
        cls.own_layer = cls.layer.sample is None
        if cls.own_layer:
            cls.layer.setUp()

    @classmethod
    def tearDownClass(cls):
        if cls.own_layer:
            cls.layer.tearDown()


class Case:

    def __init__(self, name, lineno):
        self.name, self.lineno = name, lineno
        # {section: [(op, key, lines)]}
        self.sections = collections.OrderedDict()
        self.errors = []
        self.accepted = False
        self.quoted_in = []
        self.root_only = False

    def __repr__(self):
        return '<case %s (hostile.cfg line %s)>' % (self.name, self.lineno)

    def where(self):
        return 'case %r (hostile.cfg, line %s)' % (self.name, self.lineno)


_OPTION = re.compile(r'([^\s=#\[!-][^=]*?)\s*=')


def read(path=CORPUS):
    """(base Case, [Case]) from the corpus file."""
    with open(path) as f:
        text = f.read()
    cases = []
    case = section = None
    current = None  # the lines of the option being read
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith('==='):
            name = line[3:].strip()
            if not name:
                raise ValueError('hostile.cfg line %s: a case needs a name'
                                 % n)
            case = Case(name, n)
            cases.append(case)
            section = current = None
            continue
        if case is None:
            if line.strip() and not line.startswith('#'):
                raise ValueError('hostile.cfg line %s: text before the first'
                                 ' "===" line' % n)
            continue
        if line.startswith('#'):
            continue
        if line.startswith('!'):
            word, _, rest = line[1:].partition(' ')
            rest = rest.strip()
            if word == 'error' and rest:
                case.errors.append(rest)
            elif word == 'accepted' and not rest:
                case.accepted = True
            elif word == 'quoted-in' and rest:
                case.quoted_in.append(rest)
            elif word == 'root-only' and not rest:
                case.root_only = True
            else:
                raise ValueError('hostile.cfg line %s: unknown directive %r'
                                 % (n, line))
            current = None
            continue
        if line.startswith('['):
            m = re.match(r'\[([^\]]+)\]\s*\Z', line)
            if not m:
                raise ValueError('hostile.cfg line %s: bad section line %r'
                                 % (n, line))
            section = case.sections.setdefault(m.group(1), [])
            current = None
            continue
        if not line.strip() or line[0].isspace():
            if current is None:
                if line.strip():
                    raise ValueError('hostile.cfg line %s: continuation line'
                                     ' without an option' % n)
                continue
            current.append(line)
            continue
        if section is None:
            raise ValueError('hostile.cfg line %s: option outside a section'
                             % n)
        if line.startswith('-'):
            section.append(('drop', line[1:].strip(), None))
            current = None
            continue
        m = _OPTION.match(line)
        if not m:
            raise ValueError('hostile.cfg line %s: not an option: %r'
                             % (n, line))
        current = [line]
        section.append(('set', m.group(1).strip(), current))
    if not cases or cases[0].name != 'BASE':
        raise ValueError('hostile.cfg must start with the "=== BASE" block')
    return cases[0], cases[1:]


def render(base, case=None, pwned=None):
    """The buildout.cfg text of base with case merged in."""
    sections = collections.OrderedDict(
        (name, collections.OrderedDict((key, lines) for _, key, lines in ops))
        for name, ops in base.sections.items())
    if case is not None:
        for name, ops in case.sections.items():
            options = sections.setdefault(name, collections.OrderedDict())
            for op, key, lines in ops:
                if op == 'drop':
                    if key not in options:
                        raise ValueError('%s: the base has no option %s in'
                                         ' [%s]' % (case.where(), key, name))
                    del options[key]
                else:
                    options[key] = lines
    out = []
    for name, options in sections.items():
        out.append('[%s]' % name)
        for lines in options.values():
            # Blank lines at the end of a value belong to no option.
            lines = list(lines)
            while lines and not lines[-1].strip():
                lines.pop()
            out.extend(lines)
        out.append('')
    text = '\n'.join(out)
    if pwned:
        text = text.replace('@PWNED@', pwned)
    return text


# -- a sample buildout to run buildout in ------------------------------------

class Sample:
    """A sample buildout (the harness's set-up) for a whole test class.

    ``run`` starts bin/buildout in a subprocess; ``run_here`` calls
    buildout's own ``main`` in this process, which is the same code path
    (configuration, recipes, install) without the start-up of a new Python
    and the egg scanning buildout caches between runs: six times faster.
    """

    def __init__(self):
        import zc.buildout.easy_install
        from zc.zodbrecipes.tests import harness
        self.harness = harness
        self.installer = zc.buildout.easy_install.Installer
        self.installer_state = {
            k: v for k, v in vars(self.installer).items()
            if k.startswith('_') and not k.startswith('__')
            and not callable(v) and not isinstance(v, (staticmethod,
                                                         classmethod))}
        self.test = type('Test', (), {})()
        self.test.globs = {}
        harness.setUp(self.test)
        self.directory = self.test.globs['sample_buildout']
        self.buildout = os.path.join(self.directory, 'bin', 'buildout')

    def close(self):
        try:
            self.harness.tearDown(self.test)  # (stops servers first)
        finally:
            for k, v in self.installer_state.items():
                setattr(self.installer, k, v)

    def path(self, *names):
        return os.path.join(self.directory, *names)

    def write(self, text):
        with open(self.path('buildout.cfg'), 'w') as f:
            f.write(text)

    def normalize(self, output):
        return output.replace(self.directory, '/sample-buildout')

    def run(self, text, umask=None):
        """(exit status, output) of bin/buildout -q on the text."""
        import subprocess
        self.write(text)
        preexec = None if umask is None else (lambda: os.umask(umask))
        p = subprocess.run([self.buildout, '-q'], cwd=self.directory,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           preexec_fn=preexec, timeout=300)
        return p.returncode, self.normalize(p.stdout.decode('utf-8',
                                                             'replace'))

    def run_here(self, text):
        """(exit status, output) of buildout -q run in this process."""
        import contextlib
        import io
        import logging
        import zc.buildout.buildout
        self.write(text)
        root = logging.getLogger()
        bo = logging.getLogger('zc.buildout')
        saved = (root.handlers[:], root.level, bo.handlers[:], bo.propagate,
                 bo.level)
        out = io.StringIO()
        here = os.getcwd()
        status = 0
        os.chdir(self.directory)
        try:
            with contextlib.redirect_stdout(out), \
                    contextlib.redirect_stderr(out):
                try:
                    zc.buildout.buildout.main(['-q'])
                except SystemExit as e:
                    status = e.code if isinstance(e.code, int) else (
                        0 if e.code is None else 1)
        finally:
            os.chdir(here)
            root.handlers[:] = saved[0]
            root.setLevel(saved[1])
            bo.handlers[:] = saved[2]
            bo.propagate = saved[3]
            bo.setLevel(saved[4])
        return status, self.normalize(out.getvalue())

    def snapshot(self):
        """{relative path: what it is} of everything in the buildout but
        buildout.cfg: type, mode, mtime and a digest of the content."""
        import hashlib
        import stat
        found = {}
        for root, dirs, files in os.walk(self.directory):
            for name in dirs + files:
                path = os.path.join(root, name)
                rel = os.path.relpath(path, self.directory)
                if rel == 'buildout.cfg':
                    continue
                st = os.lstat(path)
                if stat.S_ISLNK(st.st_mode):
                    found[rel] = ('link', os.readlink(path))
                elif rel == '.installed.cfg':
                    # Buildout appends "[buildout] installed_develop_eggs ="
                    # to it on every run, whatever happens next: compare
                    # what it says about the installed parts.
                    with open(path, 'rb') as f:
                        data = f.read()
                    while data.endswith(_DEVELOP_EGGS):
                        data = data[:-len(_DEVELOP_EGGS)]
                    found[rel] = ('file', oct(st.st_mode),
                                  hashlib.sha256(data).hexdigest())
                elif stat.S_ISREG(st.st_mode):
                    with open(path, 'rb') as f:
                        digest = hashlib.sha256(f.read()).hexdigest()
                    found[rel] = ('file', oct(st.st_mode), st.st_mtime_ns,
                                  digest)
                elif stat.S_ISDIR(st.st_mode):
                    found[rel] = ('dir', oct(st.st_mode), st.st_mtime_ns)
                else:
                    found[rel] = ('other', oct(st.st_mode))
        return found


_DEVELOP_EGGS = b'\n[buildout]\ninstalled_develop_eggs = \n'


def differences(before, after):
    """What changed between two snapshots, as lines of text."""
    lines = []
    for path in sorted(set(before) | set(after)):
        if path not in after:
            lines.append('removed: %s' % path)
        elif path not in before:
            lines.append('added: %s' % path)
        elif before[path] != after[path]:
            lines.append('changed: %s %s -> %s' % (
                path, before[path], after[path]))
    return lines
