"""What a server part was built from, to skip the work when nothing changed.

Buildout constructs every part's recipe on every run, and calls
``update`` when the part's options did not change.  Validating zeo.conf
and zdaemon.conf with ZConfig, resolving the working set and rendering
every file costs more than all the rest of such a run.  So, after an
install, a stamp file records a key of everything the part's files are
made from, the options the part published, and a hash of every file it
wrote.  When the next run finds the same key and every file as it was
written, the recipe publishes the recorded options and writes nothing.
Anything else -- an option, the deployment section, the versions, the
eggs directories, the recipe's own code, Python, a changed or missing
file -- and the part is computed, validated and written as usual.

With ``newest = true`` (and not offline) buildout asks the index for
newer distributions on every run, so no stamp is used; nor where zeo.conf
or zdaemon.conf ``%include`` a file, which may have changed.  A private
key that has gone sends the part through the full build, which says so.
"""
import hashlib
import json
import os
import sys

from zc.zodbrecipes import files

FORMAT = 1
_HERE = os.path.dirname(os.path.abspath(__file__))
_code = None

BUILDOUT_KEYS = (
    'directory', 'bin-directory', 'parts-directory', 'eggs-directory',
    'develop-eggs-directory', 'offline', 'newest', 'find-links', 'index',
    'allow-hosts', 'allow-unknown-extras', 'versions',
    'allow-picked-versions', 'prefer-final', 'use-dependency-links')


def _code_signature():
    """The recipe's own code: the size and mtime of its modules."""
    global _code
    if _code is None:
        sig = []
        for root, dirs, names in os.walk(_HERE):
            dirs[:] = [d for d in dirs if d != 'tests' and d != '__pycache__']
            for n in sorted(names):
                if n.endswith('.py'):
                    st = os.stat(os.path.join(root, n))
                    sig.append((n, st.st_size, st.st_mtime_ns))
        _code = sig
    return _code


def _mtime(path):
    try:
        return os.stat(path).st_mtime_ns
    except (OSError, TypeError):
        return None


def _mode(path):
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return None


def _hash(path):
    try:
        with open(path, 'rb') as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


class Stamp:

    def __init__(self, buildout, part, given, sections=(), cacheable=True):
        bo = buildout['buildout']
        self.path = os.path.join(bo['parts-directory'],
                                 '.%s.zodbrecipes.json' % part)
        self.key = None
        if not cacheable or (bo.get('newest') == 'true'
                             and bo.get('offline') != 'true'):
            return
        try:
            try:
                pins = dict(buildout[bo.get('versions') or 'versions'])
            except KeyError:
                pins = {}
            data = [
                FORMAT, sys.executable, part, sorted(given.items()),
                [(k, bo.get(k)) for k in BUILDOUT_KEYS], sorted(pins.items()),
                [(s, sorted(buildout[s].items())) for s in sections],
                _mtime(bo.get('eggs-directory')),
                _mtime(bo.get('develop-eggs-directory')),
                _code_signature(),
            ]
        except Exception:
            return  # let the recipe find what is wrong
        self.key = hashlib.sha256(
            json.dumps(data, default=repr).encode()).hexdigest()

    def load(self):
        """The recorded build, if its key is ours; else None."""
        if self.key is None:
            return None
        try:
            with open(self.path) as f:
                recorded = json.load(f)
        except (OSError, ValueError):
            return None
        if recorded.get('key') != self.key:
            return None
        return recorded

    def intact(self, recorded):
        """Is every file the build wrote still as it was written?"""
        return all(_hash(p) == h and _mode(p) == m
                   for p, h, m in recorded['files'])

    def save(self, published, installed, directories, private_keys,
             claims=()):
        """Record a build (nothing is recorded without a key)."""
        if self.key is None:
            if os.path.exists(self.path):
                os.remove(self.path)
            return []
        text = json.dumps(dict(
            key=self.key, published=published,
            files=[(p, _hash(p), _mode(p)) for p in installed],
            directories=directories, private_keys=private_keys,
            claims=list(claims),
        ), indent=1, sort_keys=True) + '\n'
        files.write(self.path, text)
        return [self.path]
