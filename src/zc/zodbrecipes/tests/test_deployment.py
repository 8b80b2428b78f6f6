import grp
import os
import pwd
import re

import zc.buildout.testing
import zope.testing.renormalizing

from zc.zodbrecipes.tests import harness
from zc.zodbrecipes.tests import tools

# The programs deployment.txt runs (see tests/tools.py).
NEEDS = ('logrotate', 'crontab', 'shellcheck', 'systemd-analyze', 'flock')


def setUp(test):
    tools.require(*NEEDS)  # before anything needs undoing
    harness.setUp(test)


def _names():
    """The user and group running the tests, as the documentation shows
    them (USER, GROUP)."""
    pw = pwd.getpwuid(os.getuid())
    try:
        group = grp.getgrgid(pw.pw_gid).gr_name
    except KeyError:
        group = pw.pw_name
    return [
        (re.compile(r'su %s %s\b' % (re.escape(pw.pw_name),
                                     re.escape(group))), 'su USER GROUP'),
        (re.compile(r'0640 %s %s\b' % (re.escape(pw.pw_name),
                                       re.escape(group))),
         '0640 USER GROUP'),
        (re.compile(r'(\* \S+|user|User=) ?%s\b' % re.escape(pw.pw_name)),
         lambda m: m.group(0)[:-len(pw.pw_name)] + 'USER'),
    ]


def test_suite():
    checker = zope.testing.renormalizing.RENormalizing([
        zc.buildout.testing.normalize_path,
        (re.compile(r'pid \d+'), 'pid N'),
        (re.compile(r'127\.0\.0\.1:\d+'), '127.0.0.1:PORT'),
    ] + _names())
    return harness.suite('deployment.txt', checker=checker, setUp=setUp)
