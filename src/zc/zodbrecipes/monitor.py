"""The control script's monitoring commands: ``stats``, ``check`` and
``metrics``.

All three read the server's figures with ZEO's status request (see
talk.RUOK): one short connection that the server answers and closes
without writing a line to its log, over TCP, IPv6, a unix socket or TLS
(with the certificate the part names, see README: ssl-client-certificate).

- ``stats``: the figures per storage, for a person (``--json``: ZEO's own
  JSON object);
- ``check``: one line and a monitoring exit status (0 OK, 1 WARNING,
  2 CRITICAL, 3 UNKNOWN) against thresholds given as flags;
- ``metrics``: the figures in Prometheus' text format (prometheus_client),
  plus what the build knows (file and blob sizes); ``--serve`` runs an
  HTTP endpoint for scraping, ``--textfile`` writes a file for
  node_exporter's textfile collector.

ctl imports this module only for these commands; it imports talk and,
for ``metrics`` only, prometheus_client.
"""
import argparse
import json
import os
import sys
import time

from zc.zodbrecipes import talk


OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATES = ('OK', 'WARNING', 'CRITICAL', 'UNKNOWN')

# ZEO's counters (their names in its answer), as metric names.
COUNTERS = (
    ('loads', 'loads', 'Objects loaded'),
    ('stores', 'stores', 'Objects stored'),
    ('commits', 'commits', 'Transactions committed'),
    ('aborts', 'aborts', 'Transactions aborted'),
    ('conflicts', 'conflicts', 'Conflict errors'),
    ('conflicts_resolved', 'conflicts_resolved', 'Conflicts resolved'),
)


class NoFigures(Exception):
    """The server answers, but we cannot read its figures."""


def address(config):
    found = config['address']
    return found if isinstance(found, str) else tuple(found)


def figures(config, timeout=5.0):
    """The server's figures, {storage: {name: value}}; None when no ZEO
    server answers; NoFigures when one answers but says nothing (TLS
    without a certificate it accepts)."""
    found = talk.exchange(address(config), timeout,
                          tls=config.get('tls'),
                          cert=config.get('tls_client'))
    if found is None:
        return None
    if found[1] is None:
        raise NoFigures(
            'the TLS server does not accept the control script\'s'
            ' certificate (see the ssl-client-certificate option)')
    return json.loads(found[1].decode('utf-8'))


def tid_time(hex_tid):
    """The time (seconds since the epoch) of a transaction id in hex;
    None for the empty id of a storage without transactions."""
    raw = bytes.fromhex(hex_tid or '')
    if len(raw) != 8 or not raw.strip(b'\0'):
        return None
    from persistent.timestamp import TimeStamp
    return TimeStamp(raw).timeTime()


def start_time(text):
    """ZEO's "start" (time.ctime() on the server) as seconds."""
    try:
        return time.mktime(time.strptime(text))
    except (TypeError, ValueError):
        return None


def lock_held(stats, now):
    """Seconds the commit lock has been held, 0 when it is free."""
    since = stats.get('lock_time')
    return max(0.0, now - since) if since else 0.0


