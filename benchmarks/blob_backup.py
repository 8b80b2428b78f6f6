"""Blob backups after a 1 % change: ours (hard-linked snapshots), a whole
copy (``cp -a``, what bin/NAME-backup did before) and collective.recipe.backup
(its blob backup with rsync --link-dest), on the same generated data, in one
run.  Not part of the test suite.

    bin/py benchmarks/blob_backup.py [--size-mb 1024] [--files 4000]

collective.recipe.backup runs in its own venv under benchmarks/.cache/crb
(made on the first run: python3 -m venv, pip install collective.recipe.backup);
it needs rsync.  Second backups are timed; "added" is the disk the second
backup added (blocks of inodes the first backup did not have).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(here), 'src')

CRB = os.path.join(os.environ.get('ZC_ZODBRECIPES_BENCH_CACHE',
                                  os.path.join(here, '.cache')), 'crb')


def crb_python():
    python = os.path.join(CRB, 'bin', 'python')
    if not os.path.exists(python):
        subprocess.run([sys.executable, '-m', 'venv', CRB], check=True)
        subprocess.run([python, '-m', 'pip', 'install', '-q',
                        'collective.recipe.backup==6.0.0'], check=True)
    return python


def where(blobs, i):
    return os.path.join(blobs, '0x00', '0x%02x' % (i % 64),
                        '0x%02x' % (i // 64 % 256))


def generate(blobs, size, count):
    """count files of size // count bytes in a bushy tree."""
    each = size // count
    chunk = os.urandom(each)
    for i in range(count):
        d = os.path.join(blobs, '0x00', '0x%02x' % (i % 64),
                         '0x%02x' % (i // 64 % 256))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, '0x%016x.blob' % i), 'wb') as f:
            f.write(chunk[i % 97:] + chunk[:i % 97])
    os.makedirs(os.path.join(blobs, 'tmp'), exist_ok=True)
    with open(os.path.join(blobs, '.layout'), 'w') as f:
        f.write('bushy\n')


def change(blobs, size, count, fraction=0.01):
    """New revisions of fraction of the files (new files; blobs never
    change once written) and as many old revisions removed (a pack)."""
    n = max(1, int(count * fraction))
    chunk = os.urandom(size // count)
    for i in range(n):
        d = os.path.join(blobs, '0x00', '0x%02x' % (i % 64),
                         '0x%02x' % (i // 64 % 256))
        with open(os.path.join(d, '0x%016xnew.blob' % i), 'wb') as f:
            f.write(chunk)
        j = count - 1 - i
        os.remove(os.path.join(where(blobs, j), '0x%016x.blob' % j))


def inodes(top):
    found = {}
    for d, dirs, names in os.walk(top):
        for n in names:
            st = os.lstat(os.path.join(d, n))
            found[st.st_ino] = st.st_blocks * 512
    return found


def added(first, second):
    old = inodes(first)
    return sum(b for ino, b in inodes(second).items() if ino not in old)


def sync():
    os.sync()


def ours(blobs, work, stamp):
    """As bin/NAME-backup runs it: a program of its own (Python's start-up
    counts)."""
    subprocess.run([sys.executable, '-c', 'import sys\n'
                    'from zc.zodbrecipes import backuptool\n'
                    'sys.exit(backuptool.main())', 'snapshot', blobs, work,
                    stamp], check=True,
                   env=dict(os.environ, PYTHONPATH=SRC))
    return os.path.join(work, stamp)


def whole(blobs, work, stamp):
    os.makedirs(work, exist_ok=True)
    subprocess.run(['cp', '-a', blobs, os.path.join(work, stamp)], check=True)
    return os.path.join(work, stamp)


def crb(blobs, work, stamp):
    os.makedirs(work, exist_ok=True)
    subprocess.run([crb_python(), '-c', 'import sys\n'
                    'from collective.recipe.backup import copyblobs\n'
                    'copyblobs.backup_blobs(sys.argv[1], sys.argv[2], '
                    'timestamps=True)', blobs, work], check=True,
                   capture_output=True)
    return newest(work)


def newest(work):
    """The newest backup in work (collective.recipe.backup also keeps a
    symbolic link 'latest' there)."""
    names = sorted(n for n in os.listdir(work)
                   if not n.startswith('.') and n != 'latest')
    return os.path.join(work, names[-1])


def check_ours(blobs, snapshot):
    """Every file of the blob directory (tmp/ aside) is in our snapshot,
    with its content's size: fast but incomplete would not count."""
    sys.path.insert(0, SRC)
    from zc.zodbrecipes import backuptool
    wanted = {}
    for d, dirs, names in os.walk(blobs):
        relative = os.path.relpath(d, blobs)
        if relative == 'tmp':
            dirs[:] = []
            continue
        for n in names:
            parts = [] if relative == '.' else relative.split(os.sep)
            wanted[backuptool._encode(parts + [n])] = os.lstat(
                os.path.join(d, n)).st_size
    got = {n: os.lstat(os.path.join(snapshot, n)).st_size
           for n in os.listdir(snapshot) if n != backuptool.FLAT}
    assert got == wanted, 'our snapshot differs from the blob directory'


METHODS = [('whole copy (cp -a)', whole), ('ours (snapshot)', ours),
           ('collective.recipe.backup', crb)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--size-mb', type=int, default=1024)
    parser.add_argument('--files', type=int, default=4000)
    parser.add_argument('--directory', default=None)
    args = parser.parse_args()
    size = args.size_mb * 1024 * 1024
    top = tempfile.mkdtemp(prefix='blob-backup-bench-', dir=args.directory)
    try:
        blobs = os.path.join(top, 'blobs')
        generate(blobs, size, args.files)
        crb_python()
        for _, function in METHODS:
            function(blobs, os.path.join(top, function.__name__),
                     '2024-01-01-00-00-00')
        change(blobs, size, args.files)
        sync()
        results = {}
        for label, function in METHODS:
            work = os.path.join(top, function.__name__)
            first = newest(work)
            sync()
            t0 = time.perf_counter()
            second = function(blobs, work, '2024-01-02-00-00-00')
            assert second != first, (label, os.listdir(work))
            sync()
            seconds = time.perf_counter() - t0
            results[label] = seconds, added(first, second)
            if function is ours:
                check_ours(blobs, second)
        whole_s = results['whole copy (cp -a)'][0]
        print('blob directory: %d MB in %d files; 1 %% changed'
              % (args.size_mb, args.files))
        print('%-26s %10s %12s %14s %16s' % (
            'second backup', 'seconds', 'vs whole', 'added MB',
            'added/blob dir'))
        for label, (seconds, disk) in results.items():
            print('%-26s %10.3f %11.1f%% %14.1f %15.2f%%' % (
                label, seconds, 100 * seconds / whole_s, disk / 2 ** 20,
                100 * disk / size))
        o, c = results['ours (snapshot)'][0], \
            results['collective.recipe.backup'][0]
        print('ours / collective.recipe.backup: %.2f' % (o / c))
    finally:
        shutil.rmtree(top)  # the benchmark's own generated data


if __name__ == '__main__':
    main()
