"""`DirectoryNode`: a mutable directory over an SDMF or MDMF file (spec/tahoe-dirnode.md 5).

Every change is a `modify()` of the backing file: the modifier unpacks the
freshly read body, applies the change and repacks, so it may run several
times after uncoordinated writes and must stay idempotent. Untouched
entries are written back verbatim. Read-only directories refuse changes
with `NotWriteableError` before touching the grid.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor
from typing import Any, Literal, TypeAlias

from ..grid import StorageBroker
from ..mutable.caps import Format, MutableReadCap, MutableVerifyCap, MutableWriteCap
from ..mutable.formats import Version
from ..mutable.keys import KeyPair
from ..mutable.node import Backoff, MutableFileNode, default_backoff
from ..uri import CHKReadCap, CHKVerifyCap, LiteralCap
from .caps import DirectoryCap
from .children import Child, Listing, known_child, list_body, make_child, visible_children
from .errors import ChildOfWrongTypeError, ExistingChildError, NoSuchChildError, NotWriteableError
from .format import Entry, normalize, pack_children, unpack_children, update_metadata

Overwrite = bool | Literal["only-files"]
ReadImmutable = Callable[[CHKReadCap], Awaitable[bytes]]
UploadImmutable = Callable[[bytes], Awaitable[LiteralCap | CHKReadCap]]
Node: TypeAlias = "DirectoryNode | MutableFileNode | Child"


def _check_overwrite(entries: Mapping[str, Entry], name: str, overwrite: Overwrite) -> None:
    if name not in entries or overwrite is True:
        return
    if overwrite == "only-files":
        e = entries[name]
        if not make_child(e.rw_uri, e.ro_uri).is_directory:
            return
    raise ExistingChildError(f"child {name!r} already exists")


def _child_of(node: Node) -> Child:
    if isinstance(node, Child):
        return node
    return known_child(node.cap)


def _entry(name: str, child: Child, metadata: dict[str, Any]) -> Entry:
    if metadata.get("no-write"):
        child = child.readonly()
    if child.error is not None:
        raise ValueError(f"cannot store child {name!r}: {child.error}")
    return Entry(name, child.ro_uri, child.rw_uri, metadata)


class DirectoryNode:
    def __init__(
        self,
        cap: DirectoryCap,
        filenode: MutableFileNode | None = None,
        clock: Callable[[], float] = time.time,
        read_immutable: ReadImmutable | None = None,
        upload_immutable: UploadImmutable | None = None,
    ) -> None:
        """`filenode` backs a mutable directory; `read_immutable` (e.g. `Client.read_bytes`)
        fetches the body of a DIR2-CHK one. LIT directories need neither.
        `upload_immutable` stores the data `add_file` is given."""
        if cap.is_mutable and filenode is None:
            raise ValueError("a mutable directory needs its backing MutableFileNode")
        if isinstance(cap.inner, (CHKVerifyCap, MutableVerifyCap)):
            raise ValueError("a verify cap cannot list a directory")
        self.cap = cap
        self.filenode = filenode
        self.clock = clock
        self.read_immutable = read_immutable
        self.upload_immutable = upload_immutable

    @classmethod
    async def create_immutable(
        cls,
        children: Mapping[str, tuple[Child, dict[str, Any]]],
        upload: UploadImmutable,
        read_immutable: ReadImmutable | None = None,
    ) -> DirectoryNode:
        """An immutable directory (DIR2-CHK, or DIR2-LIT for a body of 55 bytes or less).

        Children must be deeply immutable (immutable files and directories,
        or unknown caps with a read slot only); `upload` stores the body as
        an immutable file (e.g. `lambda b: client.upload_bytes(b)` returning its cap).
        """
        entries = {}
        for name, (child, md) in children.items():
            if child.error is not None or not child.allowed_in_immutable_directory():
                raise ValueError(f"child {name!r} is not allowed in an immutable directory")
            entries[normalize(name)] = Entry(normalize(name), child.ro_uri, None, dict(md))
        cap = await upload(pack_children(entries, None, deep_immutable=True))
        return cls(DirectoryCap(cap), None, read_immutable=read_immutable)

    @classmethod
    async def create(
        cls,
        broker: StorageBroker,
        keys: KeyPair,
        lease_secret: bytes,
        initial_children: Mapping[str, tuple[Child, dict[str, Any]]] | None = None,
        k: int = 3,
        n: int = 10,
        pool: Executor | None = None,
        backoff: Backoff = default_backoff,
        clock: Callable[[], float] = time.time,
        format: Format = "sdmf",
        first: Version | None = None,
    ) -> DirectoryNode:
        """A new directory (SDMF unless `format="mdmf"`); initial children are stored with
        their metadata as given. `first`: its first version if encoded beforehand (an
        empty directory's, from the key pool)."""
        entries = {
            normalize(name): _entry(normalize(name), child, dict(md))
            for name, (child, md) in (initial_children or {}).items()
        }
        body = pack_children(entries, keys.writekey)
        node = await MutableFileNode.create(
            broker, keys, body, lease_secret, k, n, pool, backoff, format, first
        )
        return cls(DirectoryCap(node.cap), node, clock)

    @classmethod
    def from_cap(
        cls,
        cap: DirectoryCap,
        like: MutableFileNode,
        clock: Callable[[], float] = time.time,
        read_immutable: ReadImmutable | None = None,
        upload_immutable: UploadImmutable | None = None,
    ) -> DirectoryNode:
        """Open a directory cap with the grid settings of an existing node."""
        if not cap.is_mutable:
            return cls(cap, None, clock, read_immutable)
        inner = cap.inner
        assert isinstance(inner, (MutableWriteCap, MutableReadCap))
        node = MutableFileNode(
            like.broker, inner, like.lease_secret, like.k, like.n, like.pool, backoff=like.backoff
        )
        return cls(cap, node, clock, read_immutable, upload_immutable)

    def open_child(self, child: Child) -> DirectoryNode | MutableFileNode:
        """A node for a directory or mutable-file child, with this directory's grid settings."""
        f = self.filenode
        cap = child.cap
        if isinstance(cap, DirectoryCap) and not cap.is_mutable:
            return DirectoryNode(cap, None, self.clock, self.read_immutable)
        if f is None:
            raise TypeError("children of an immutable directory are immutable")
        if isinstance(cap, DirectoryCap):
            return DirectoryNode.from_cap(
                cap, f, self.clock, self.read_immutable, self.upload_immutable
            )
        if isinstance(cap, (MutableWriteCap, MutableReadCap)):
            return MutableFileNode(
                f.broker, cap, f.lease_secret, f.k, f.n, f.pool, backoff=f.backoff
            )
        raise TypeError("only directories and mutable files can be opened here")

    @property
    def is_readonly(self) -> bool:
        return self.cap.is_readonly

    @property
    def _writekey(self) -> bytes | None:
        inner = self.cap.inner
        return inner.writekey if isinstance(inner, MutableWriteCap) else None

    async def read_body(self) -> bytes:
        inner = self.cap.inner
        if isinstance(inner, LiteralCap):
            return inner.data
        if isinstance(inner, CHKReadCap):
            if self.read_immutable is None:
                raise ValueError("listing a DIR2-CHK directory needs read_immutable")
            return await self.read_immutable(inner)
        assert self.filenode is not None
        return await self.filenode.download_best_version()

    async def _entries(self) -> dict[str, Entry]:
        return unpack_children(await self.read_body(), self._writekey, self.cap.is_mutable)

    async def list(self) -> Listing:
        return list_body(await self.read_body(), self._writekey, self.cap.is_mutable)

    async def _visible(self, name: str) -> Listing:
        """`name`'s part of `list()`: its child alone, when listed (other entries stay unread)."""
        entry = (await self._entries()).get(name)
        if entry is None:
            return {}
        return visible_children({name: entry}, not self.cap.is_mutable)

    async def get_child_and_metadata(self, name: str) -> tuple[Child, dict[str, Any]]:
        key = normalize(name)
        try:
            return (await self._visible(key))[key]
        except KeyError:
            raise NoSuchChildError(name) from None

    async def get(self, name: str) -> Child:
        return (await self.get_child_and_metadata(name))[0]

    async def has_child(self, name: str) -> bool:
        name = normalize(name)
        return name in await self._visible(name)

    async def get_metadata_for(self, name: str) -> dict[str, Any]:
        return (await self.get_child_and_metadata(name))[1]

    async def get_child_and_metadata_at_path(
        self, path: str | Sequence[str]
    ) -> tuple[Child | DirectoryNode, dict[str, Any]]:
        """Walk `a/b/c` (or a list of names) from here; the empty path is (self, {})."""
        names = [p for p in path.split("/") if p] if isinstance(path, str) else list(path)
        node: DirectoryNode = self
        result: tuple[Child | DirectoryNode, dict[str, Any]] = (self, {})
        for i, name in enumerate(names):
            child, md = await node.get_child_and_metadata(name)
            result = (child, md)
            if i + 1 < len(names):
                opened = node.open_child(child) if child.is_directory else None
                if not isinstance(opened, DirectoryNode):
                    raise NoSuchChildError(f"{name!r} is not a directory")
                node = opened
        return result

    async def get_child_at_path(self, path: str | Sequence[str]) -> Child | DirectoryNode:
        return (await self.get_child_and_metadata_at_path(path))[0]

    # -- changes ------------------------------------------------------------

    async def _modify(self, change: Callable[[dict[str, Entry], bool], bool]) -> None:
        """Run `change(entries, first_time)` (True = changed) inside the file's modify loop."""
        writekey = self._writekey
        if writekey is None or self.filenode is None:
            raise NotWriteableError("this directory is read-only")

        def modifier(old: bytes, first_time: bool) -> bytes | None:
            entries = unpack_children(old, writekey)
            if not change(entries, first_time):
                return None
            return pack_children(entries, writekey)

        await self.filenode.modify(modifier)

    async def set_children(
        self,
        children: Mapping[str, tuple[Child, dict[str, Any] | None]],
        overwrite: Overwrite = True,
    ) -> None:
        """Add or replace several children in one publish (metadata rule of spec 4.3)."""
        if self._writekey is None:
            raise NotWriteableError("this directory is read-only")
        now = self.clock()
        wanted = {normalize(n): (c, md) for n, (c, md) in children.items()}
        for name, (child, _) in wanted.items():
            if child.error is not None:
                raise ValueError(f"cannot store child {name!r}: {child.error}")

        def change(entries: dict[str, Entry], first_time: bool) -> bool:
            for name, (child, md) in wanted.items():
                _check_overwrite(entries, name, overwrite)
                old = entries[name].metadata if name in entries else None
                entries[name] = _entry(name, child, update_metadata(old, md, now))
            return True

        await self._modify(change)

    async def set_child(
        self,
        name: str,
        child: Child,
        metadata: dict[str, Any] | None = None,
        overwrite: Overwrite = True,
    ) -> None:
        await self.set_children({name: (child, metadata)}, overwrite)

    async def set_uri(
        self,
        name: str,
        writecap: str | None,
        readcap: str | None = None,
        metadata: dict[str, Any] | None = None,
        overwrite: Overwrite = True,
    ) -> Child:
        child = make_child(writecap, readcap)
        if child.error is not None:
            raise ValueError(f"cannot attach {name!r}: {child.error}")
        await self.set_child(name, child, metadata, overwrite)
        return child

    async def set_nodes(
        self,
        nodes: Mapping[str, tuple[Node, dict[str, Any] | None]],
        overwrite: Overwrite = True,
    ) -> None:
        """`set_children` for opened nodes (directories, mutable files) or children."""
        await self.set_children(
            {name: (_child_of(node), md) for name, (node, md) in nodes.items()}, overwrite
        )

    async def set_node(
        self,
        name: str,
        node: Node,
        metadata: dict[str, Any] | None = None,
        overwrite: Overwrite = True,
    ) -> Node:
        await self.set_nodes({name: (node, metadata)}, overwrite)
        return node

    async def add_file(
        self,
        name: str,
        data: bytes,
        metadata: dict[str, Any] | None = None,
        overwrite: Overwrite = True,
    ) -> Child:
        """Store `data` as an immutable file (LIT or CHK) and link it as `name`."""
        if self._writekey is None:
            raise NotWriteableError("this directory is read-only")
        if self.upload_immutable is None:
            raise ValueError("add_file needs upload_immutable (e.g. a Client's directory)")
        if overwrite is not True:  # fail before uploading, as Tahoe does
            entries = unpack_children(await self.read_body(), self._writekey)
            _check_overwrite(entries, normalize(name), overwrite)
        child = known_child(await self.upload_immutable(data))
        await self.set_child(name, child, metadata, overwrite)
        return child

    async def set_metadata_for(self, name: str, metadata: dict[str, Any]) -> None:
        await self.change_metadata_for(name, lambda old: metadata)

    async def change_metadata_for(
        self, name: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> None:
        """Replace a child's metadata with `change(its metadata now)`, in one publish that
        a concurrent change cannot undo (`change` may run again after a collision)."""
        name = normalize(name)
        now = self.clock()

        def modify(entries: dict[str, Entry], first_time: bool) -> bool:
            if name not in entries:
                raise NoSuchChildError(name)
            e = entries[name]
            child = make_child(e.rw_uri, e.ro_uri)
            metadata = change(dict(e.metadata))
            entries[name] = _entry(name, child, update_metadata(e.metadata, metadata, now))
            return True

        await self._modify(modify)

    async def delete(
        self,
        name: str,
        must_exist: bool = True,
        must_be_directory: bool = False,
        must_be_file: bool = False,
    ) -> Child | None:
        """Remove a child; a retry after a collision treats "already gone" as done."""
        name = normalize(name)
        removed: dict[str, Child] = {}

        def change(entries: dict[str, Entry], first_time: bool) -> bool:
            if name not in entries:
                if first_time and must_exist:
                    raise NoSuchChildError(name)
                return False
            e = entries[name]
            child = make_child(e.rw_uri, e.ro_uri)
            if must_be_directory and not child.is_directory:
                raise ChildOfWrongTypeError(f"{name!r} is not a directory")
            if must_be_file and child.is_directory:
                raise ChildOfWrongTypeError(f"{name!r} is a directory")
            del entries[name]
            removed[name] = child
            return True

        await self._modify(change)
        return removed.get(name)

    async def create_subdirectory(
        self,
        name: str,
        keys: KeyPair,
        initial_children: Mapping[str, tuple[Child, dict[str, Any]]] | None = None,
        overwrite: Overwrite = True,
        metadata: dict[str, Any] | None = None,
    ) -> DirectoryNode:
        """Create a new SDMF directory (under `keys`) and link it here as `name`."""
        if self._writekey is None or self.filenode is None:
            raise NotWriteableError("this directory is read-only")
        f = self.filenode
        sub = await DirectoryNode.create(
            f.broker,
            keys,
            f.lease_secret,
            initial_children,
            f.k,
            f.n,
            f.pool,
            f.backoff,
            self.clock,
        )
        await self.set_child(name, make_child(sub.cap.to_string(), None), metadata, overwrite)
        return sub

    async def move_child_to(
        self,
        name: str,
        new_parent: DirectoryNode,
        new_name: str | None = None,
        overwrite: Overwrite = True,
    ) -> None:
        new_name = normalize(new_name if new_name is not None else name)
        if self._writekey is None:  # before linking anything into new_parent
            raise NotWriteableError("this directory is read-only")
        if new_parent.cap == self.cap and normalize(name) == new_name:
            return
        child, md = await self.get_child_and_metadata(name)
        await new_parent.set_child(new_name, child, md, overwrite)
        await self.delete(name)
