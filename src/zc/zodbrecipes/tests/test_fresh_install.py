import os
import shutil
import tempfile

from zc.zodbrecipes.tests import harness


def setUp(test):
    tmp = tempfile.mkdtemp(prefix='zodbrecipes-fresh-')
    here = os.getcwd()
    saved = {k: os.environ.get(k) for k in (
        'HOME', 'buildout_testing_index_url', 'PYTHONWARNINGS')}
    # A home of its own: no default.cfg pointing at shared eggs.
    os.environ['HOME'] = os.path.join(tmp, 'home')
    os.mkdir(os.environ['HOME'])
    os.environ.pop('buildout_testing_index_url', None)
    os.environ['PYTHONWARNINGS'] = 'ignore::UserWarning'

    def tear_down():
        harness.stop_servers(tmp)
        os.chdir(here)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(tmp, ignore_errors=True)
    test.globs.update(
        tmp=tmp, join=os.path.join, tear_down=tear_down,
        checkout=os.path.dirname(os.path.dirname(os.path.dirname(
            harness.package))),
        free_port=harness.free_port, run=harness.run,
        commit=harness.commit, read=harness.read)


def tearDown(test):
    test.globs['tear_down']()


def test_suite():
    return harness.suite('fresh-install.txt', setUp=setUp, tearDown=tearDown)
