"""File modes of what the recipes write, and private TLS keys.

The base buildout of hostile.cfg (a deployment, a server in deployment
mode, a plain server with pack and backup scripts, a client) is installed
with umask 000, so that the modes checked are the ones the recipes set,
not what a careful umask would have made of them:

- scripts are 0755;
- configuration files (zeo.conf, zdaemon.conf, zodb.conf, logrotate,
  cron.d, systemd units) are not writable by group or others;
- blob directories are 0700.

A TLS private key that group or others can read is refused, whether it is
given as ``ssl-key``, inside the ``ssl-certificate`` file, or in the
``<ssl>`` section of a ``zeo.conf`` text; the previous installation stays
as it was.
"""
import os
import shutil
import stat
import tempfile
import unittest

from zc.zodbrecipes.tests import hostile

# What the base installs, relative to the buildout.
RENDERED_SCRIPTS = [
    'bin/plain-pack', 'bin/plain-backup', 'bin/plain-restore',
    'bin/zeo-backup', 'bin/zeo-restore', 'deploy/etc/init.d/app-zeo',
]
SERVER_PYTHON_SCRIPTS = [
    'bin/plain', 'parts/plain/runzeo', 'parts/plain/zeopack',
    'parts/plain/repozo', 'parts/zeo/ctl', 'parts/zeo/runzeo',
    'parts/zeo/zeopack', 'parts/zeo/repozo',
]
CLIENT_SCRIPTS = ['bin/client']
CONFIGURATION = [
    'parts/plain/zeo.conf', 'parts/plain/zdaemon.conf',
    'deploy/etc/app/zeo-zeo.conf', 'deploy/etc/app/zeo-zdaemon.conf',
    'deploy/etc/logrotate.d/app-zeo', 'deploy/etc/cron.d/pack-app-zeo',
    'deploy/etc/cron.d/backup-app-zeo',
    'deploy/etc/systemd/system/app-zeo.service',
    'deploy/etc/systemd/system/app-zeo-pack.service',
    'deploy/etc/systemd/system/app-zeo-pack.timer',
    'deploy/etc/systemd/system/app-zeo-backup.service',
    'deploy/etc/systemd/system/app-zeo-backup.timer',
    'parts/client/zodb.conf',
]
BLOB_DIRECTORIES = ['var/blobstorage', 'deploy/var/lib/app/blobs']
# Directories the server recipe creates (zc.recipe.deployment's own are
# its business) and the client recipe's.
SERVER_DIRECTORIES = [
    'parts/plain', 'parts/zeo', 'var/log', 'var/run', 'var/filestorage',
    'deploy/etc/systemd', 'deploy/etc/systemd/system',
]
CLIENT_DIRECTORIES = ['parts/client', 'var/client']


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class Umask000Layer:
    """The base of hostile.cfg, installed with umask 000."""

    sample = None

    @classmethod
    def setUp(cls):
        base, _ = hostile.read()
        cls.sample = hostile.Sample()
        cls.status, cls.output = cls.sample.run(hostile.render(base),
                                                umask=0)

    @classmethod
    def tearDown(cls):
        cls.sample.close()
        cls.sample = None


class Modes(hostile.OwnsLayer, unittest.TestCase):

    layer = Umask000Layer

    def setUp(self):
        layer = Umask000Layer
        self.assertEqual((layer.status, layer.output), (0, ''),
                         'the base buildout does not install')
        self.sample = layer.sample

    def modes(self, paths):
        return {p: oct(mode(self.sample.path(p))) for p in paths}

    def assertModes(self, paths, expected):
        self.assertEqual(self.modes(paths),
                         {p: oct(expected) for p in paths})

    def assertNotWritableByOthers(self, paths):
        found = self.modes(paths)
        self.assertEqual(
            {p: m for p, m in found.items() if int(m, 8) & 0o022}, {},
            'writable by group or others')
        self.assertEqual(
            {p: m for p, m in found.items() if not int(m, 8) & 0o400}, {},
            'not readable by the owner')

    def test_rendered_scripts_are_0755(self):
        self.assertModes(RENDERED_SCRIPTS, 0o755)

    def test_client_script_is_0755(self):
        self.assertModes(CLIENT_SCRIPTS, 0o755)

    def test_server_python_scripts_are_0755(self):
        self.assertModes(SERVER_PYTHON_SCRIPTS, 0o755)

    def test_configuration_files_are_not_writable_by_others(self):
        self.assertNotWritableByOthers(CONFIGURATION)

    def test_blob_directories_are_private(self):
        self.assertModes(BLOB_DIRECTORIES, 0o700)

    def test_client_directories_are_not_writable_by_others(self):
        self.assertNotWritableByOthers(CLIENT_DIRECTORIES)

    def test_server_directories_are_not_writable_by_others(self):
        self.assertNotWritableByOthers(SERVER_DIRECTORIES)

    def test_every_file_of_the_list_exists(self):
        # The lists above name what the base installs: nothing was
        # renamed under them.
        for path in (RENDERED_SCRIPTS + SERVER_PYTHON_SCRIPTS +
                     CLIENT_SCRIPTS + CONFIGURATION + BLOB_DIRECTORIES +
                     SERVER_DIRECTORIES + CLIENT_DIRECTORIES):
            self.assertTrue(os.path.exists(self.sample.path(path)), path)


