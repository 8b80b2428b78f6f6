"""The ``zc.zodbrecipes:server`` recipe: a ZEO server run by zdaemon.

A small compiler, in stages, each a module of this package:

1. ``settings``: every option, from one table, parsed into typed values;
2. ``paths``: where the part's files go (plain or deployment layout);
3. ``config``: zeo.conf and zdaemon.conf rendered, validated with ZEO's
   and zdaemon's own schemas and read back into one plain value (address,
   storages, logs, TLS, runner settings);
4. ``outputs``: one function per file the part writes (configuration,
   programs, control script, rc script, logrotate, pack, backup, systemd,
   supervisor), listed in one table.

All of it runs in ``__init__``: buildout creates every recipe before it
uninstalls anything, so a mistake stops the run while the previous
installation (and a running server) is still untouched.  ``install`` only
creates directories and writes the files already rendered.
"""
import logging
import os

import zc.buildout

from zc.zodbrecipes import eggs
from zc.zodbrecipes import files
from zc.zodbrecipes import options as parse
from zc.zodbrecipes import relconf
from zc.zodbrecipes import stamps
from zc.zodbrecipes import talk
from zc.zodbrecipes.server import access
from zc.zodbrecipes.server import config
from zc.zodbrecipes.server import outputs
from zc.zodbrecipes.server import paths
from zc.zodbrecipes.server import settings as table

logger = logging.getLogger('zc.zodbrecipes')
_BACKUP_CLAIMS = '_zc_zodbrecipes_backup_directories'
script_logger = logging.getLogger('zc.buildout.easy_install')


class Build:
    """A part, computed: what install writes and what it publishes."""

    def __init__(self, buildout, part, options):
        opt = parse.Options(part, options)
        try:
            parse.name(part)
        except parse.OptionError as e:
            raise zc.buildout.UserError('[%s]: the part name %s' % (part, e))
        name, deployment, var = table.read_layout_options(opt, part,
                                                          buildout)
        layout = paths.layout(buildout, name, opt, deployment, var)
        settings = table.read(opt, layout)
        # One working set serves every generated program: runzeo, zeopack,
        # repozo and the control script (resolving is most of a run).
        rel_eggs = (opt.get('rel-storage', relconf.needed_eggs)
                    if settings['rel-storage'] else [])
        if settings['migrate-to']:
            rel_eggs += opt.get('migrate-to', relconf.needed_eggs)
        working_set = eggs.working_set(
            buildout, opt, 'eggs',
            ['ZEO', 'zc.zodbrecipes', 'zdaemon'] + settings['eggs']
            + [e for e in dict.fromkeys(rel_eggs)
               if e not in settings['eggs']])
        # A runzeo of another part (3.1's way): zeo.conf's %import-ed
        # packages must resolve where that runzeo finds them.
        runzeo_part, runzeo_path = eggs.program_path(
            buildout, opt, 'runzeo',
            layout.program('runzeo', settings['runzeo'])
        ) if settings['runzeo'] else (None, [])
        server = config.read(opt, settings, layout, working_set,
                             runzeo_path)
        part_ = outputs.Part(buildout, opt, settings, layout, server,
                             working_set)
        if runzeo_part:
            # that part writes it (buildout installs it before this one:
            # program_path made it a dependency)
            part_.written_by['runzeo'] = runzeo_part
        self.files = outputs.render(part_)
        self.claims = part_.claims
        directories = outputs.directories(part_, self.files)
        # install must not fail on what the options say: a directory it
        # could not create, a file where a directory must go
        for (d, mode, owner), option in directories:
            problem = files.unusable_directory(d)
            if problem:
                raise opt.error(option, problem)
        for f in self.files:
            if os.path.isdir(f.path):
                raise opt.error(f.option or 'name', '%s is a directory'
                                % f.path)
        # The server's user must run what install writes, and write where
        # the server writes (as root: the server is switched to that user).
        access.check(
            opt, 'effective-user' if opt.has('effective-user') else
            'user' if opt.has('user') else 'deployment', server.user,
            runzeo_path + list(working_set.entries)
            + [layout.bin, layout.scripts],
            [(d, option) for (d, mode, owner), option in directories
             if owner is not None])
        self.directories = [d for d, option in directories]
        self.published = outputs.published(part_, self.files)
        self.private_keys = server.private_keys

    def install(self):
        """Create the directories, write the files; the paths written."""
        for d, mode, owner in self.directories:
            files.makedirs(d, mode, owner)
        for f in self.files:
            if files.write(f.path, f.text, f.mode) and f.script:
                script_logger.info('Generated script %r.', f.path)
        return [f.path for f in self.files]


