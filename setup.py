import os

from setuptools import find_namespace_packages
from setuptools import setup


def read(*names):
    with open(os.path.join(os.path.dirname(__file__), *names)) as f:
        return f.read()


tests_require = [
    'zc.recipe.deployment',
    'manuel',
    'zope.testing',
    'zope.testrunner',
    'cryptography',
    'zc.zlibstorage',
    'supervisor',
    'docutils',
    # RelStorage: the client recipe's rel-storage option, tested against
    # a PostgreSQL server the tests start (psycopg2-binary is a wheel).
    'relstorage',
    'psycopg2-binary',
]

setup(
    name='zc.zodbrecipes',
    version='4.0.dev0',
    author='zc.zodbrecipes developers',
    description='zc.buildout recipes for ZEO servers and clients',
    # The package page is the tested manual, as zc.recipe.egg's is.
    long_description='\n\n'.join(
        [read('README.txt')]
        + [read('src', 'zc', 'zodbrecipes', document) for document in (
            'server.txt', 'plone.txt', 'client.txt', 'deployment.txt')]
        + [read('CHANGES.txt')]),
    long_description_content_type='text/x-rst',
    license='ZPL 2.1',
    keywords='zodb zeo buildout recipe zdaemon',
    classifiers=[
        'Framework :: Buildout',
        'Framework :: Buildout :: Recipe',
        'Framework :: ZODB',
        'Programming Language :: Python :: 3',
    ],
    python_requires='>=3.10',
    package_dir={'': 'src'},
    packages=find_namespace_packages('src', include=['zc.*']),
    package_data={'zc.zodbrecipes': ['*.txt', 'profiles/*.cfg']},
    include_package_data=True,
    zip_safe=False,
    install_requires=[
        'setuptools',
        'zc.buildout >= 4',
        'zc.recipe.egg >= 2',
        'ZConfig >= 3.6',
        'ZEO >= 5.4',
        # bin/NAME metrics and the metrics endpoint (imported only there).
        'prometheus-client >= 0.17',
        'zdaemon >= 4.4',
    ],
    extras_require={'test': tests_require},
    entry_points={
        'zc.buildout': [
            'server = zc.zodbrecipes.server:Recipe',
            'client = zc.zodbrecipes.client:Recipe',
        ],
        'console_scripts': [
            'zodb-commit-check = zc.zodbrecipes.demo:main',
        ],
        'zc.buildout.uninstall': [
            'server = zc.zodbrecipes.server:uninstall',
        ],
    },
)
