"""Doctests of the client recipe: client.txt and client-tls.txt.

On top of the shared harness, the tests get ZEO servers embedded in the
test process (``start_zeo``), stopped at tear-down also when a test fails,
and TLS certificates made with ``cryptography``.
"""
import datetime
import ipaddress
import logging
import os
import subprocess
import unittest

import zc.buildout

from zc.zodbrecipes.tests import harness
from zc.zodbrecipes.tests import postgres

PROFILE = os.path.join(harness.package, 'profiles', 'zeo-instance.cfg')
RELSTORAGE_PROFILE = os.path.join(harness.package, 'profiles',
                                  'relstorage.cfg')
TIMEOUT = 60  # seconds any one subprocess of a test may take


def run_concurrently(*commands):
    """Start the commands together; return (exit code, output) of each."""
    processes = [subprocess.Popen(
        command, shell=True, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT) for command in commands]
    results = []
    try:
        for p in processes:
            out, _ = p.communicate(timeout=TIMEOUT)
            results.append((p.returncode, out.decode()))
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    return results


def read_text(path):
    with open(path) as f:
        return f.read()


# -- TLS material ------------------------------------------------------------

def make_certificates(directory):
    """Write NAME.pem and NAME.key for a CA (ca.pem only), a server and a
    client certificate it signs, and a rogue client certificate signed by
    another CA.
    """
    from cryptography.x509.oid import ExtendedKeyUsageOID

    ca_key = _key()
    ca = _certificate('Test CA', ca_key, ca=True)
    _save(directory, 'ca', ca)
    for name, purpose, ip in (
            ('server', ExtendedKeyUsageOID.SERVER_AUTH, '127.0.0.1'),
            ('client', ExtendedKeyUsageOID.CLIENT_AUTH, None)):
        key = _key()
        _save(directory, name, _certificate(
            name, key, ca, ca_key, purpose, ip), key)
    rogue_ca_key = _key()
    rogue_ca = _certificate('Rogue CA', rogue_ca_key, ca=True)
    key = _key()
    _save(directory, 'rogue', _certificate(
        'rogue', key, rogue_ca, rogue_ca_key,
        ExtendedKeyUsageOID.CLIENT_AUTH), key)


def encrypt_key(source, destination, password):
    from cryptography.hazmat.primitives import serialization
    with open(source, 'rb') as f:
        key = serialization.load_pem_private_key(f.read(), None)
    with open(os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                      0o600), 'wb') as f:
        f.write(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password.encode())))


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec
    return ec.generate_private_key(ec.SECP256R1())


def _certificate(name, key, issuer=None, issuer_key=None, purpose=None,
                 ip=None, ca=False):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signer = issuer_key or key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                       critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            signer.public_key()), critical=False))
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False),
            critical=True).add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
            critical=False)
    if purpose:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([purpose]), critical=False)
    if ip:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _save(directory, name, certificate, key=None):
    from cryptography.hazmat.primitives import serialization
    with open(os.path.join(directory, name + '.pem'), 'wb') as f:
        f.write(certificate.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path = os.path.join(directory, name + '.key')
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                          0o600), 'wb') as f:
            f.write(key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))


# -- set up and tear down ----------------------------------------------------

def _silence_servers(test):
    # Servers embedded in the test process log (on purpose) refused clients
    # with tracebacks; the tests look at what the clients report instead.
    for name in ('ZEO', 'ZODB'):
        logger = logging.getLogger(name)
        test.globs['register_teardown'](
            lambda logger=logger, level=logger.level: logger.setLevel(level))
        logger.setLevel(logging.CRITICAL)