# -- TLS private keys --------------------------------------------------------

TLS_BUILDOUT = """\
[buildout]
parts = structured raw

[structured]
recipe = zc.zodbrecipes:server
zeo-address = 18111
blob-storage =
%(structured)s
ssl-authenticate = %(certs)s/ca.pem

[raw]
recipe = zc.zodbrecipes:server
zeo.conf =
   %%define CERTS %(certs)s
   <zeo>
     address 18112
     <ssl>
       %(raw)s
       authenticate $CERTS/ca.pem
     </ssl>
   </zeo>
   <filestorage>
     path var/raw.fs
   </filestorage>
"""

STRUCTURED_KEY = ('ssl-certificate = %(certs)s/s.pem\n'
                  'ssl-key = %(certs)s/s.key')
STRUCTURED_COMBINED = 'ssl-certificate = %(certs)s/s-combined.pem'
RAW_KEY = 'certificate $CERTS/r.pem\n       key $CERTS/r.key'
RAW_COMBINED = 'certificate %(certs)s/r-combined.pem'


class PrivateKeys(unittest.TestCase):

    def setUp(self):
        from zc.zodbrecipes.tests.test_client import make_certificates
        # Outside the sample buildout, whose files the tests compare.
        self.certs = certs = tempfile.mkdtemp(prefix='zodbrecipes-keys-')
        make_certificates(certs)
        # A certificate and key for each part, and each pair in one file.
        for prefix in ('s', 'r'):
            shutil.copy(os.path.join(certs, 'server.pem'),
                        os.path.join(certs, prefix + '.pem'))
            shutil.copy(os.path.join(certs, 'server.key'),
                        os.path.join(certs, prefix + '.key'))
            with open(os.path.join(certs, prefix + '-combined.pem'),
                      'w') as f:
                for name in ('server.pem', 'server.key'):
                    with open(os.path.join(certs, name)) as g:
                        f.write(g.read())
        for name in os.listdir(certs):
            os.chmod(os.path.join(certs, name), 0o600)
        self.sample = hostile.Sample()

    def tearDown(self):
        try:
            self.sample.close()
        finally:
            shutil.rmtree(self.certs, ignore_errors=True)

    def config(self, structured=STRUCTURED_KEY, raw=RAW_KEY):
        values = dict(certs=self.certs)
        return TLS_BUILDOUT % dict(structured=structured % values,
                                   raw=raw % values, **values)

    def install(self, text):
        status, output = self.sample.run(text, umask=0)
        self.assertEqual((status, output), (0, ''))
        return self.sample.snapshot()

    def assertRefused(self, text, key, file_mode, expected):
        """With the key file at file_mode, buildout fails with the expected
        message and changes nothing; at 0600 it installs."""
        before = self.sample.snapshot()
        os.chmod(os.path.join(self.certs, key), file_mode)
        status, output = self.sample.run_here(text)
        self.assertNotEqual(status, 0, output)
        self.assertNotIn('Traceback', output)
        expected = expected.replace('CERTS', self.certs) + (
            ' is readable by group or others (mode %s): a TLS private key'
            ' must be private (chmod 600)' % oct(file_mode))
        self.assertIn('Error: ' + expected, output)
        self.assertEqual(
            hostile.differences(before, self.sample.snapshot()), [])
        os.chmod(os.path.join(self.certs, key), 0o600)
        self.install(text)

    def test_keys_given_apart(self):
        text = self.config()
        self.install(text)
        for path in ('parts/structured/zeo.conf', 'parts/raw/zeo.conf'):
            with open(self.sample.path(path)) as f:
                self.assertIn('key ', f.read())
        self.assertRefused(text, 's.key', 0o644,
                           '[structured] ssl-key: CERTS/s.key')
        self.assertRefused(text, 's.key', 0o640,
                           '[structured] ssl-key: CERTS/s.key')
        self.assertRefused(text, 'r.key', 0o604,
                           '[raw] zeo.conf: CERTS/r.key')
        self.assertRefused(text, 'r.key', 0o640,
                           '[raw] zeo.conf: CERTS/r.key')

    def test_keys_inside_the_certificate_files(self):
        text = self.config(STRUCTURED_COMBINED, RAW_COMBINED)
        self.install(text)
        for path in ('parts/structured/zeo.conf', 'parts/raw/zeo.conf'):
            with open(self.sample.path(path)) as f:
                self.assertNotIn('key ', f.read())
        self.assertRefused(text, 's-combined.pem', 0o644,
                           '[structured] ssl-certificate:'
                           ' CERTS/s-combined.pem')
        self.assertRefused(text, 'r-combined.pem', 0o640,
                           '[raw] zeo.conf: CERTS/r-combined.pem')

    def test_a_readable_certificate_is_fine_with_a_private_key(self):
        os.chmod(os.path.join(self.certs, 's.pem'), 0o644)
        os.chmod(os.path.join(self.certs, 'r.pem'), 0o644)
        self.install(self.config())


def test_suite():
    suite = unittest.TestSuite()
    for case in (Modes, PrivateKeys):
        suite.addTests(unittest.defaultTestLoader.loadTestsFromTestCase(case))
    return suite