def ago(seconds):
    for unit, size in (('d', 86400), ('h', 3600), ('m', 60)):
        if seconds >= size:
            return '%d%s' % (seconds // size, unit)
    return '%ds' % seconds


def _unreachable(config):
    return '%s: not answering on %s' % (config.get('name', 'server'),
                                       config['address_str'])


# -- stats --------------------------------------------------------------------

def do_stats(config, args):
    parser = argparse.ArgumentParser(prog='%s stats' % config.get('name'))
    parser.add_argument('--json', action='store_true',
                        help="ZEO's answer, as JSON")
    parser.add_argument('--timeout', type=float, default=5.0)
    options = parser.parse_args(args)
    try:
        found = figures(config, options.timeout)
    except NoFigures as e:
        print('%s: %s' % (config.get('name'), e), file=sys.stderr)
        return UNKNOWN
    if found is None:
        print(_unreachable(config), file=sys.stderr)
        return UNKNOWN
    if options.json:
        print(json.dumps(found, indent=2, sort_keys=True))
        return OK
    now = time.time()
    for name, stats in sorted(found.items()):
        last = tid_time(stats.get('last-transaction'))
        print('storage %s:' % name)
        rows = [
            ('connections', stats.get('connections')),
            ('loads', stats.get('loads')),
            ('stores', stats.get('stores')),
            ('commits', stats.get('commits')),
            ('aborts', stats.get('aborts')),
            ('conflicts', '%s (%s resolved)' % (
                stats.get('conflicts'), stats.get('conflicts_resolved'))),
            ('active transactions', stats.get('active_txns')),
            ('waiting for the lock', stats.get('waiting')),
            ('commit lock held', '%.1f s' % lock_held(stats, now)
             if stats.get('lock_time') else 'no'),
            ('last transaction', 'none yet' if last is None else
             '%s (%s ago)' % (time.strftime(
                 '%Y-%m-%d %H:%M:%S', time.localtime(last)),
                 ago(max(0, now - last)))),
            ('server started', stats.get('start')),
        ]
        for label, value in rows:
            print('  %-22s %s' % (label + ':', value))
    return OK


# -- check --------------------------------------------------------------------

def check_parser(name):
    parser = argparse.ArgumentParser(
        prog='%s check' % name,
        description='Exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (not'
        ' answering, figures unreadable).')
    add = parser.add_argument
    add('--waiting-warning', type=int, default=5, metavar='N',
        help='transactions waiting for the commit lock (5)')
    add('--waiting-critical', type=int, default=20, metavar='N',
        help='(20)')
    add('--lock-warning', type=float, default=10, metavar='SECONDS',
        help='the commit lock held this long (10)')
    add('--lock-critical', type=float, default=60, metavar='SECONDS',
        help='(60)')
    add('--idle-warning', type=float, metavar='HOURS',
        help='no transaction committed for this long (a storage that has'
        ' none yet is not idle); off by default')
    add('--idle-critical', type=float, metavar='HOURS')
    add('--storage', action='append', metavar='NAME',
        help='the storages the idle thresholds apply to (repeat; default'
        ' all)')
    add('--alive', action='store_true',
        help='only whether the server answers: 0, else 2 (a readiness or'
        ' container health check)')
    add('--wait', type=float, default=0, metavar='SECONDS',
        help='retry until the server answers, this long (a readiness'
        ' check after a start)')
    add('--timeout', type=float, default=5.0, metavar='SECONDS',
        help='for one connection (5)')
    return parser


def assess(found, options, now):
    """(state, [problems], [figures]) of the server's figures."""
    state, problems, perf = OK, [], []

    def worse(level, text):
        nonlocal state
        state = max(state, level)
        problems.append(text)

    def limit(value, warning, critical, text):
        if critical is not None and value >= critical:
            worse(CRITICAL, text)
        elif warning is not None and value >= warning:
            worse(WARNING, text)

    for name, stats in sorted(found.items()):
        waiting = stats.get('waiting') or 0
        held = lock_held(stats, now)
        limit(waiting, options.waiting_warning, options.waiting_critical,
              'storage %s: %s transactions waiting' % (name, waiting))
        limit(held, options.lock_warning, options.lock_critical,
              'storage %s: commit lock held %.0f s' % (name, held))
        last = tid_time(stats.get('last-transaction'))
        idle = None if last is None else max(0.0, now - last)
        if idle is not None and (options.storage is None
                                 or name in options.storage):
            hours = idle / 3600
            limit(hours, options.idle_warning, options.idle_critical,
                  'storage %s: no transaction for %s' % (name, ago(idle)))
        perf += ['%s_connections=%s' % (name, stats.get('connections')),
                 '%s_waiting=%s;%s;%s' % (name, waiting,
                                          options.waiting_warning,
                                          options.waiting_critical),
                 '%s_lock=%.1fs;%s;%s' % (name, held, options.lock_warning,
                                          options.lock_critical),
                 '%s_commits=%sc' % (name, stats.get('commits'))]
    if options.storage:
        for name in options.storage:
            if name not in found:
                worse(UNKNOWN, 'no storage %s' % name)
    return state, problems, perf


def do_check(config, args):
    options = check_parser(config.get('name')).parse_args(args)
    deadline = time.monotonic() + options.wait
    while True:
        try:
            found = figures(config, options.timeout)
        except NoFigures as e:
            if options.alive:
                print('ZEO OK - answering on %s' % config['address_str'])
                return OK
            print('ZEO UNKNOWN - %s' % e)
            return UNKNOWN
        if found is not None or time.monotonic() >= deadline:
            break
        time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
    if found is None:
        print('ZEO CRITICAL - %s' % _unreachable(config))
        return CRITICAL
    if options.alive:
        print('ZEO OK - answering on %s' % config['address_str'])
        return OK
    state, problems, perf = assess(found, options, time.time())
    summary = '; '.join(problems) or '%d storage%s serving' % (
        len(found), '' if len(found) == 1 else 's')
    print('ZEO %s - %s | %s' % (STATES[state], summary, ' '.join(perf)))
    return state


# -- metrics ------------------------------------------------------------------

def tree_size(path):
    """Bytes of the files under a directory."""
    total = 0
    stack = [path]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
                except OSError:
                    pass
    return total


class Collector:
    """Reads the server's figures at every collection (every scrape)."""

    def __init__(self, config, timeout=5.0):
        self.config, self.timeout = config, timeout

    def collect(self):
        from prometheus_client.core import CounterMetricFamily
        from prometheus_client.core import GaugeMetricFamily
        try:
            found = figures(self.config, self.timeout)
        except NoFigures:
            found = None
        now = time.time()
        up = GaugeMetricFamily(
            'zeo_up', 'Whether the ZEO server answered its status request')
        up.add_metric([], 1 if found else 0)
        yield up

        def gauge(name, doc, value_of):
            family = GaugeMetricFamily(name, doc, labels=['storage'])
            for storage, stats in sorted((found or {}).items()):
                value = value_of(stats)
                if value is not None:
                    family.add_metric([storage], value)
            return family

        for key, name, doc in COUNTERS:
            family = CounterMetricFamily('zeo_' + name, doc,
                                         labels=['storage'])
            for storage, stats in sorted((found or {}).items()):
                family.add_metric([storage], stats.get(key) or 0)
            yield family
        yield gauge('zeo_connections', 'Clients connected',
                    lambda s: s.get('connections'))
        yield gauge('zeo_active_transactions', 'Transactions in progress',
                    lambda s: s.get('active_txns'))
        yield gauge('zeo_waiting_transactions',
                    'Transactions waiting for the commit lock',
                    lambda s: s.get('waiting'))
        yield gauge('zeo_commit_lock_held_seconds',
                    'How long the commit lock has been held (0: free)',
                    lambda s: lock_held(s, now))
        yield gauge('zeo_last_transaction_timestamp_seconds',
                    'When the last transaction was committed (none: no'
                    ' transaction yet)',
                    lambda s: tid_time(s.get('last-transaction')))
        yield gauge('zeo_start_time_seconds', 'When the server started',
                    lambda s: start_time(s.get('start')))
        yield gauge('zeo_uptime_seconds', 'Seconds since the server started',
                    lambda s: (None if start_time(s.get('start')) is None
                               else max(0.0, now - start_time(s['start']))))
        files = GaugeMetricFamily('zeo_file_storage_bytes',
                                  'Size of the storage file (Data.fs)',
                                  labels=['storage'])
        blobs = GaugeMetricFamily('zeo_blob_storage_bytes',
                                  'Bytes of the files in the blob directory',
                                  labels=['storage'])
        for storage, path, blob_dir in self.config.get('storages', ()):
            if path:
                try:
                    files.add_metric([storage], os.path.getsize(path))
                except OSError:
                    pass
            if blob_dir and os.path.isdir(blob_dir):
                blobs.add_metric([storage], tree_size(blob_dir))
        yield files
        yield blobs


def registry(config, timeout=5.0):
    from prometheus_client import CollectorRegistry
    found = CollectorRegistry(auto_describe=False)
    found.register(Collector(config, timeout))
    return found


def serve(config, host, port):
    """Serve /metrics over HTTP until stopped (SIGTERM, SIGINT)."""
    import signal
    import socket
    import threading
    import wsgiref.simple_server as simple
    from prometheus_client import make_wsgi_app

    class Server(simple.WSGIServer):
        address_family = socket.AF_INET6 if ':' in host else socket.AF_INET

    class Quiet(simple.WSGIRequestHandler):
        def log_message(self, *args):
            pass  # a line per scrape would fill the transcript

    # The request thread(s) must not take the signals: the main thread
    # waits for them, then shuts the server down between requests.
    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    httpd = simple.make_server(host, port, make_wsgi_app(registry(config)),
                               server_class=Server, handler_class=Quiet)
    print('%s: serving metrics on http://%s/metrics' % (
        config.get('name'), '[%s]:%s' % (host, port) if ':' in host
        else '%s:%s' % (host, port)), flush=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        signal.sigwait(stop)
    finally:
        httpd.shutdown()
        httpd.server_close()
    return 0


def host_port(text):
    host, _, port = text.rpartition(':')
    host = host.strip('[]') or '127.0.0.1'
    return host, int(port)


def do_metrics(config, args):
    parser = argparse.ArgumentParser(prog='%s metrics' % config.get('name'))
    parser.add_argument('--serve', nargs='?', const='', metavar='HOST:PORT',
                        help='serve them over HTTP (default: the'
                        ' metrics-address option)')
    parser.add_argument('--textfile', metavar='PATH',
                        help="write them for node_exporter's textfile"
                        ' collector (atomically)')
    parser.add_argument('--timeout', type=float, default=5.0)
    options = parser.parse_args(args)
    if options.serve is not None:
        if options.serve:
            try:
                host, port = host_port(options.serve)
            except ValueError:
                parser.error('--serve: HOST:PORT expected')
        elif config.get('metrics'):
            host, port = config['metrics']
        else:
            parser.error('--serve needs HOST:PORT (no metrics-address)')
        return serve(config, host, port)
    found = registry(config, options.timeout)
    if options.textfile:
        from prometheus_client import write_to_textfile
        write_to_textfile(options.textfile, found)
        return OK
    from prometheus_client import generate_latest
    sys.stdout.write(generate_latest(found).decode('utf-8'))
    return OK


COMMANDS = {'stats': do_stats, 'check': do_check, 'metrics': do_metrics}


def main(config, args):
    return COMMANDS[args[0]](config, args[1:])
