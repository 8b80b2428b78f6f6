"""monitor.txt: status without log lines, stats, check, metrics (over
HTTP too), over TCP, IPv6, a unix socket and TLS."""
from zc.zodbrecipes.tests import harness
from zc.zodbrecipes.tests import test_client


def test_suite():
    return harness.suite('monitor.txt', setUp=test_client.setUp,
                         tearDown=test_client.tearDown)
