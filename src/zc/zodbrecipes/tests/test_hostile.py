"""Every case of the hostile-input corpus (hostile.cfg), end to end.

One sample buildout holds a good installation (hostile.cfg's BASE: a
deployment, a server in deployment mode with pack, backup and systemd
units, a plain server with pack and backup scripts, and a client).  Then,
for every case, buildout runs with the case merged into BASE, and:

- a case that must fail exits non-zero, prints ``Error:`` and its message
  and no traceback, and leaves every file and directory of the buildout
  exactly as it was (no file added or removed, same content, mode and
  mtime);
- a case that is accepted succeeds, and its payload appears only in the
  ZConfig files (escaped) or Python strings the case names (or inside the
  strings of a JSON bookkeeping file), never in a shell script, crontab or
  unit; the generated control and init scripts and the cron lines run
  without executing it; the shell scripts pass shellcheck and the cron.d
  files ``crontab -n``;
- in neither case does the payload's file (``@PWNED@``) come to exist.

The failing cases run buildout's ``main`` in this process (see
``hostile.Sample.run_here``); every tenth one also runs in a subprocess,
and both must print the same error.  The base installation and the
accepted cases always run in a subprocess.
"""
import ast
import os
import shutil
import subprocess
import tempfile
import unittest

from zc.zodbrecipes import validate_tools
from zc.zodbrecipes import zconf
from zc.zodbrecipes.tests import hostile
from zc.zodbrecipes.tests import tools

# Every Nth failing case also runs in a subprocess, as a check that running
# buildout in this process shows what a user sees.
CROSS_CHECK = 10

# Generated files the payload must never reach (relative to the buildout).
GENERATED = ('bin', 'parts', 'deploy')

# Control scripts of the base: (script, arguments) run for accepted cases.
CONTROL = [
    ('bin/plain', ['status']),
    ('bin/plain', ['show', 'all']),
    ('deploy/etc/init.d/app-zeo', ['status']),
]


class Layer:
    """One sample buildout for all the tests (a zope.testrunner layer)."""

    sample = None
    done = set()  # cron lines run and files checked already

    @classmethod
    def setUp(cls):
        cls.done = set()
        cls.base, cls.cases = hostile.read()
        cls.sample = hostile.Sample()
        cls.pwned_dir = tempfile.mkdtemp(prefix='zodbrecipes-hostile-')
        cls.pwned = os.path.join(cls.pwned_dir, 'PWNED')

    @classmethod
    def tearDown(cls):
        try:
            cls.sample.close()
        finally:
            cls.sample = None
            shutil.rmtree(cls.pwned_dir, ignore_errors=True)


