"""Benchmarks for the server recipe, run in one go, interleaved.

Figures (medians over rounds, with min-max):

- start-to-ready: ``bin/server start`` invoked -> a client commit has
  succeeded, against runzeo started directly on the same zeo.conf
  (invoked -> commit succeeded, polling every 5 ms).  Target <= 1.25.
- no-op run: ``bin/buildout`` with nothing changed, for a buildout with
  one server part, against the same buildout with no parts.  Target <= 1.1.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import transaction
import ZEO

from zc.zodbrecipes import ctl
from zc.zodbrecipes.tests.harness import free_port, stop_servers

here = os.path.dirname(os.path.abspath(__file__))
checkout = os.path.dirname(here)


def scratch_buildout(directory, parts_text, parts):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, 'buildout.cfg'), 'w') as f:
        f.write('[buildout]\nparts = %s\neggs-directory = %s\n'
                'develop-eggs-directory = %s\nnewest = false\n\n%s' % (
                    parts, os.path.join(checkout, 'eggs'),
                    os.path.join(checkout, 'develop-eggs'), parts_text))
    buildout = os.path.join(checkout, 'bin', 'buildout')
    subprocess.run([buildout, '-q', '-c',
                    os.path.join(directory, 'buildout.cfg'),
                    'buildout:directory=' + directory], check=True)
    return [buildout, '-q', '-c', os.path.join(directory, 'buildout.cfg'),
            'buildout:directory=' + directory]


def commit(address):
    db = ZEO.DB(address, wait_timeout=30)
    try:
        tm = transaction.TransactionManager()
        conn = db.open(tm)
        conn.root()['t'] = time.time()
        tm.commit()
    finally:
        db.close()


def start_ours(directory, address):
    t0 = time.perf_counter()
    subprocess.run([os.path.join(directory, 'bin', 'server'), 'start'],
                   check=True, stdout=subprocess.DEVNULL)
    commit(address)
    elapsed = time.perf_counter() - t0
    subprocess.run([os.path.join(directory, 'bin', 'server'), 'stop'],
                   check=True, stdout=subprocess.DEVNULL)
    return elapsed


def start_direct(directory, address):
    runzeo = os.path.join(directory, 'parts', 'server', 'runzeo')
    conf = os.path.join(directory, 'parts', 'server', 'zeo.conf')
    t0 = time.perf_counter()
    p = subprocess.Popen([runzeo, '-C', conf], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        ctl.wait_for(lambda: ctl.probe(address, 0.5), 60, 0.005)
        commit(address)
        return time.perf_counter() - t0
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(60)


def timed(cmd):
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def summary(values):
    return dict(median=statistics.median(values), min=min(values),
                max=max(values), n=len(values))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--quick', action='store_true')
    parser.add_argument('--rounds', type=int, default=None)
    parser.add_argument('--json')
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 7)
    work = tempfile.mkdtemp(prefix='zodbrecipes-bench-')
    try:
        port = free_port()
        address = ('127.0.0.1', port)
        server = os.path.join(work, 'server')
        one = scratch_buildout(server, (
            '[server]\nrecipe = zc.zodbrecipes:server\nzeo-address = %s\n'
            % port), 'server')
        empty = scratch_buildout(os.path.join(work, 'empty'), '', '')
        results = {k: [] for k in ('ours', 'direct', 'noop', 'empty')}
        start_ours(server, address)  # warm caches and create Data.fs
        for _ in range(rounds):
            results['ours'].append(start_ours(server, address))
            results['direct'].append(start_direct(server, address))
            results['noop'].append(timed(one))
            results['empty'].append(timed(empty))
        table = {k: summary(v) for k, v in results.items()}
        ratios = {
            'start-to-ready ours/direct':
                table['ours']['median'] / table['direct']['median'],
            'no-op run one part/empty':
                table['noop']['median'] / table['empty']['median'],
        }
        print('%-34s %9s %19s' % ('figure', 'median', 'min-max'))
        for label, key in (
                ('bin/server start -> commit', 'ours'),
                ('runzeo directly -> commit', 'direct'),
                ('no-op buildout, 1 server part', 'noop'),
                ('no-op buildout, no parts', 'empty')):
            t = table[key]
            print('%-34s %8.3fs %8.3fs-%6.3fs' % (
                label, t['median'], t['min'], t['max']))
        for label, value in ratios.items():
            print('%-34s %9.2f' % (label, value))
        if args.json:
            with open(args.json, 'w') as f:
                json.dump(dict(rounds=rounds, figures=table, ratios=ratios),
                          f, indent=2)
    finally:
        stop_servers(work)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
