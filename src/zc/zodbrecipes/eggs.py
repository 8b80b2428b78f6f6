"""Working sets and the scripts that run in them.

A working set is resolved the way zc.recipe.egg resolves one (offline,
newest, index, find-links and versions are respected), once per buildout
run for each list of requirements: zc.recipe.egg keeps a cache too, but
hands out a deep copy of the working set every time, which costs more
than the resolution itself when a buildout has many server parts.  The
recipes only read their working sets.

Scripts are written the way zc.buildout writes them (a ``sys.path`` list,
then a call of the entry point), from a path list computed once per
working set, and only when their text changed.
"""
import logging
import os
import sys

from zc.buildout import UserError

from zc.zodbrecipes import files

logger = logging.getLogger('zc.buildout.easy_install')

_CACHE = '_zc_zodbrecipes_working_sets'


def working_set(buildout, opt, option, requirements):
    """The working set for requirements; errors name the part's option."""
    section = buildout['buildout']
    key = (tuple(requirements),) + tuple(section.get(k) for k in (
        'eggs-directory', 'develop-eggs-directory', 'offline', 'newest',
        'find-links', 'index', 'allow-hosts', 'allow-unknown-extras'))
    cache = getattr(buildout, _CACHE, None)
    if cache is None:
        cache = {}
        setattr(buildout, _CACHE, cache)
    if key not in cache:
        import zc.recipe.egg
        try:
            egg = zc.recipe.egg.Egg(buildout, opt.part,
                                    {'eggs': '\n'.join(requirements)})
            ws = egg.working_set()[1]
        except UserError as e:
            raise opt.error(option, e)
        except Exception as e:
            raise opt.error(option, '%s: %s' % (type(e).__name__, e))
        cache[key] = ws, _script_path(ws)
    return cache[key][0]


def _script_path(ws):
    """sys.path entries for scripts of ws, as zc.buildout computes them
    (distribution locations, then paths from their .pth files)."""
    from zc.buildout.utils import get_pth_paths
    path = dict.fromkeys(dist.location for dist in ws)  # ordered set
    for location in list(path):
        for p in get_pth_paths(location):
            path.setdefault(p)
    return [os.path.realpath(p) for p in path]


def script_path(buildout, ws):
    for cached, path in getattr(buildout, _CACHE, {}).values():
        if cached is ws:
            return path
    return _script_path(ws)


SCRIPT = '''\
#!{python}

import sys
{base}sys.path[0:0] = [
{path}  ]

import {module}

if __name__ == '__main__':
    sys.exit({module}.{function}({arguments}))
'''

# With relative paths, the buildout directory is found from the script's
# own location (so the buildout can be moved as a whole).
BASE = '''import os
base = os.path.dirname(os.path.abspath(os.path.realpath(__file__)))
{ups}'''


def script_text(buildout, ws, module, function, arguments='', extra=(),
                relative_to=None, location=None):
    """The text of a script calling module.function(arguments) in ws.

    extra: more sys.path entries (after the working set's); relative_to: a
    directory (the buildout's) of which paths below it are written
    relative to the script's location."""
    entries = list(script_path(buildout, ws)) + list(extra)
    base = ''
    if relative_to:
        depth = os.path.relpath(os.path.dirname(location),
                                relative_to).count(os.sep) + 1
        base = BASE.format(ups='base = os.path.dirname(base)\n' * depth)
    return SCRIPT.format(
        python=sys.executable, module=module, function=function,
        arguments=arguments, base=base,
        path=''.join('  %s,\n' % _path_entry(p, relative_to)
                     for p in entries))


def _path_entry(path, relative_to):
    if relative_to and (path + os.sep).startswith(relative_to + os.sep):
        return 'os.path.join(base, %r)' % os.path.relpath(path, relative_to)
    return repr(path)


def script(buildout, ws, path, module, function, arguments=''):
    """Write the script at path (if its text changed); return path."""
    text = script_text(buildout, ws, module, function, arguments)
    if files.write(path, text, 0o755):
        logger.info('Generated script %r.', path)
    return path


def program_path(buildout, opt, option, program):
    """The sys.path another part gives the script program (runzeo named by
    an option, as 3.1 buildouts did with ``[zodb] recipe =
    zc.recipe.egg:script``): the working set of the eggs of the
    zc.recipe.egg part among the buildout's parts that writes it (its
    bin-directory, its scripts option), else the sys.path list of the
    script as it is, else nothing.  zeo.conf's %import-ed packages are
    found where that runzeo finds them.  Returns (the part's name or None,
    the path)."""
    bo = buildout['buildout']
    name = os.path.basename(program)
    raw = getattr(buildout, '_raw', {})
    for part in bo.get('parts', '').split():
        recipe = (raw.get(part) or {}).get('recipe', '')
        if not recipe.strip().startswith('zc.recipe.egg'):
            continue
        section = buildout[part]
        bin_directory = section.get('bin-directory', bo['bin-directory'])
        if os.path.join(bin_directory, name) != program:
            continue
        scripts = section.get('scripts')
        if scripts is not None:
            written = [s.split('=', 1)[-1].strip() for s in scripts.split()]
            if name not in written:
                continue
        requirements = [r.strip() for r in section.get('eggs', '').split(
            '\n') if r.strip()]
        if not requirements:
            continue
        ws = working_set(buildout, opt, option, requirements)
        extra = section.get('extra-paths', '').split()
        return part, [dist.location for dist in ws] + extra
    return None, script_sys_path(program)


def script_sys_path(script):
    """The entries of a generated script's ``sys.path[0:0] = [...]`` (its
    literal strings only), or [] when there is none."""
    import ast
    import re
    try:
        with open(script) as f:
            text = f.read(1000000)
    except (OSError, UnicodeDecodeError):
        return []
    match = re.search(r'(?m)^sys\.path\[0:0\] = (\[[^\]]*\])', text)
    if not match:
        return []
    try:
        found = ast.literal_eval(match.group(1))
    except (ValueError, SyntaxError):
        return []  # relative entries (base + ...): not literal
    return [p for p in found if isinstance(p, str)]
