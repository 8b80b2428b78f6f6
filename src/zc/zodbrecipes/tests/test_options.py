"""The server recipe's option table against README.txt's option list,
and the package's long description (README plus the tested documents)."""
import os
import re
import sys
import unittest

from zc.zodbrecipes.server import settings

here = os.path.dirname(os.path.abspath(__file__))
top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    here))))
README = os.path.join(top, 'README.txt')


def readme_options():
    """{group title: [option names]} from README.txt's server option list:
    the definition list terms (lines of ``names`` followed by an indented
    definition) under each heading between "Options" and the published
    options."""
    with open(README) as f:
        text = f.read()
    start = text.index('\nOptions\n-------\n')
    end = text.index('Options published for other parts', start)
    lines = text[start:end].splitlines()
    found = {}
    group = None
    for i, line in enumerate(lines):
        if i + 1 < len(lines) and re.fullmatch(r'~+', lines[i + 1]):
            group = found.setdefault(line.strip(), [])
        elif (line.startswith('``') and group is not None
              and lines[i + 1].startswith('    ')):
            # a definition list term: the definition follows, indented
            group.extend(re.findall(r'``([^`]+)``', line))
    return found


class OptionTable(unittest.TestCase):

    def test_readme_lists_every_option_in_its_group(self):
        documented = readme_options()
        self.assertEqual(list(documented), list(settings.GROUPS.values()))
        for key, title in settings.GROUPS.items():
            in_table = [o.name for o in settings.OPTIONS if o.group == key]
            self.assertEqual(sorted(documented[title]), sorted(in_table),
                             'README.txt, %r' % title)

    def test_names_are_unique(self):
        names = [o.name for o in settings.OPTIONS]
        self.assertEqual(len(names), len(set(names)))


class LongDescription(unittest.TestCase):
    """The package page is README.txt, the tested documents and CHANGES,
    and renders as reStructuredText without a warning."""

    def test_tested_documents_are_the_package_page(self):
        import importlib.metadata
        description = importlib.metadata.metadata(
            'zc.zodbrecipes').get_payload()
        package = os.path.dirname(here)
        for document in ('server.txt', 'client.txt', 'deployment.txt'):
            with open(os.path.join(package, document)) as f:
                first = next(line for line in f if line[:1].isalpha())
            self.assertIn(first, description, document)

    def test_it_renders_without_warnings(self):
        import importlib.metadata
        import io
        import docutils.core
        warnings = io.StringIO()
        docutils.core.publish_doctree(
            importlib.metadata.metadata('zc.zodbrecipes').get_payload(),
            settings_overrides=dict(report_level=2, halt_level=5,
                                    warning_stream=warnings))
        self.assertEqual(warnings.getvalue(), '')


class Profile(unittest.TestCase):
    """The zeo-instance profile exists once, and its comment's extends line
    works where the comment says to put the copy (beside buildout.cfg)."""

    def test_one_copy_and_its_extends_line_names_the_copy(self):
        package = os.path.dirname(here)
        self.assertFalse(os.path.exists(os.path.join(top, 'profiles')))
        with open(os.path.join(package, 'profiles', 'zeo-instance.cfg')) as f:
            extends = re.findall(r'^#\s+extends = (\S+)$', f.read(), re.M)
        self.assertEqual(extends, ['zeo-instance.cfg'])


class DefaultBuildout(unittest.TestCase):
    """The checkout's buildout.cfg asks no index on a no-op run: newest is
    off and every distribution the tests run with is pinned."""

    def test_newest_off_and_everything_pinned(self):
        import configparser
        import importlib.metadata
        config = configparser.RawConfigParser()
        config.optionxform = str
        config.read(os.path.join(top, 'buildout.cfg'))
        self.assertEqual(config.get('buildout', 'newest'), 'false')
        import re

        def normal(name):  # PEP 503: prometheus_client, prometheus-client
            return re.sub(r'[-_.]+', '-', name).lower()
        pins = {normal(k): v for k, v in config.items('versions')}
        here_python = 'versions:python%d%d' % sys.version_info[:2]
        if config.has_section(here_python):
            pins.update((normal(k), v) for k, v in config.items(here_python))
        here_eggs = os.path.join(top, 'eggs') + os.sep
        eggs = [d for d in importlib.metadata.distributions()
                if str(getattr(d, '_path', '')).startswith(here_eggs)]
        self.assertTrue(eggs)
        for dist in eggs:
            name = dist.metadata['Name']
            self.assertEqual(pins.get(normal(name)), dist.version, name)
