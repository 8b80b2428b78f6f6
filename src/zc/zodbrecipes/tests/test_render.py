"""Tests of the deployment renderers: render.txt plus schedule checks."""
import datetime
import doctest
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import manuel.capture
import manuel.doctest
import manuel.testing

from zc.zodbrecipes import schedule
from zc.zodbrecipes import validate_tools
from zc.zodbrecipes.tests import tools


# render.txt works in a scratch directory standing in for /srv/zeo; its
# outputs show the scratch path as /srv/zeo.
SHOWN_AS = '/srv/zeo'
_current = {}


class Checker(doctest.OutputChecker):

    def _shown(self, got):
        srv = _current.get('srv')
        return got.replace(srv, SHOWN_AS) if srv else got

    def check_output(self, want, got, optionflags):
        return super().check_output(want, self._shown(got), optionflags)

    def output_difference(self, example, got, optionflags):
        return super().output_difference(
            example, self._shown(got), optionflags)


PROGRAMS = {
    'runzeo': 'ZEO.runzeo',
    'zeopack': 'ZEO.scripts.zeopack',
    'repozo': 'ZODB.scripts.repozo',
    'backuptool': 'zc.zodbrecipes.backuptool',
}


def _install_program(name, path):
    """A console script running with the tests' own sys.path (under a
    buildout's bin/test the eggs are not in site-packages)."""
    write(path, '#!%s\nimport sys\nsys.path[0:0] = %r\nimport %s\n'
          'sys.exit(%s.main())\n' % (sys.executable, sys.path,
                                     PROGRAMS[name], PROGRAMS[name]), 0o755)


def run(*argv):
    """Run a command; print its output and its exit status if not 0."""
    result = subprocess.run(argv, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    print(result.stdout, end='')
    if result.returncode:
        print('exit status %d' % result.returncode)


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, mode)


# The programs render.txt runs (see tests/tools.py).
NEEDS = ('logrotate', 'crontab', 'shellcheck', 'systemd-analyze', 'flock')


def setUp(test):
    tools.require(*NEEDS)  # before anything needs undoing
    srv = os.path.realpath(tempfile.mkdtemp(prefix='zodbrecipes-render-'))
    _current['srv'] = srv
    os.mkdir(os.path.join(srv, 'bin'))
    for name in PROGRAMS:
        _install_program(name, os.path.join(srv, 'bin', name))
    test.globs.update(
        srv=srv, run=run, write=write,
        validate_tools=validate_tools, old_cwd=os.getcwd())
    os.chdir(srv)


def tearDown(test):
    os.chdir(test.globs['old_cwd'])
    shutil.rmtree(_current.pop('srv'))


class SystemdCalendarTests(unittest.TestCase):
    """systemd computes the same run times as cron for our translations."""

    schedules = [
        '*/15 * * * *', '0 3 * * 0', '30 2 * * 1-5', '0 1-5/2 * jan-mar 5-7',
        '7 0 */2 * 1', '0 0 1,15 * *', '@weekly', '@monthly', '@yearly',
        '5,6,7,20 0-2,4 * * sat,sun', '0 12 * * */2', '59 23 31 * *',
    ]

    def setUp(self):
        tools.require('systemd-analyze')

    def cron_times(self, sched, start, count):
        """The next count start times after start, the way cron finds them."""
        minutes, hours, _, _, _ = sched.values()
        times, day = [], start.date()
        while len(times) < count:
            if sched.runs_on(day.month, day.day, day.isoweekday() % 7):
                times.extend(
                    t for t in (datetime.datetime(day.year, day.month,
                                                  day.day, h, m)
                                for h in sorted(hours)
                                for m in sorted(minutes))
                    if t > start)
            day += datetime.timedelta(days=1)
        return [t.strftime('%Y-%m-%d %H:%M:%S') for t in times[:count]]

    def test_same_times(self):
        start = datetime.datetime(2031, 12, 30, 22, 0, 30)
        for text in self.schedules:
            sched = schedule.parse(text)
            expression = sched.systemd_oncalendar()
            systemd = validate_tools.systemd_calendar(expression, 12,
                                                      str(start))
            self.assertEqual(len(systemd), 12)
            self.assertEqual(systemd, self.cron_times(sched, start, 12),
                             '%s -> %s' % (text, expression))

    def test_runs_at(self):
        sched = schedule.parse('30 2 * * 1-5')
        self.assertTrue(sched.runs_at(datetime.datetime(2031, 1, 3, 2, 30)))
        self.assertFalse(sched.runs_at(datetime.datetime(2031, 1, 4, 2, 30)))
        self.assertFalse(sched.runs_at(datetime.datetime(2031, 1, 3, 2, 31)))


def test_suite():
    return unittest.TestSuite([
        manuel.testing.TestSuite(
            manuel.doctest.Manuel(
                optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                checker=Checker())
            + manuel.capture.Manuel(),
            '../render.txt', setUp=setUp, tearDown=tearDown),
        unittest.defaultTestLoader.loadTestsFromTestCase(
            SystemdCalendarTests),
    ])
