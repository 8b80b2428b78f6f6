"""backup.txt: backups and restores of real servers through the generated
scripts (two parts of a deployment, dates, the guard, the drill)."""
import re

import zc.buildout.testing
import zope.testing.renormalizing

from zc.zodbrecipes.tests import harness
from zc.zodbrecipes.tests import test_deployment


def test_suite():
    checker = zope.testing.renormalizing.RENormalizing([
        zc.buildout.testing.normalize_path,
        (re.compile(r'pid \d+'), 'pid N'),
        (re.compile(r'127\.0\.0\.1:\d+'), '127.0.0.1:PORT'),
    ] + test_deployment._names())
    return harness.suite('backup.txt', checker=checker)
