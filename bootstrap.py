"""Make this checkout a buildout: python3 bootstrap.py [buildout args]

Creates .buildout-venv, a virtual environment holding only zc.buildout
(pinned below), lets it write bin/buildout, and runs bin/buildout with the
arguments given.  Run it again at any time: an existing environment with the
right versions is reused, and buildout only does what changed.
"""
import os
import subprocess
import sys
import venv

PINS = ['zc.buildout==6.0.1', 'setuptools==84.2.1', 'pip==25.3', 'wheel']

here = os.path.dirname(os.path.abspath(__file__))
env = os.path.join(here, '.buildout-venv')
python = os.path.join(env, 'bin', 'python')
stamp = os.path.join(env, 'pins.txt')


def run(*cmd):
    print('$', ' '.join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=here)


def main(args):
    if sys.version_info < (3, 10):
        sys.exit('bootstrap.py needs Python 3.10 or later')
    wanted = '\n'.join(PINS) + '\n'
    current = open(stamp).read() if os.path.exists(stamp) else None
    if current != wanted:
        venv.EnvBuilder(with_pip=True, clear=True).create(env)
        run(python, '-m', 'pip', 'install', '-q', *PINS)
        with open(stamp, 'w') as f:
            f.write(wanted)
    buildout = os.path.join(here, 'bin', 'buildout')
    if current != wanted or not os.path.exists(buildout):
        run(os.path.join(env, 'bin', 'buildout'), 'bootstrap')
    run(buildout, *args)


if __name__ == '__main__':
    try:
        main(sys.argv[1:])
    except subprocess.CalledProcessError as e:
        sys.exit(e.returncode)
