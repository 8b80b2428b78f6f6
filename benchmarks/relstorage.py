"""When does moving from ZEO to RelStorage pay?  Commits and loads per
second with 1, 4 and 8 client processes, ZEO + FileStorage against
RelStorage on PostgreSQL, in one run (not part of the test suite).

Run as ``benchmarks/relstorage [--seconds S] [--objects N]`` after
``python3 bootstrap.py``.  It builds a scratch buildout with this
checkout's recipes: a server part (FileStorage, no blobs), a ZEO client
part of it and a ``rel-storage`` client part of a private PostgreSQL
cluster (started like the tests start theirs, stopped at the end), and
drives the two generated ``zodb.conf`` files:

- commits/s: each process commits small changes to an object of its own
  (no conflicts) for S seconds; the sum over the processes.
- loads/s: N small persistent objects are committed once; each process
  opens a fresh database (client caches in memory and empty, as
  ``bin/<client>`` opens it) and loads its share of them (N/processes,
  disjoint); N divided by the time the slowest process took.

Both serve from this machine (127.0.0.1, 2 cores shared by everything):
absolute figures are small, the comparison is the point.
"""
import argparse
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
top = os.path.dirname(here)
sys.path.insert(0, os.path.join(top, 'src'))

from zc.zodbrecipes.tests import harness  # noqa: E402
from zc.zodbrecipes.tests import postgres  # noqa: E402

BUILDOUT = '''\
[buildout]
parts = server zeo rel
develop = {top}
eggs-directory = {top}/eggs
newest = false

[server]
recipe = zc.zodbrecipes:server
zeo-address = 127.0.0.1:{zeo_port}
blob-storage =

[zeo]
recipe = zc.zodbrecipes:client
server = server

[rel]
recipe = zc.zodbrecipes:client
rel-storage =
    type postgresql
    host 127.0.0.1
    port {pg_port}
    dbname bench
    user bench
    keep-history false
'''


def open_db(conf):
    import ZODB
    from zc.zodbrecipes import clienttool
    factory = clienttool.load(conf)  # caches in memory, as the tool has
    return ZODB.DB(factory.config.storage.open())


def commit_worker(args):
    conf, name, seconds, start = args
    import transaction
    db = open_db(conf)
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    mine = conn.root()['workers'][name]  # no conflicts between processes
    count = 0
    while time.time() < start:
        time.sleep(0.001)
    end = start + seconds
    while time.time() < end:
        mine['n'] = count
        tm.commit()
        count += 1
    conn.close()
    db.close()
    return count


def populate(conf, n):
    import BTrees.OOBTree
    import persistent.mapping
    db = open_db(conf)
    with db.transaction() as conn:
        conn.root()['workers'] = {
            'p%d' % i: persistent.mapping.PersistentMapping()
            for i in range(8)}
        tree = conn.root()['objects'] = BTrees.OOBTree.OOBTree()
        for i in range(n):
            tree[i] = persistent.mapping.PersistentMapping(value=i)
    with db.transaction() as conn:
        oids = [conn.root()['objects'][i]._p_oid for i in range(n)]
    db.close()
    return oids


def load_worker(args):
    conf, oids, start = args
    db = open_db(conf)
    conn = db.open()
    while time.time() < start:
        time.sleep(0.001)
    began = time.time()
    for oid in oids:
        conn.get(oid)._p_activate()
    took = time.time() - began
    conn.close()
    db.close()
    return took


def measure(conf, processes, seconds, oids):
    pool = multiprocessing.get_context('fork').Pool(processes)
    try:
        start = time.time() + 1
        counts = pool.map(commit_worker, [
            (conf, 'p%d' % i, seconds, start) for i in range(processes)])
        commits = sum(counts) / seconds
        start = time.time() + 1
        shares = [oids[i::processes] for i in range(processes)]
        took = pool.map(load_worker, [(conf, share, start)
                                      for share in shares])
        loads = len(oids) / max(took)
    finally:
        pool.close()
        pool.join()
    return commits, loads


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--seconds', type=float, default=3)
    parser.add_argument('--objects', type=int, default=4000)
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix='bench-rel-')
    cluster = postgres.Cluster(directory)
    results = {}
    try:
        cluster.start()
        cluster.create_user('bench', 'bench')
        cluster.createdb('bench', owner='bench')
        os.environ['PGPASSWORD'] = 'bench'  # not in the configuration
        zeo_port = harness.free_port()
        with open(os.path.join(directory, 'buildout.cfg'), 'w') as f:
            f.write(BUILDOUT.format(top=top, zeo_port=zeo_port,
                                    pg_port=cluster.port))
        subprocess.run([os.path.join(top, 'bin', 'buildout'), '-q'],
                       cwd=directory, check=True)
        subprocess.run([os.path.join(directory, 'bin', 'server'), 'start'],
                       check=True)
        try:
            for kind in ('zeo', 'rel'):
                conf = os.path.join(directory, 'parts', kind, 'zodb.conf')
                oids = populate(conf, args.objects)
                for processes in (1, 4, 8):
                    results[kind, processes] = measure(
                        conf, processes, args.seconds, oids)
                    print(kind, processes, '%.0f commits/s, %.0f loads/s'
                          % results[kind, processes], flush=True)
        finally:
            subprocess.run([os.path.join(directory, 'bin', 'server'),
                            'stop'])
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)
    print()
    print('%-10s %-24s %-24s' % ('processes', 'ZEO+FileStorage',
                                 'RelStorage+PostgreSQL'))
    for processes in (1, 4, 8):
        print('%-10s %-24s %-24s' % (processes, *[
            '%6.0f c/s %7.0f l/s' % results[kind, processes]
            for kind in ('zeo', 'rel')]))


if __name__ == '__main__':
    main()
