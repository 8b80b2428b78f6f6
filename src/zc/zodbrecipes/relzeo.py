"""runzeo for a server that serves a RelStorage: open it once, then serve.

ZEO cannot serve an empty RelStorage to its first client: ZODB's DB asks
for the root object, RelStorage answers with a POSKeyError, and ZEO 6.2
cannot pickle that error back ("Couldn't pickle response"), so the client
never learns that it should create the root.  Opening the RelStorage
directly as a database once creates the root (and RelStorage's tables).

That happens here, at every start, rather than when buildout runs: the
database need not be reachable from where buildout runs, and a database
emptied later (a restore drill, a new database behind the same dsn) is
mended by the next start.  On a database that has its root it costs one
load.  When the database cannot be reached the program exits with the
error, as runzeo would, and zdaemon tries again.
"""
import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    from zc.zodbrecipes import runzeo
    runzeo.quiet()
    import ZEO.runzeo
    options = ZEO.runzeo.ZEOOptions()
    options.realize(argv)
    create_roots(options.storages)
    ZEO.runzeo.main(argv)


def create_roots(openers):
    """Open each RelStorage among the storage openers as a database once
    (ZODB creates a missing root), and close it again."""
    import ZODB
    for opener in openers:
        if opener.config.getSectionType() != 'relstorage':
            continue
        storage = opener.open()
        ZODB.DB(storage).close()  # closes the storage too
