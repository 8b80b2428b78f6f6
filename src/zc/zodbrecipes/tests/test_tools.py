"""The setup step of bin/test and the tests' tool checks (tests/tools.py),
with a tool that exists nowhere and apt-get replaced by a recorder."""
import io
import os
import subprocess
import unittest
from unittest import mock

from zc.zodbrecipes.tests import tools

NOWHERE = tools.Tool('zodbrecipes-no-such-tool', apt='zodbrecipes-pkg')
HERE = tools.Tool('sh', apt='dash')


class SetupStepTests(unittest.TestCase):

    def setUp(self):
        self.calls = []
        self.out = io.StringIO()
        env = {k: v for k, v in os.environ.items()
               if k not in ('CI', tools.INSTALL_SWITCH)}
        for patcher in [
                mock.patch.dict(os.environ, env, clear=True),
                mock.patch.object(tools.subprocess, 'run', self.record),
                mock.patch.object(tools.os, 'geteuid', lambda: self.euid)]:
            patcher.start()
            self.addCleanup(patcher.stop)
        self.euid = 0

    def record(self, argv, **kw):
        self.calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, '', '')

    def ensure(self, *table):
        with mock.patch.dict(tools.TOOLS, {t.name: t for t in table},
                             clear=True):
            return tools.ensure(self.out)

    def test_nothing_missing_nothing_run(self):
        self.assertEqual(self.ensure(HERE), [])
        self.assertEqual(self.calls, [])
        self.assertEqual(self.out.getvalue(), '')

    def test_root_installs_with_apt_get(self):
        # (as root on a machine with apt-get, whatever this one is)
        with mock.patch.object(tools, 'can_install', lambda: None):
            still = self.ensure(HERE, NOWHERE)
        self.assertEqual([argv[:2] + argv[-1:] for argv in self.calls], [
            ['apt-get', '-qq', 'update'],
            ['apt-get', 'install', 'zodbrecipes-pkg']])
        self.assertIn('installing with apt-get: zodbrecipes-pkg (for'
                      ' zodbrecipes-no-such-tool)', self.out.getvalue())
        # The recorder installed nothing: the tool is reported missing.
        self.assertEqual(still, ['zodbrecipes-no-such-tool'])
        self.assertIn('zodbrecipes-no-such-tool not installed (apt-get'
                      ' install zodbrecipes-pkg)', self.out.getvalue())

    def test_not_root_no_apt_get(self):
        self.euid = 1000
        self.assertEqual(self.ensure(NOWHERE), ['zodbrecipes-no-such-tool'])
        self.assertEqual(self.calls, [])
        self.assertIn('not installing zodbrecipes-pkg (not root)',
                      self.out.getvalue())
        self.assertIn('reported as skipped', self.out.getvalue())

    def test_switch_installs_nothing(self):
        os.environ[tools.INSTALL_SWITCH] = 'no'
        pypi = tools.Tool('zodbrecipes-other', pypi='zodbrecipes-dist==1')
        os.environ['ZC_ZODBRECIPES_TOOLS'] = '/nonexistent'
        self.ensure(NOWHERE, pypi)
        self.assertEqual(self.calls, [])
        self.assertIn('not installing zodbrecipes-dist==1 (%s=no)'
                      % tools.INSTALL_SWITCH, self.out.getvalue())

    def test_pypi_tool_goes_to_the_tools_directory(self):
        os.environ['ZC_ZODBRECIPES_TOOLS'] = '/tmp/zodbrecipes-tools'
        pypi = tools.Tool('zodbrecipes-other', pypi='zodbrecipes-dist==1')
        self.ensure(pypi)
        [argv] = self.calls
        self.assertEqual(argv[1:4], ['-m', 'pip', 'install'])
        self.assertEqual(argv[-3:], ['--target', '/tmp/zodbrecipes-tools',
                                     'zodbrecipes-dist==1'])


class RequireTests(unittest.TestCase):

    def setUp(self):
        patcher = mock.patch.dict(tools.TOOLS, {
            NOWHERE.name: NOWHERE, HERE.name: HERE})
        patcher.start()
        self.addCleanup(patcher.stop)

    def test_present(self):
        self.assertTrue(tools.require('sh').endswith('/sh'))

    def test_missing_skips_naming_it(self):
        with mock.patch.dict(os.environ, {'CI': ''}):
            with self.assertRaises(unittest.SkipTest) as caught:
                tools.require('sh', NOWHERE.name)
        self.assertEqual(str(caught.exception),
                         'zodbrecipes-no-such-tool not installed'
                         ' (apt-get install zodbrecipes-pkg)')

    def test_missing_fails_on_ci(self):
        with mock.patch.dict(os.environ, {'CI': 'true'}):
            with self.assertRaises(AssertionError) as caught:
                tools.require(NOWHERE.name)
        self.assertIn('zodbrecipes-no-such-tool not installed',
                      str(caught.exception))
        self.assertNotIsInstance(caught.exception, unittest.SkipTest)