def setUp(test):
    harness.setUp(test)
    _silence_servers(test)
    stops = test.globs['_zeo_stops'] = []

    def start_zeo(name='server', blobs=True, zeo_conf=None):
        """Start a ZEO server in this process, data in tmpdir(name).

        Returns its address (host:port) and its blob directory.
        """
        import ZEO
        data = test.globs['tmpdir'](name)
        blob_dir = os.path.join(data, 'blobs') if blobs else None
        address, stop = ZEO.server(
            path=os.path.join(data, 'Data.fs'), blob_dir=blob_dir,
            zeo_conf=zeo_conf)
        stops.append(stop)
        return '%s:%s' % address[:2], blob_dir

    test.globs.update(
        start_zeo=start_zeo,
        run_concurrently=run_concurrently,
        make_certificates=make_certificates,
        encrypt_key=encrypt_key,
        read_text=read_text,
        PROFILE=PROFILE,
        RELSTORAGE_PROFILE=RELSTORAGE_PROFILE,
    )


def postgres_setUp(test):
    """setUp, and a PostgreSQL server of the test's own: ``pg``."""
    if postgres.bindir() is None:
        postgres.missing()  # before anything is set up: skip (or fail)
    setUp(test)
    directory = test.globs['tmpdir']('postgres')
    cluster = postgres.Cluster(directory)
    # First of the tear-downs, before the directories are removed; also
    # when start fails half-way.
    test.globs['__tear_downs'].insert(0, cluster.stop)
    cluster.start()
    test.globs['pg'] = cluster


def tearDown(test):
    try:
        for stop in reversed(test.globs['_zeo_stops']):
            stop()
    finally:
        harness.tearDown(test)


class ValidateTests(unittest.TestCase):
    """ZConfig errors name the option a line comes from.

    The recipe's own checks stop what client.txt shows before ZConfig sees
    it, so these errors are provoked directly.
    """

    def validate(self, text, sources):
        from zc.zodbrecipes import client
        from zc.zodbrecipes import options
        with self.assertRaises(zc.buildout.UserError) as caught:
            client.validate(options.Options('instance', {}), text, sources,
                            '/nowhere/zodb.conf')
        return str(caught.exception)

    def test_error_names_the_option_and_the_line(self):
        from zc.zodbrecipes import client
        text, sources = client.render('instance', [], [
            ('server', '127.0.0.1:8100', 'zeo-address'),
            ('cache-size', '20XB', 'cache-size'),
        ], [])
        self.assertEqual(text.splitlines()[7], '    cache-size 20XB')
        self.assertEqual(
            self.validate(text, sources), "[instance] cache-size: line 8:"
            " invalid literal for int() with base 10: '20xb'")

    def test_error_in_a_line_of_no_option(self):
        text = '%import ZEO\n<zodb>\n  <clientstorage>\n  </zodb>\n'
        self.assertEqual(
            self.validate(text, [None] * 4),
            '[instance] zodb.conf: line 4: unbalanced section end')

    def test_no_storage(self):
        text = '%import ZEO\n<zodb>\n</zodb>\n'
        self.assertEqual(
            self.validate(text, [None] * 3),
            '[instance] zodb.conf: the generated text has no storage')


class ByteSizeTests(unittest.TestCase):

    def test_forms_zconfig_reads(self):
        from zc.zodbrecipes.options import byte_size
        self.assertEqual(
            [byte_size(v) for v in ('4096', '500B', '64k', '64KB', '200M',
                                    '200mb', '1 GB', '2TB')],
            ['4096', '500', '64KB', '64KB', '200MB', '200MB', '1GB',
             '2048GB'])

    def test_refuses_what_size_refuses(self):
        from zc.zodbrecipes.options import OptionError, byte_size
        self.assertRaises(OptionError, byte_size, '1.5GB')


def test_suite():
    suite = harness.suite('client.txt', 'client-tls.txt',
                          'client-relstorage.txt', setUp=setUp,
                          tearDown=tearDown)
    suite.addTest(harness.suite('client-postgresql.txt',
                                setUp=postgres_setUp, tearDown=tearDown))
    for case in (ValidateTests, ByteSizeTests):
        suite.addTests(unittest.defaultTestLoader.loadTestsFromTestCase(case))
    return suite
