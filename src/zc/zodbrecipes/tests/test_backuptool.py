"""backuptool's blob snapshots on generated blob directories: what a
snapshot holds, what it links and copies, and the directory a restore
rebuilds from it (flat snapshots and the tree snapshots made before)."""
import os
import shutil
import tempfile
import unittest

from zc.zodbrecipes import backuptool

FIRST = '2024-01-01-00-00-00'
SECOND = '2024-01-02-00-00-00'


def files(top):
    """{relative path: content} of the files under top, tmp/ left out."""
    found = {}
    for d, dirs, names in os.walk(top):
        relative = os.path.relpath(d, top)
        if relative.split(os.sep)[0] == 'tmp':
            continue
        for n in names:
            with open(os.path.join(d, n), 'rb') as f:
                found[os.path.normpath(os.path.join(relative, n))] = f.read()
    return found


def inodes(top):
    return {os.lstat(os.path.join(d, n)).st_ino
            for d, dirs, names in os.walk(top) for n in names}


class SnapshotTests(unittest.TestCase):

    def setUp(self):
        self.top = tempfile.mkdtemp(prefix='backuptool-test-')
        self.addCleanup(shutil.rmtree, self.top)
        self.blobs = os.path.join(self.top, 'blobs')
        self.snapshots = os.path.join(self.top, 'snapshots')
        for i in range(30):
            self.write('0x00/0x%02x/0x%016x.blob' % (i % 7, i), b'%d' % i)
        self.write('.layout', b'bushy\n')
        self.write('tmp/upload-in-progress', b'not committed')
        # Names with the characters the flat names escape.
        self.write('odd+name/a%2Bb+c%25', b'odd')

    def write(self, relative, data):
        path = os.path.join(self.blobs, relative)
        os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
        with open(path, 'wb') as f:
            f.write(data)

    def snapshot(self, stamp):
        backuptool.snapshot(self.blobs, self.snapshots, stamp)
        return os.path.join(self.snapshots, stamp)

    def restore(self, snapshot, link=False):
        target = os.path.join(self.top, 'restored-%d' % len(
            os.listdir(self.top)))
        backuptool.copy(snapshot, target, link=link)
        return target

    def change(self):
        """A new revision of one object, another removed (a pack)."""
        self.write('0x00/0x01/0x00000000000000ffnew.blob', b'new')
        os.remove(os.path.join(self.blobs, '0x00/0x02/0x0000000000000002.blob'))

    def test_restore_brings_back_every_file(self):
        first = self.snapshot(FIRST)
        self.assertEqual(files(self.restore(first)), files(self.blobs))
        self.change()
        second = self.snapshot(SECOND)
        restored = self.restore(second)
        self.assertEqual(files(restored), files(self.blobs))
        self.assertTrue(os.path.isdir(os.path.join(restored, 'tmp')))
        self.assertEqual(os.listdir(os.path.join(restored, 'tmp')), [])
        # The first snapshot still restores as it was.
        self.assertIn('0x00/0x02/0x0000000000000002.blob',
                      files(self.restore(first)))

    def test_second_snapshot_links_unchanged_and_copies_new(self):
        first = self.snapshot(FIRST)
        self.change()
        second = self.snapshot(SECOND)
        old = inodes(first)
        new = {n: os.lstat(os.path.join(second, n)).st_ino
               for n in os.listdir(second) if n != backuptool.FLAT}
        copied = sorted(n for n, ino in new.items() if ino not in old)
        self.assertEqual(copied, ['0x00+0x01+0x00000000000000ffnew.blob'])
        self.assertEqual(len(new), len(files(self.blobs)))
        self.assertNotIn('0x00+0x02+0x0000000000000002.blob', new)

    def test_a_changed_file_is_copied_not_linked(self):
        first = self.snapshot(FIRST)
        path = os.path.join(self.blobs, '0x00/0x03/0x0000000000000003.blob')
        with open(path, 'wb') as f:
            f.write(b'other content')
        second = self.snapshot(SECOND)
        name = '0x00+0x03+0x0000000000000003.blob'
        self.assertNotEqual(os.stat(os.path.join(first, name)).st_ino,
                            os.stat(os.path.join(second, name)).st_ino)
        self.assertEqual(files(self.restore(second)), files(self.blobs))

    def test_flat_names(self):
        snapshot = self.snapshot(FIRST)
        names = os.listdir(snapshot)
        self.assertIn('odd%2Bname+a%252Bb%2Bc%2525', names)
        self.assertIn('.layout', names)
        self.assertFalse([n for n in names if n.startswith('tmp')])
        with open(os.path.join(snapshot, backuptool.FLAT)) as f:
            self.assertIn('bin/NAME-restore rebuilds', f.read())

    def test_a_damaged_name_is_refused(self):
        snapshot = self.snapshot(FIRST)
        with open(os.path.join(snapshot, '0x00+..+x'), 'w'):
            pass
        with self.assertRaises(backuptool.Failed):
            self.restore(snapshot)

    def test_drill_copy_links(self):
        snapshot = self.snapshot(FIRST)
        restored = self.restore(snapshot, link=True)
        self.assertEqual(files(restored), files(self.blobs))
        self.assertLessEqual(inodes(restored), inodes(snapshot))

    def test_tree_snapshot_restores_and_is_linked_from(self):
        # A snapshot made before snapshots were flat: a copy of the tree.
        tree = os.path.join(self.snapshots, FIRST)
        os.makedirs(self.snapshots)
        backuptool._tree(self.blobs, tree, None)
        self.assertEqual(files(self.restore(tree)), files(self.blobs))
        self.change()
        second = self.snapshot(SECOND)
        self.assertEqual(files(self.restore(second)), files(self.blobs))
        old = inodes(tree)
        new = inodes(second)
        # Only the new blob and the marker are new inodes.
        self.assertEqual(len(new - old), 2)

    def test_again_is_a_no_op(self):
        first = self.snapshot(FIRST)
        before = inodes(first)
        self.change()
        self.snapshot(FIRST)
        self.assertEqual(inodes(first), before)
