"""The control script's modules: who imports whom, the command names, and
what a fast command imports."""
import ast
import os
import subprocess
import sys
import unittest

import zc.zodbrecipes
from zc.zodbrecipes import commands
from zc.zodbrecipes import zdcontrol


PACKAGE = os.path.dirname(zc.zodbrecipes.__file__)
MODULES = ('ctl', 'commands', 'manager', 'monitor', 'talk', 'zdcontrol')


def imports_of(name):
    """The modules of this package that module name imports, at the top or
    inside a function."""
    with open(os.path.join(PACKAGE, name + '.py')) as f:
        tree = ast.parse(f.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == 'zc.zodbrecipes':
                found.update(a.name for a in node.names)
            elif node.module.startswith('zc.zodbrecipes.'):
                found.add(node.module.split('.')[2])
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith('zc.zodbrecipes.'):
                    found.add(a.name.split('.')[2])
    return found


class ModuleTests(unittest.TestCase):

    def test_talk_is_a_leaf(self):
        self.assertEqual(imports_of('talk'), set())

    def test_no_circle(self):
        graph = {name: imports_of(name) & set(MODULES) for name in MODULES}
        self.assertEqual(graph, {
            'ctl': {'commands', 'monitor', 'zdcontrol'},
            'monitor': {'talk'},
            'zdcontrol': {'commands', 'talk'},
            'commands': {'manager', 'talk'},
            'manager': {'talk'},
            'talk': set(),
        })
        done = set()
        while len(done) < len(graph):
            ready = [n for n in graph if n not in done and graph[n] <= done]
            self.assertTrue(ready, 'a circle among %s' % sorted(
                set(graph) - done))
            done.update(ready)

    def test_every_command_is_a_command_of_the_control_script(self):
        from zc.zodbrecipes import monitor
        for name in commands.COMMANDS:
            if name in commands.MONITOR:
                self.assertIn(name, monitor.COMMANDS)
            else:
                self.assertTrue(hasattr(zdcontrol.Control, 'do_' + name),
                                name)
        self.assertEqual(commands.FAST, ('start', 'stop', 'restart', 'status'))
        self.assertEqual(commands.MONITOR, ('stats', 'check', 'metrics'))

    def test_usage_and_list_name_every_command(self):
        self.assertEqual(
            commands.usage('zeo'),
            'usage: zeo {start|stop|restart|status|stats|check|metrics|fg|'
            'logtail|logreopen|reopen_transcript|kill|show}')
        self.assertEqual(
            commands.command_list(),
            'start, stop, restart, status, stats, check, metrics, fg,'
            ' logtail, logreopen, reopen_transcript, kill or show')


# A control script asked for status or stop of a server that is not running:
# which of the modules it should not need did it import?
_FAST = """
import sys
sys.path[0:0] = [%(src)r]
import zc.zodbrecipes.ctl
try:
    zc.zodbrecipes.ctl.main(dict(name='zeo', address=['127.0.0.1', 1],
                                 address_str='127.0.0.1:1', socket=%(sock)r),
                            [%(command)r])
except SystemExit:
    pass
heavy = ('socket', 'ssl', 're', 'select', 'json', 'zdaemon', 'ZConfig',
         'prometheus_client', 'zc.zodbrecipes.manager',
         'zc.zodbrecipes.monitor', 'zc.zodbrecipes.zdcontrol')
print(sorted(m for m in heavy if m in sys.modules))
"""


class FastPathImportTests(unittest.TestCase):

    def imported(self, command):
        src = os.path.dirname(os.path.dirname(PACKAGE))
        sock = os.path.join(PACKAGE, 'no-such-zdaemon.sock')
        # -S: no site, whose .pth files may import anything.
        out = subprocess.run(
            [sys.executable, '-S', '-c', _FAST % dict(
                src=src, sock=sock, command=command)],
            capture_output=True, text=True, check=True).stdout
        return out.splitlines()[-1]

    def test_status_imports_nothing_heavy(self):
        self.assertEqual(self.imported('status'), '[]')

    def test_stop_imports_nothing_heavy(self):
        self.assertEqual(self.imported('stop'), '[]')


def test_suite():
    suite = unittest.TestSuite()
    for case in (ModuleTests, FastPathImportTests):
        suite.addTests(unittest.defaultTestLoader.loadTestsFromTestCase(case))
    return suite