class Recipe:

    def __init__(self, buildout, name, options):
        self.buildout, self.part, self.options = buildout, name, options
        # (copy() reads the values without marking them used: buildout's
        # own warning names the options no stage reads)
        given = {k: v for k, v in options.copy().items()
                 if not k.startswith('__')}
        self.given = given
        for option, known in table.near_misses(given):
            logger.warning('[%s] %s is not an option of this recipe: did you'
                           ' mean %s?', name, option, known)
        self.stamp = stamps.Stamp(
            buildout, name, given, [given['deployment']]
            if 'deployment' in given else [],
            # (what an %include-d file holds may have changed)
            cacheable='zeo-conf' not in given and not any(
                '%include' in given.get(k, '')
                for k in ('zeo.conf', 'zdaemon.conf')))
        self.recorded = self.stamp.load()
        self.build = None
        if self.recorded is not None and all(
                os.path.exists(path)
                for _, path in self.recorded['private_keys']):
            # Built from the same options, code and eggs before: publish
            # what that build published; install checks its files.
            options.update(self.recorded['published'])
            table.mark_used(options)
            opt = parse.Options(name, options)
            outputs.claim(buildout, opt, self.recorded.get('claims', ()))
            for option, path in self.recorded['private_keys']:
                parse.check_private_key(opt, option, path)
        else:
            self.recorded = None
            self.compute()
        self.claim_backups()

    def claim_backups(self):
        """A backup directory belongs to one part: two parts writing into
        one repozo repository spoil each other's backups and restores."""
        directory = self.options.get('backup-directory')
        if not directory or not self.options.get('backup-script'):
            return
        claims = getattr(self.buildout, _BACKUP_CLAIMS, None)
        if claims is None:
            claims = {}
            setattr(self.buildout, _BACKUP_CLAIMS, claims)
        other = claims.setdefault(os.path.realpath(directory), self.part)
        if other != self.part:
            raise zc.buildout.UserError(
                '[%s] backup-directory: %s is the backup directory of part'
                ' %s too; each part needs its own' % (
                    self.part, directory, other))

    def compute(self):
        self.build = Build(self.buildout, self.part, self.options)
        self.options.update(self.build.published)
        self.published = {k: v for k, v in self.build.published.items()
                          if self.given.get(k) != v}

    def install(self):
        if self.build is None:
            if self.stamp.intact(self.recorded):
                for d, mode, owner in self.recorded['directories']:
                    files.makedirs(d, mode, owner and tuple(owner))
                return [f[0] for f in self.recorded['files']] + [
                    self.stamp.path]
            # A file changed: build it all again, from the options as
            # given (not those the record published: zeo-conf, for one, is
            # an option of its own too).
            for key in self.recorded['published']:
                if key in self.given:
                    self.options[key] = self.given[key]
                elif key in self.options:
                    del self.options[key]
            self.compute()
        installed = self.build.install()
        return installed + self.stamp.save(
            self.published, installed, self.build.directories,
            self.build.private_keys,
            self.build.claims)

    update = install


def uninstall(name, options):
    """Warn when the part goes away while its server is running."""
    status = talk.query(options.get('socket-name') or '', timeout=2)
    if status:
        pid = status.get('application', '0')
        logger.warning(
            'The server of part %s is still running (daemon manager pid %s,'
            ' server pid %s). It keeps running with the configuration it'
            ' was started with. To stop it after this run: kill %s'
            ' (or restart it with the new control script when the part is'
            ' being reinstalled).', name, status.get('manager', '?'), pid,
            status.get('manager', '?'))
