from zc.zodbrecipes.tests import harness
from zc.zodbrecipes.tests import test_client


def test_suite():
    suite = harness.suite('server.txt', 'start.txt', 'plone.txt')
    suite.addTest(harness.suite('server-relstorage.txt', 'migrate.txt',
                                'relstorage-backup.txt',
                                setUp=test_client.postgres_setUp,
                                tearDown=test_client.tearDown))
    return suite