class HostileInput(hostile.OwnsLayer, unittest.TestCase):

    layer = Layer

    def setUp(self):
        for name in ('base', 'cases', 'sample', 'pwned_dir', 'pwned'):
            setattr(self, name, getattr(Layer, name))
        self.tools_reported = False

    # -- helpers -------------------------------------------------------------

    def executed(self):
        """Problems if the payload ran (it creates self.pwned)."""
        if not os.path.exists(self.pwned):
            return []
        os.remove(self.pwned)
        return ['the payload was executed (%s exists)' % self.pwned]

    def install_base(self):
        status, output = self.sample.run(hostile.render(self.base))
        if status or 'Error' in output or 'Traceback' in output:
            self.fail('the base buildout of hostile.cfg does not install'
                      ' (exit status %s):\n%s' % (status, output))
        return self.sample.snapshot()

    def render(self, case):
        return hostile.render(self.base, case, self.pwned)

    def payload_files(self):
        """Relative paths of the generated files holding the payload."""
        found = []
        for top in GENERATED:
            for root, dirs, files in os.walk(self.sample.path(top)):
                for name in files:
                    path = os.path.join(root, name)
                    if not os.path.isfile(path):
                        continue
                    with open(path, 'rb') as f:
                        if self.pwned.encode() in f.read():
                            found.append(os.path.relpath(
                                path, self.sample.directory))
        return sorted(found)

    def expected(self, case):
        return [e.replace('@PWNED@', self.pwned) for e in case.errors]

    def error_problems(self, case, status, output):
        problems = []
        if not status:
            problems.append('buildout succeeded (exit status 0)')
        if 'Traceback' in output:
            problems.append('the output holds a traceback')
        if 'Error:' not in output:
            problems.append('the output has no "Error:"')
        for text in self.expected(case):
            if text not in output:
                problems.append('the output lacks %r' % text)
        return problems

    @staticmethod
    def report(case, problems, output):
        return '%s:\n  %s\n--- output:\n%s' % (
            case.where(), '\n  '.join(problems), output.rstrip())

    # -- the corpus itself ---------------------------------------------------

    def test_corpus(self):
        names = [c.name for c in self.cases]
        self.assertEqual(sorted(set(names)), sorted(names),
                         'case names must be unique')
        failing = [c for c in self.cases if c.errors]
        accepted = [c for c in self.cases if c.accepted]
        self.assertGreaterEqual(len(failing), 50)
        self.assertGreaterEqual(len(accepted), 3)
        for case in self.cases:
            self.assertNotEqual(bool(case.errors), case.accepted,
                                '%s: give either !error or !accepted'
                                % case.where())
            self.assertNotIn('?', case.errors, case.where())
            self.assertEqual(bool(case.quoted_in), case.accepted,
                             '%s: an accepted case names the files its'
                             ' payload may appear in (!quoted-in)'
                             % case.where())
            self.assertTrue(case.sections, case.where())
            # A case that changes nothing would test the base.
            text = self.render(case)
            self.assertNotEqual(text, hostile.render(self.base),
                                case.where())

    # -- failing cases -------------------------------------------------------

    def test_failing_cases(self):
        before = self.install_base()
        failures = []
        failing = [c for c in self.cases if c.errors]
        for n, case in enumerate(failing):
            if case.root_only and os.geteuid() != 0:
                continue
            text = self.render(case)
            status, output = self.sample.run_here(text)
            problems = self.error_problems(case, status, output)
            if n % CROSS_CHECK == 0:
                sub_status, sub_output = self.sample.run(text)
                here = [l for l in output.splitlines()
                        if l.startswith('Error:')]
                there = [l for l in sub_output.splitlines()
                         if l.startswith('Error:')]
                if here != there or bool(status) != bool(sub_status):
                    problems.append(
                        'in a subprocess buildout exits with %s and prints'
                        ' %r (in this process: %s, %r)' % (
                            sub_status, there, status, here))
            after = self.sample.snapshot()
            changes = hostile.differences(before, after)
            if changes:
                problems.append('the installation changed:\n    '
                                + '\n    '.join(changes))
            payload = self.payload_files()
            if payload:
                problems.append('the payload is in %s' % ', '.join(payload))
            problems += self.executed()
            if problems:
                failures.append(self.report(case, problems, output))
                if changes or payload:
                    before = self.install_base()
        if failures:
            self.fail('%d of %d failing cases of hostile.cfg went wrong:\n\n'
                      % (len(failures), len(failing))
                      + '\n\n'.join(failures))

    # -- accepted cases ------------------------------------------------------

    def test_accepted_cases(self):
        failures = []
        accepted = [c for c in self.cases if c.accepted]
        for case in accepted:
            if case.root_only and os.geteuid() != 0:
                continue
            self.install_base()
            status, output = self.sample.run(self.render(case))
            problems = []
            if status or 'Error' in output or 'Traceback' in output:
                problems.append('buildout failed (exit status %s)' % status)
            else:
                problems += self.accepted_problems(case)
            problems += self.executed()
            if problems:
                failures.append(self.report(case, problems, output))
        if failures:
            self.fail('%d of %d accepted cases of hostile.cfg went wrong:\n\n'
                      % (len(failures), len(accepted))
                      + '\n\n'.join(failures))

    def accepted_problems(self, case):
        problems = []
        payload = self.payload_files()
        for path in payload:
            if path.endswith('.json') and path not in case.quoted_in:
                # Bookkeeping (the stamps of server parts): data, read by
                # no shell; the payload must be inside JSON strings.
                problems += self.json_problems(path)
            elif path not in case.quoted_in:
                problems.append('the payload is in %s' % path)
        if not set(payload) & set(case.quoted_in):
            problems.append('the payload is in none of %s: the case tests'
                            ' nothing' % ', '.join(case.quoted_in))
        for path in case.quoted_in:
            if path not in payload:
                continue
            with open(self.sample.path(path)) as f:
                text = f.read()
            if path.endswith('.conf'):
                problems += self.zconfig_problems(path, text)
            else:
                problems += self.python_problems(path, text)
        problems += self.run_generated()
        problems += self.tool_problems()
        return problems

    def zconfig_problems(self, path, text):
        """The payload in a ZConfig file: every "$" escaped, and the file
        loads with its schema."""
        problems = []
        if '$' in text.replace('$$', ''):
            problems.append('%s holds an unescaped "$"' % path)
        if path.endswith('zodb.conf'):
            from zc.zodbrecipes import client
            schema = client.db_schema()
        elif path.endswith('zdaemon.conf'):
            schema = zconf.zdaemon_schema()
        else:
            schema = zconf.zeo_schema()
        try:
            zconf.load(schema, text, self.sample.path(path))
        except zconf.ConfigError as e:
            problems.append('%s does not load: %s' % (path, e.describe(path)))
        if self.pwned not in text.replace('$$', '$'):
            problems.append('%s does not hold the payload as written' % path)
        return problems

    def json_problems(self, path):
        import json
        with open(self.sample.path(path)) as f:
            text = f.read()
        try:
            data = json.loads(text)
        except ValueError as e:
            return ['%s is not JSON: %s' % (path, e)]

        def strings(value):
            if isinstance(value, str):
                yield value
            elif isinstance(value, dict):
                for k, v in value.items():
                    yield from strings(k)
                    yield from strings(v)
            elif isinstance(value, list):
                for v in value:
                    yield from strings(v)
        in_strings = sum(s.count(self.pwned) for s in strings(data))
        if in_strings != text.count(self.pwned):
            return ['%s holds the payload outside JSON strings' % path]
        return []

    def python_problems(self, path, text):
        """The payload in a Python script: only inside string literals."""
        try:
            tree = ast.parse(text)
        except SyntaxError as e:
            return ['%s is not Python: %s' % (path, e)]
        in_strings = sum(
            node.value.count(self.pwned) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str))
        if not in_strings or in_strings != text.count(self.pwned):
            return ['%s holds the payload outside string literals' % path]
        return []

    def run_generated(self):
        """Run the control scripts and the cron lines; None may execute the
        payload (the caller checks the file)."""
        problems = []
        for script, args in CONTROL:
            path = self.sample.path(script)
            try:
                subprocess.run([path] + args, cwd=self.pwned_dir,
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=60)
            except (OSError, subprocess.TimeoutExpired) as e:
                problems.append('%s %s: %s' % (script, ' '.join(args), e))
        crond = self.sample.path('deploy', 'etc', 'cron.d')
        for name in sorted(os.listdir(crond)):
            for command in cron_commands(os.path.join(crond, name)):
                if command in Layer.done:
                    continue  # the same line ran for an earlier case
                Layer.done.add(command)
                # Expansions happen before the job's program starts: a
                # second is plenty for a payload to run.
                subprocess.run(['timeout', '1', 'sh', '-c', command],
                               cwd=self.pwned_dir, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        return problems

    def tool_problems(self):
        """shellcheck on every generated /bin/sh script, crontab -n on the
        cron.d files.  Where a tool is missing, this part of the test is
        reported once per test as a skipped subtest naming it (on CI:
        failed), and the rest of the test goes on."""
        if all(tools.find(name) for name in ('shellcheck', 'crontab')):
            return self._tool_problems()
        if not self.tools_reported:
            self.tools_reported = True
            with self.subTest('shellcheck, crontab -n'):
                tools.require('shellcheck', 'crontab')
        return []

    def _tool_problems(self):
        problems = []
        checks = []
        for top in GENERATED:
            for root, dirs, files in os.walk(self.sample.path(top)):
                for name in files:
                    path = os.path.join(root, name)
                    with open(path, 'rb') as f:
                        head = f.read(10)
                    if head.startswith(b'#!/bin/sh'):
                        checks.append((path, validate_tools.shellcheck, {}))
        crond = self.sample.path('deploy', 'etc', 'cron.d')
        for name in os.listdir(crond):
            checks.append((os.path.join(crond, name),
                           validate_tools.crontab_check, dict(crond=True)))
        for path, check, kw in checks:
            with open(path) as f:
                text = f.read()
            if (check, text) in Layer.done:
                continue  # checked for an earlier case
            Layer.done.add((check, text))
            try:
                check(text, **kw)
            except validate_tools.Invalid as e:
                problems.append('%s: %s' % (
                    os.path.relpath(path, self.sample.directory), e))
        return problems


def cron_commands(path):
    """The commands of a cron.d file (after the five time fields and the
    user, or after an @-shorthand and the user)."""
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith('#') or '=' in line.split()[0]:
                continue
            fields = 2 if line.startswith('@') else 6
            yield line.split(None, fields)[fields]


def test_suite():
    return unittest.defaultTestLoader.loadTestsFromTestCase(HostileInput)
