from zc.zodbrecipes.tests import harness


def test_suite():
    return harness.suite('server.txt', 'start.txt', 'plone.txt')
