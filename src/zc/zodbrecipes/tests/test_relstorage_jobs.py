"""The renderers of the jobs of a server part serving a RelStorage."""
import unittest

from zc.zodbrecipes import schedule
from zc.zodbrecipes.options import OptionError
from zc.zodbrecipes.render import commandline
from zc.zodbrecipes.render import cron
from zc.zodbrecipes.render import systemd


class ZodbpackTests(unittest.TestCase):

    def test_crontab_line_locks_like_the_zeo_job(self):
        [(storage, argv)] = commandline.zodbpack_commands(
            'zeo', '/b/parts/zeo/zodbpack', '/b/parts/zeo/zodbpack.conf',
            'main', '/b/var/run', 3)
        self.assertEqual(storage, 'main')
        self.assertEqual(argv, [
            '/usr/bin/flock', '-n', '-E', '75', '/b/var/run/zeo-pack-main.lock',
            '/b/parts/zeo/zodbpack', '-d', '3', '/b/parts/zeo/zodbpack.conf'])
        # The ZEO job of a storage of that name takes the same lock.
        [(_, zeo)] = commandline.pack_commands(
            'zeo', '/b/zeopack', '127.0.0.1:8100', ['main'], '/b/var/run')
        self.assertEqual(zeo[4], argv[4])
        text = cron.crontab(schedule.parse('0 3 * * 6'), [argv], user='zeo')
        self.assertEqual(text.splitlines()[-1], '0 3 * * 6 zeo ' + ' '.join(
            argv))

    def test_systemd_units(self):
        units = systemd.zodbpack_units(
            'zeo', schedule.parse('0 3 * * 6'), '/b/parts/zeo/zodbpack',
            '/b/parts/zeo/zodbpack.conf', '1', '/b/var/run', 2,
            user='zope', writable=['/b/var/blobs'])
        self.assertEqual(sorted(units), ['zeo-pack.service', 'zeo-pack.timer'])
        service = units['zeo-pack.service'].splitlines()
        self.assertIn('ExecStart=/usr/bin/flock -n -E 75'
                      ' /b/var/run/zeo-pack-1.lock /b/parts/zeo/zodbpack'
                      ' -d 2 /b/parts/zeo/zodbpack.conf', service)
        self.assertIn('ReadWritePaths=/b/var/run /b/var/blobs', service)
        self.assertIn('User=zope', service)

    def test_refuses_relative_and_odd_paths(self):
        self.assertRaises(OptionError, commandline.zodbpack_argv,
                          'zodbpack', '/b/zodbpack.conf')
        self.assertRaises(OptionError, commandline.zodbpack_argv,
                          '/b/zodbpack', '/b/x\n0 * * * * root sh')


class PgBackupTests(unittest.TestCase):
    """render/pgbackup.py: the password file and the backup script."""

    params = dict(host='127.0.0.1', port='5432', dbname='zodb', user='zope',
                  password='a:b\\c')

    def test_password_file_escapes_and_matches_any_database(self):
        from zc.zodbrecipes.render import pgbackup
        self.assertEqual(pgbackup.pgpass(self.params),
                         '127.0.0.1:5432:*:zope:a\\:b\\\\c\n')
        self.assertEqual(pgbackup.pgpass(dict(dbname='zodb', password='p')),
                         '*:*:*:*:p\n')
        self.assertIsNone(pgbackup.pgpass(dict(dbname='zodb')))
        self.assertRaises(OptionError, pgbackup.pgpass,
                          dict(password='a\nb'))

    def test_conninfo_leaves_the_password_out(self):
        from zc.zodbrecipes.render import pgbackup
        self.assertEqual(pgbackup.conninfo(self.params),
                         "dbname='zodb' host='127.0.0.1' port='5432'"
                         " user='zope'")

    def test_script_quotes_every_value(self):
        from zc.zodbrecipes.render import pgbackup
        hostile = dict(self.params, dbname="x'; touch /tmp/owned; '$(id)`")
        text = pgbackup.backup_script(
            'zeo', '/usr/bin/pg_dump', '/b/parts/zeo/backuptool', '1',
            '/b/var/blobs', '/b/var/backups/zeo', hostile,
            pgpass_file='/b/parts/zeo/pgpass', keep=3, lock_dir='/b/var/run')
        self.assertNotIn('a:b', text)
        line = [l for l in text.splitlines() if l.startswith('conninfo=')][0]
        import shlex
        self.assertEqual(shlex.split(line[len('conninfo='):]),
                         [pgbackup.conninfo(hostile)])
        self.assertIn("lock='/b/var/run/zeo-pack-1.lock'", text)
        self.assertIn('keep=3\n', text)
        self.assertRaises(OptionError, pgbackup.backup_script, 'zeo',
                          'pg_dump', '/b/tool', '1', None, '/b/backups',
                          self.params)
        self.assertRaises(OptionError, pgbackup.backup_script, 'zeo',
                          '/b/pg_dump\n* * * * * root sh', '/b/tool', '1',
                          None, '/b/backups', self.params)
