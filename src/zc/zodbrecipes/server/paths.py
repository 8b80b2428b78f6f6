"""Where a server part's files go: the plain layout (inside the buildout)
and the deployment layout (in a zc.recipe.deployment part's directories).

Every other stage takes paths from a layout and none computes its own.
"""
import os

from zc.zodbrecipes import options as parse
from zc.zodbrecipes.render import cron
from zc.zodbrecipes.render import quoting


class Layout:
    """Where a server part's files go (plain mode: inside the buildout)."""

    deployment = None   # the deployment's name, in deployment mode
    legacy_backups = None  # where an earlier version kept backups
    section = None      # the deployment section, in deployment mode
    rc = logrotate = crontab = None

    def __init__(self, buildout, name, var=None):
        bo = buildout['buildout']
        self.name = name
        self.buildout_options = bo
        self.directory = bo['directory']
        self.bin = bo['bin-directory']
        self.var = var or os.path.join(self.directory, 'var')
        self.etc = os.path.join(bo['parts-directory'], name)
        # Generated Python scripts (runzeo, zeopack, repozo, ctl): buildout
        # writes them again on every install, for the current eggs.
        self.scripts = self.etc
        self.run = os.path.join(self.var, 'run')
        self.log = os.path.join(self.var, 'log')
        self.zeo_conf = os.path.join(self.etc, 'zeo.conf')
        self.zdaemon_conf = os.path.join(self.etc, 'zdaemon.conf')
        self.transcript = os.path.join(self.log, name + '.log')
        self.socket = os.path.join(self.run, name + '-zdaemon.sock')
        self.control = os.path.join(self.bin, name)
        self.workdir = self.directory
        self.user = None
        self.backups = os.path.join(self.var, 'backups', name)

    @property
    def prefix(self):
        """The name of units, programs and cron.d files."""
        if self.deployment:
            return '%s-%s' % (self.deployment, self.name)
        return self.name

    def script(self, what):
        """bin/NAME-what: the pack, backup and restore scripts."""
        return os.path.join(self.bin, '%s-%s' % (self.name, what))

    def program(self, what, given=None):
        """A generated Python program (runzeo, zeopack, repozo, ctl) in the
        scripts directory, unless the user names one."""
        return given or os.path.join(self.scripts, what)

    def crond_file(self, job):
        return os.path.join(self.crontab, cron.crond_filename(
            '%s-%s' % (job, self.prefix)))


class DeploymentLayout(Layout):
    """The files of a part with ``deployment = SECTION``: in the directories
    of a zc.recipe.deployment part (or any section with its options; its
    name, without a ``name`` option, is the section's, as in 3.1).
    """

    # name is optional: a plain section with these options (as 3.1 took)
    # is named by its section name.
    REQUIRED = ('etc-directory', 'rc-directory', 'run-directory',
                'log-directory', 'logrotate-directory', 'crontab-directory',
                'user')

    def __init__(self, buildout, name, opt, section_name, var=None):
        Layout.__init__(self, buildout, name)
        try:
            section = buildout[section_name]
        except KeyError:
            raise opt.error('deployment', 'there is no section %s'
                            % section_name)
        self.section = section
        missing = [k for k in self.REQUIRED if not section.get(k)]
        if missing:
            raise opt.error('deployment', 'section %s has no %s' % (
                section_name, ', '.join(missing)))

        def directory(key):
            value = section[key]
            try:
                if not value.startswith('/'):
                    raise parse.OptionError('%r is not absolute' % value)
                return parse.path(value, '/')
            except parse.OptionError as e:
                raise opt.error('deployment', 'section %s, %s: %s' % (
                    section_name, key, e))
        try:
            self.deployment = parse.name(section.get('name')
                                         or section_name)
            self.user = quoting.user(section['user'])
        except parse.OptionError as e:
            raise opt.error('deployment', 'section %s: %s' % (
                section_name, e))
        self.etc = directory('etc-directory')
        self.rc = directory('rc-directory')
        self.run = directory('run-directory')
        self.log = directory('log-directory')
        self.logrotate = directory('logrotate-directory')
        self.crontab = directory('crontab-directory')
        self.lib = (directory('lib-directory')
                    if section.get('lib-directory') else None)
        if self.lib:
            # Each part its own: before 4.0 every part of the deployment
            # wrote into lib/backups (the restore names it when a storage
            # has no backup in the part's directory).
            self.legacy_backups = os.path.join(self.lib, 'backups')
        if var or self.lib:
            self.var = var or self.lib
            self.backups = os.path.join(self.var, 'backups', name)
        self.zeo_conf = os.path.join(self.etc, name + '-zeo.conf')
        self.zdaemon_conf = os.path.join(self.etc, name + '-zdaemon.conf')
        self.transcript = os.path.join(self.log, name + '-zeo.log')
        self.socket = os.path.join(self.run, name + '-zdaemon.sock')
        self.control = os.path.join(self.rc, self.prefix)
        self.workdir = self.run


def layout(buildout, name, opt, deployment=None, var=None):
    """The layout of server part ``name`` (deployment: a section name;
    var: the ``var`` option, the base of the data and log files)."""
    if deployment:
        return DeploymentLayout(buildout, name, opt, deployment, var)
    return Layout(buildout, name, var)
