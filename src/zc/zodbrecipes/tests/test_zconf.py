"""zconf's edits read lines exactly as ZConfig does."""
import io
import os
import unittest

import ZConfig
import zdaemon

from zc.zodbrecipes import zconf


SEPARATORS = ['\u2028', '\u2029', '\x85', '\x0c', '\x0b', '\r', '\x1c']


def zdaemon_user(text):
    schema = ZConfig.loadSchema(os.path.join(
        os.path.dirname(zdaemon.__file__), 'schema.xml'))
    config, _ = ZConfig.loadConfigFile(schema, io.StringIO(text))
    return config.runner.user


class MergeTests(unittest.TestCase):

    def test_a_key_hidden_in_a_comment_is_not_present(self):
        for sep in SEPARATORS:
            text = ('<runner>\n'
                    '  # was: %suser root\n'
                    '  program /bin/true\n'
                    '</runner>\n' % sep)
            merged = zconf.merge_section_keys(text, 'runner',
                                              [('user', 'zope')])
            self.assertEqual(zdaemon_user(merged), 'zope', repr(sep))
            # The user's text is kept as it was.
            self.assertTrue(merged.startswith(text[:-len('</runner>\n')]))

    def test_a_real_key_after_white_space_is_present(self):
        for sep in ('\x0c', '\x85', '\u2028'):
            text = '<runner>\n%suser nobody\n  program /bin/true\n</runner>\n' % sep
            merged = zconf.merge_section_keys(text, 'runner',
                                              [('user', 'zope')])
            self.assertEqual(merged, text, repr(sep))
            self.assertEqual(zdaemon_user(merged), 'nobody')

    def test_lines(self):
        self.assertEqual(zconf.lines('a\u2028b\nc\r\nd'),
                         ['a\u2028b', 'c\r', 'd'])
        self.assertEqual(zconf.lines('a\nb\n', keepends=True),
                         ['a\n', 'b\n'])
        self.assertEqual(zconf.lines(''), [])
