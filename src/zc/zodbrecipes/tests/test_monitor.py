"""monitor.txt: status without log lines, stats, check, metrics (over
HTTP too), over TCP, IPv6, a unix socket and TLS; and the service files
that run the metrics endpoint and the readiness check."""
import unittest

from zc.zodbrecipes import monitor
from zc.zodbrecipes import validate_tools
from zc.zodbrecipes.render import supervisor
from zc.zodbrecipes.render import systemd
from zc.zodbrecipes.tests import harness
from zc.zodbrecipes.tests import test_client


class ServiceFiles(unittest.TestCase):

    def test_server_unit_checks_readiness_and_metrics_unit_follows_it(self):
        server = systemd.server_service(
            'zeo', '/bin/true', '/etc/hosts', ready=[
                '/bin/true', 'check', '--alive', '--wait', '300'])
        self.assertIn('\nExecStartPost=/bin/true check --alive --wait 300\n',
                      server)
        metrics = systemd.metrics_service(
            'zeo', ['/bin/true', 'metrics', '--serve'], user='zeo')
        for line in ('ExecStart=/bin/true metrics --serve', 'User=zeo',
                     'PartOf=zeo.service', 'After=zeo.service',
                     'WantedBy=zeo.service', 'Restart=on-failure'):
            self.assertIn('\n%s\n' % line, metrics)
        validate_tools.systemd_verify({'zeo.service': server,
                                       'zeo-metrics.service': metrics})

    def test_no_readiness_line_without_ready(self):
        self.assertNotIn('ExecStartPost', systemd.server_service(
            'zeo', '/bin/true', '/etc/hosts'))

    def test_supervisor_program(self):
        import tempfile
        with tempfile.TemporaryDirectory() as logs:
            log = logs + '/zeo-metrics.log'
            text = supervisor.render_metrics(
                'zeo', ['/srv/bin/zeo', 'metrics', '--serve'], log)
            program = validate_tools.supervisor_check(text)
        self.assertEqual(program['name'], 'zeo-metrics')
        self.assertEqual(program['command'], '/srv/bin/zeo metrics --serve')
        self.assertEqual(program['stdout_logfile'], log)


class Thresholds(unittest.TestCase):

    def assess(self, args, **stats):
        figures = dict(connections=1, commits=3, waiting=0, lock_time=None,
                       **{'last-transaction': '0000000000000000'})
        figures.update(stats)
        options = monitor.check_parser('zeo').parse_args(args)
        return monitor.assess({'1': figures}, options, 1000.0)[:2]

    def test_fresh_storage_is_never_idle(self):
        self.assertEqual(self.assess(['--idle-critical', '0']), (0, []))

    def test_lock_held(self):
        self.assertEqual(self.assess([], lock_time=980.0),
                         (1, ['storage 1: commit lock held 20 s']))
        self.assertEqual(self.assess([], lock_time=900.0)[0], 2)

    def test_waiting(self):
        self.assertEqual(self.assess([], waiting=5)[0], 1)
        self.assertEqual(self.assess([], waiting=20)[0], 2)
        self.assertEqual(self.assess([], waiting=4)[0], 0)

    def test_transaction_ids_are_times(self):
        from persistent.timestamp import TimeStamp
        tid = TimeStamp(2026, 12, 2, 7, 30, 15.5).raw().hex()
        self.assertAlmostEqual(monitor.tid_time(tid), 1796196615.5, 3)
        self.assertIsNone(monitor.tid_time('0' * 16))


def test_suite():
    suite = harness.suite('monitor.txt', setUp=test_client.setUp,
                          tearDown=test_client.tearDown)
    for case in (ServiceFiles, Thresholds):
        suite.addTests(unittest.defaultTestLoader.loadTestsFromTestCase(case))
    return suite
