"""One handler per S3 operation, over the catalog, the bucket index and the object store.

A handler gets an authenticated `S3Request` and returns a Starlette
response; it raises `S3Error`s for everything a client did wrong. Objects
are index entries: `IndexEntry.cap` is the object's CHK or LIT cap (None for
a multipart object, whose `info["parts"]` lists [cap, size, etag] per part
and `info["parts-cap"]` is the immutable directory of those parts) and
`info` holds size, ETag, modification time, stored headers, user metadata,
tags and checksums (``checksums``: algorithm -> base64 value; a multipart
object's ``checksum_type`` and ``part_checksums``, one per part).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from starlette.responses import Response, StreamingResponse

from s3gw import cors, xml
from s3gw.auth import AuthResult, PayloadReader
from s3gw.auth.post import missing_field
from s3gw.bucket_index import BucketIndex, IndexEntry
from s3gw.catalog import Bucket, Catalog
from s3gw.checksums import (
    DEFAULT_ALGORITHM,
    FULL_OBJECT,
    ChecksumVerifier,
    algorithm_of_header,
    checksum_headers,
    header_name,
    named_algorithm,
    upload_checksum,
)
from s3gw.conditions import (
    Conditions,
    DeleteConditions,
    evaluate,
    evaluate_delete,
    evaluate_write,
    format_http_date,
)
from s3gw.errors import (
    AccessControlListNotSupported,
    AccessDenied,
    IllegalLocationConstraintException,
    IncorrectNumberOfFilesInPostRequest,
    InvalidArgument,
    InvalidBucketAclWithObjectOwnership,
    InvalidPartNumber,
    InvalidRequest,
    MalformedPOSTRequest,
    NoSuchBucket,
    NoSuchCORSConfiguration,
    NoSuchKey,
    NoSuchTagSet,
    NoSuchVersion,
    PreconditionFailed,
    S3NotImplemented,
    from_exception,
    make_error,
)
from s3gw.form import FormReader, form_boundary
from s3gw.headers import (
    ENCRYPTION,
    check_copy_to_self,
    check_encryption,
    check_object_acl,
    directive,
    grants_only_owner,
    metadata_headers,
    parse_copy_source,
    parse_object_attributes,
    parse_part_number,
    parse_tagging_header,
    response_overrides,
    storage_class,
    stored_headers,
    user_metadata,
)
from s3gw.listing import (
    ListParams,
    encode_token,
    paginate_buckets,
    paginate_parts,
    paginate_uploads,
    parse_list_params,
    parse_list_versions_params,
    parse_max_keys,
    parse_part_paging,
)
from s3gw.multipart import Upload
from s3gw.objects import ObjectStore, StoredBody, object_parts
from s3gw.parts import (
    MAX_PARTS,
    check_complete,
    check_completion_headers,
    check_part_checksum,
)
from s3gw.post_policy import check_form, check_size, parse_policy
from s3gw.ranges import ByteRange, parse_copy_source_range, parse_range
from s3gw.routes import UNCONFIGURED, Route, unconfigured, validate_bucket_name, validate_key

MAX_XML_BODY = 2 * 1024 * 1024
WHOLE_BODY_MAX = 1024 * 1024  # GET bodies up to this size are read whole, then sent
XML = "application/xml"


@dataclass
class S3Request:
    route: Route
    method: str
    headers: dict[str, str]  # lowercase names; repeated headers joined with ","
    auth: AuthResult
    account: str
    body: AsyncIterator[bytes]
    request_id: str

    @property
    def query(self) -> dict[str, str]:
        return self.route.query

    @property
    def bucket(self) -> str:
        assert self.route.bucket is not None
        return self.route.bucket

    @property
    def key(self) -> str:
        assert self.route.key is not None
        return self.route.key


def owner_of(account: str) -> xml.Owner:
    return xml.Owner(hashlib.sha256(account.encode()).hexdigest(), account)


def _mtime(info: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(float(info["mtime"]), UTC)


def _listed(key: str, entry: IndexEntry, owner: xml.Owner, p: ListParams) -> str:
    """The entry's <Contents> row, kept in its memo by request shape (a cached index entry
    is listed again and again; its bucket, hence owner, never changes)."""
    shape = (p.encoding_type == "url") * 2 + p.fetch_owner
    found: str | None = entry.memo.get(shape)
    if found is None:
        e = _object_entry(key, entry, owner)
        found = entry.memo[shape] = xml.contents_row(e, p.encoding_type, p.fetch_owner)
    return found


def _checksum_kind(info: dict[str, Any]) -> tuple[str | None, str]:
    """The algorithm of an object's checksum (None: it has none) and the checksum's type;
    an object stored without a type (a single PUT's) has a whole-object one."""
    return next(iter(info.get("checksums", ())), None), info.get("checksum_type", FULL_OBJECT)


def _object_entry(key: str, entry: IndexEntry, owner: xml.Owner) -> xml.ObjectEntry:
    info = entry.info
    storage = info.get("storage_class", "STANDARD")
    algorithm, kind = _checksum_kind(info)
    return xml.ObjectEntry(
        key,
        _mtime(info),
        info["etag"],
        int(info["size"]),
        storage,
        owner,
        algorithm,
        kind if algorithm is not None else None,
    )


def _object_attrs(headers: Mapping[str, str], tags: list[tuple[str, str]] | None) -> dict[str, Any]:
    """The attributes an object is stored with, from a PUT's headers (or a form's fields)."""
    check_encryption(headers, writing=True)
    check_object_acl(headers)
    attrs: dict[str, Any] = {"headers": stored_headers(headers), "meta": user_metadata(headers)}
    if tags is not None:
        attrs["tags"] = [list(t) for t in tags]
    sc = storage_class(headers)
    if sc != "STANDARD":
        attrs["storage_class"] = sc
    return attrs


def _new_object(stored: StoredBody, attrs: dict[str, Any]) -> tuple[IndexEntry, dict[str, str]]:
    """The index entry of a body just stored as a whole object, and the headers that
    answer its upload (PutObject, PostObject)."""
    payload = stored.payload
    info = {
        "size": payload.size,
        "etag": payload.md5_hex,
        "mtime": time.time(),
        **attrs,
        "checksums": payload.checksums,
    }
    headers = {"ETag": xml.quote_etag(payload.md5_hex), "x-lafs-cap": stored.cap, **ENCRYPTION}
    headers.update(checksum_headers(payload.checksums, FULL_OBJECT))
    return IndexEntry(stored.cap, info), headers


def _xml(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status, headers, media_type=XML)


def _tags_header(tags: list[Any]) -> dict[str, str]:
    return {"x-amz-tagging-count": str(len(tags))} if tags else {}


class Gateway:
    """The S3 operations of one gateway process."""

    def __init__(self, catalog: Catalog, store: ObjectStore, region: str) -> None:
        self.catalog = catalog
        self.store = store
        self.region = region

    def handler(self, operation: str) -> Callable[[S3Request], Awaitable[Response]]:
        # ListObjectsV2 -> op_list_objects_v2
        name = re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()
        found = getattr(self, "op_" + name, None)
        if found is None:
            raise S3NotImplemented(f"{operation} is not implemented by this gateway.")
        return found  # type: ignore[no-any-return]

    # -- helpers --------------------------------------------------------------

    async def _bucket(self, req: S3Request, name: str | None = None) -> Bucket:
        bucket = await self.catalog.get(name or req.bucket)
        if bucket.owner != req.account:
            raise AccessDenied()
        return bucket

    async def _body(self, req: S3Request, headers: dict[str, str] | None = None) -> bytes:
        reader = PayloadReader(req.auth, headers or req.headers, max_size=MAX_XML_BODY)
        pieces = [reader.feed(raw) async for raw in req.body]
        reader.finish()
        return b"".join(pieces)

    async def _entry(self, index: BucketIndex, key: str) -> IndexEntry:
        entry = await index.get(key)
        if entry is None:
            raise NoSuchKey(Key=key)
        return entry

    def _object_headers(self, entry: IndexEntry, checksums: bool) -> dict[str, str]:
        info = entry.info
        headers = {
            "etag": xml.quote_etag(info["etag"]),
            "last-modified": format_http_date(_mtime(info)),
            "accept-ranges": "bytes",
            "content-type": "binary/octet-stream",
        }
        for name, value in info.get("headers", {}).items():
            headers[name] = value
        headers.update(metadata_headers(info.get("meta", {})))
        headers.update(_tags_header(info.get("tags", [])))
        if info.get("storage_class", "STANDARD") != "STANDARD":
            headers["x-amz-storage-class"] = info["storage_class"]
        cap = entry.cap or info.get("parts-cap")
        if cap is not None:
            headers["x-lafs-cap"] = cap
        headers.update(ENCRYPTION)
        if checksums:
            headers.update(checksum_headers(info.get("checksums", {}), _checksum_kind(info)[1]))
        return headers

    async def _modify_entry(
        self, index: BucketIndex, key: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> IndexEntry:
        """Read-modify-write of one entry's info, retried while another writer changes it."""
        for _ in range(10):
            current = await self._entry(index, key)
            updated = IndexEntry(current.cap, change(dict(current.info)))

            def unchanged(found: IndexEntry | None, seen: IndexEntry = current) -> None:
                if found is None:
                    raise NoSuchKey(Key=key)
                if found != seen:
                    raise _Changed()

            try:
                await index.put(key, updated, check=unchanged)
                return updated
            except _Changed:
                continue
        raise InvalidRequest("The object is being changed by other requests; retry.")

    # -- service and buckets --------------------------------------------------

    async def op_list_buckets(self, req: S3Request) -> Response:
        mine = {
            b.name: b.created for b in await self.catalog.list_buckets() if b.owner == req.account
        }
        page = paginate_buckets(sorted(mine), req.query, self.region)
        return _xml(
            xml.render_list_buckets(
                owner_of(req.account),
                [(name, mine[name]) for name in page.names],
                self.region,
                prefix=req.query.get("prefix"),
                continuation_token=page.continuation_token,
            )
        )

    async def op_create_bucket(self, req: S3Request) -> Response:
        validate_bucket_name(req.bucket)
        if not grants_only_owner(req.headers):
            raise InvalidBucketAclWithObjectOwnership()
        location = xml.parse_create_bucket_configuration(await self._body(req))
        if location is not None and location != self.region:
            raise IllegalLocationConstraintException(
                f"The {location} location constraint is incompatible for the region specific "
                "endpoint this request was sent to."
            )
        await self.catalog.create(req.bucket, req.account)
        return Response(status_code=200, headers={"Location": "/" + req.bucket})

    async def op_delete_bucket(self, req: S3Request) -> Response:
        await self._bucket(req)
        await self.catalog.delete(req.bucket)
        return Response(status_code=204)

    async def op_head_bucket(self, req: S3Request) -> Response:
        await self._bucket(req)
        return Response(headers={"x-amz-bucket-region": self.region})

    async def op_get_bucket_location(self, req: S3Request) -> Response:
        await self._bucket(req)
        return _xml(xml.render_location_constraint(self.region))

    async def op_get_bucket_versioning(self, req: S3Request) -> Response:
        """Never enabled: objects have one version each (what tools check before relying
        on versions)."""
        bucket = await self._bucket(req)
        return _xml(xml.render_versioning(bucket.info.versioning))

    async def op_put_bucket_versioning(self, req: S3Request) -> Response:
        """Suspended is what a bucket here always is in effect (every object has the one
        version "null"), so it can be set; Enabled cannot."""
        bucket = await self._bucket(req)
        status, mfa_delete = xml.parse_versioning_configuration(await self._body(req))
        if status == "Enabled" or mfa_delete == "Enabled":
            raise S3NotImplemented("Object versioning is not available on this gateway.")
        if status == "Suspended":
            await self.catalog.configure(bucket.name, "versioning", status)
        return Response()

    async def op_get_bucket_accelerate_configuration(self, req: S3Request) -> Response:
        await self._bucket(req)
        return _xml(xml.render_empty("AccelerateConfiguration"))

    async def op_get_bucket_logging(self, req: S3Request) -> Response:
        await self._bucket(req)
        return _xml(xml.render_empty("BucketLoggingStatus"))

    async def op_get_bucket_request_payment(self, req: S3Request) -> Response:
        await self._bucket(req)
        return _xml(xml.render_request_payment())

    async def op_get_bucket_encryption(self, req: S3Request) -> Response:
        """Every object is encrypted with its own AES-256 key: S3's SSE-S3 default, which
        S3 itself reports for every bucket since 2023."""
        await self._bucket(req)
        return _xml(xml.render_bucket_encryption())

    async def op_get_bucket_cors(self, req: S3Request) -> Response:
        bucket = await self._bucket(req)
        if bucket.info.cors is None:
            raise NoSuchCORSConfiguration(BucketName=req.bucket)
        return _xml(xml.render_cors_configuration(bucket.info.cors))

    async def op_put_bucket_cors(self, req: S3Request) -> Response:
        bucket = await self._bucket(req)
        rules = xml.parse_cors_configuration(await self._body(req))
        await self.catalog.configure(
            bucket.name, "cors", xml.render_cors_configuration(rules).decode()
        )
        return Response()

    async def op_delete_bucket_cors(self, req: S3Request) -> Response:
        bucket = await self._bucket(req)
        await self.catalog.configure(bucket.name, "cors", None)
        return Response(status_code=204)

    async def op_get_bucket_tagging(self, req: S3Request) -> Response:
        bucket = await self._bucket(req)
        if bucket.info.tags is None:
            raise NoSuchTagSet(BucketName=req.bucket)
        return _xml(xml.render_tagging(bucket.info.tags))

    async def op_put_bucket_tagging(self, req: S3Request) -> Response:
        bucket = await self._bucket(req)
        tags = xml.parse_tagging(await self._body(req), max_tags=xml.MAX_BUCKET_TAGS)
        await self.catalog.configure(bucket.name, "tags", [list(t) for t in tags])
        return Response(status_code=204)

    async def op_delete_bucket_tagging(self, req: S3Request) -> Response:
        bucket = await self._bucket(req)
        await self.catalog.configure(bucket.name, "tags", None)
        return Response(status_code=204)

    async def _cors_rules(self, bucket_name: str) -> tuple[cors.CorsRule, ...]:
        """A bucket's CORS rules; a bucket that is missing has none (for unsigned
        preflights, and for answers that a browser reads)."""
        try:
            return (await self.catalog.get(bucket_name)).info.cors or ()
        except NoSuchBucket:
            return ()

    async def preflight(self, bucket_name: str, headers: Mapping[str, str]) -> Response:
        """A browser's OPTIONS preflight: unsigned (browsers sign nothing); the bucket's CORS
        rules decide."""
        return Response(headers=cors.preflight(await self._cors_rules(bucket_name), headers))

    async def cors_headers(self, bucket_name: str, origin: str, method: str) -> dict[str, str]:
        """The Access-Control-* headers for a request from `origin`, if a rule allows it."""
        rule = cors.match(await self._cors_rules(bucket_name), origin, method)
        return {} if rule is None else cors.answer_headers(rule, origin)

    async def op_get_bucket_configuration(self, req: S3Request) -> Response:
        """A configuration (policy, CORS, lifecycle...) no bucket here can have: S3's own
        404 for a bucket without one."""
        await self._bucket(req)
        configuration = unconfigured(req.query)
        assert configuration is not None  # routes.route sent the request here for it
        raise make_error(UNCONFIGURED[configuration], resource=req.bucket)

    async def op_get_bucket_acl(self, req: S3Request) -> Response:
        """The one ACL there is: the owning account has full control, nobody else any."""
        bucket = await self._bucket(req)
        return _xml(xml.render_access_control_policy(owner_of(bucket.owner)))

    async def op_get_object_attributes(self, req: S3Request) -> Response:
        """ETag, checksums, parts (paged by x-amz-max-parts / x-amz-part-number-marker), storage
        class and size, as asked in x-amz-object-attributes; one HEAD's worth of work."""
        wanted = parse_object_attributes(req.headers.get("x-amz-object-attributes"))
        bucket = await self._bucket(req)
        entry = await self._entry(bucket.index, req.key)
        info = entry.info
        parts = None
        algorithm, kind = _checksum_kind(info)
        if "ObjectParts" in wanted and info.get("parts"):
            marker, max_parts = parse_part_paging(
                req.headers.get("x-amz-part-number-marker"), req.headers.get("x-amz-max-parts")
            )
            part_checksums = info.get("part_checksums") or [None] * len(info["parts"])
            numbered = [
                (n, (int(size), checksum))
                for n, ((_cap, size, _etag), checksum) in enumerate(
                    zip(info["parts"], part_checksums, strict=True), 1
                )
            ]
            page, truncated, next_marker = paginate_parts(
                numbered, part_number_marker=marker, max_parts=max_parts
            )
            parts = xml.ObjectPartsPage(
                len(numbered),
                marker,
                next_marker,
                max_parts,
                truncated,
                [(n, size, checksum) for n, (size, checksum) in page],
                algorithm,
            )
        storage = info.get("storage_class", "STANDARD")
        body = xml.render_object_attributes(
            etag=info["etag"] if "ETag" in wanted else None,
            checksums=info.get("checksums") if "Checksum" in wanted else None,
            checksum_type=kind,
            parts=parts,
            storage_class=storage if "StorageClass" in wanted else None,
            size=int(info["size"]) if "ObjectSize" in wanted else None,
        )
        return _xml(body, headers={"last-modified": format_http_date(_mtime(info))})

    async def op_get_object_acl(self, req: S3Request) -> Response:
        bucket = await self._bucket(req)
        await self._entry(bucket.index, req.key)  # NoSuchKey if there is none
        return _xml(xml.render_access_control_policy(owner_of(bucket.owner)))

    async def _check_acl_change(self, req: S3Request, bucket: Bucket) -> None:
        """A PUT of an ACL may only restate the one there is: the owner's full control
        (canned, or as a policy, such as s3cmd setacl --acl-private sends)."""
        body = await self._body(req)
        owner = owner_of(bucket.owner).id
        if not grants_only_owner(req.headers) or (
            body.strip()
            and any(
                (grantee, permission) != (owner, "FULL_CONTROL")
                for grantee, permission in xml.parse_access_control_policy(body)
            )
        ):
            raise AccessControlListNotSupported()

    async def op_put_bucket_acl(self, req: S3Request) -> Response:
        await self._check_acl_change(req, await self._bucket(req))
        return Response()

    async def op_put_object_acl(self, req: S3Request) -> Response:
        bucket = await self._bucket(req)
        await self._entry(bucket.index, req.key)
        await self._check_acl_change(req, bucket)
        return Response()

    # -- listing --------------------------------------------------------------

    async def _list(self, req: S3Request, v2: bool) -> Response:
        bucket = await self._bucket(req)
        p = parse_list_params(req.query, v2=v2)
        page = await bucket.index.list(p.prefix, p.delimiter or "", p.start_after, p.max_keys)
        owner = owner_of(bucket.owner)
        contents = [_listed(key, e, owner, p) for key, e in page.entries]
        if not v2:
            return _xml(
                xml.render_list_objects_v1(
                    bucket=bucket.name,
                    prefix=p.prefix,
                    marker=p.marker,
                    delimiter=p.delimiter,
                    max_keys=p.max_keys,
                    is_truncated=page.is_truncated,
                    next_marker=page.next_marker,
                    contents=contents,
                    common_prefixes=page.common_prefixes,
                    encoding_type=p.encoding_type,
                )
            )
        token = encode_token(page.next_marker) if page.is_truncated and page.next_marker else None
        return _xml(
            xml.render_list_objects_v2(
                bucket=bucket.name,
                prefix=p.prefix,
                delimiter=p.delimiter,
                max_keys=p.max_keys,
                is_truncated=page.is_truncated,
                contents=contents,
                common_prefixes=page.common_prefixes,
                continuation_token=p.continuation_token,
                next_continuation_token=token,
                start_after=p.start_after_param,
                encoding_type=p.encoding_type,
                fetch_owner=p.fetch_owner,
            )
        )

    async def op_list_object_versions(self, req: S3Request) -> Response:
        """An unversioned bucket's versions: each key once, as its latest version "null" (what
        tools that empty a bucket version by version read, Terraform's force_destroy among
        them; they then delete with VersionId=null, which deletes the object)."""
        bucket = await self._bucket(req)
        p = parse_list_versions_params(req.query)
        page = await bucket.index.list(p.prefix, p.delimiter or "", p.start_after, p.max_keys)
        owner = owner_of(bucket.owner)
        return _xml(
            xml.render_list_versions(
                bucket=bucket.name,
                prefix=p.prefix,
                key_marker=p.marker,
                version_id_marker=req.query.get("version-id-marker", ""),
                delimiter=p.delimiter,
                max_keys=p.max_keys,
                is_truncated=page.is_truncated,
                next_key_marker=page.next_marker,
                versions=[_object_entry(key, e, owner) for key, e in page.entries],
                common_prefixes=page.common_prefixes,
                encoding_type=p.encoding_type,
            )
        )

    async def op_list_objects(self, req: S3Request) -> Response:
        return await self._list(req, v2=False)

    async def op_list_objects_v2(self, req: S3Request) -> Response:
        return await self._list(req, v2=True)

    # -- objects --------------------------------------------------------------

    def _attrs(self, req: S3Request) -> dict[str, Any]:
        """The object attributes a PUT (or copy, or multipart create) sets."""
        tags = req.headers.get("x-amz-tagging")
        return _object_attrs(req.headers, None if tags is None else parse_tagging_header(tags))

    async def _commit(
        self, req: S3Request, index: BucketIndex, key: str, entry: IndexEntry
    ) -> None:
        cond = Conditions.from_headers(req.headers)
        check = None
        if cond.if_match is not None or cond.if_none_match is not None:

            def check(current: IndexEntry | None) -> None:
                evaluate_write(cond, current.info["etag"] if current else None)

        await index.put(key, entry, check=check)

    async def op_put_object(self, req: S3Request) -> Response:
        bucket = await self._bucket(req)
        attrs = self._attrs(req)
        reader = PayloadReader(req.auth, req.headers, default_checksum=DEFAULT_ALGORITHM)
        entry, headers = _new_object(await self.store.receive(req.body, reader), attrs)
        await self._commit(req, bucket.index, req.key, entry)
        return Response(headers=headers)

    async def post_object(
        self,
        route: Route,
        headers: Mapping[str, str],
        body: AsyncIterator[bytes],
        authenticate: Callable[[Mapping[str, str]], str],
        url: str,
        now: datetime,
    ) -> Response:
        """PostObject: a browser's form upload, signed by its policy rather than by the
        request. `authenticate(fields)` names the account whose key signed the form
        (`s3gw.auth.post`); `url` is the request's, to name the object in the answer.
        The fields are checked before any of the file is stored."""
        boundary = form_boundary(headers.get("content-type", ""))
        if boundary is None:
            raise PreconditionFailed(
                Condition="Bucket POST must be of the enclosure-type multipart/form-data"
            )
        form = FormReader(boundary)
        first = b""
        async for raw in body:
            first = form.feed(raw)
            if form.in_file or form.file_done or form.ended:
                break
        fields = form.fields
        account = authenticate(fields)
        policy = parse_policy(fields["policy"])
        if "key" not in fields:
            raise missing_field("key")
        if not (form.in_file or form.file_done):
            raise IncorrectNumberOfFilesInPostRequest()
        check_form(policy, fields, route.bucket or "", now)
        bucket = await self.catalog.get(route.bucket or "")
        if bucket.owner != account:
            raise AccessDenied()
        key = fields["key"].replace("${filename}", form.filename)
        validate_key(key)
        tagging = fields.get("tagging")  # a Tagging document, unlike PUT's header
        attrs = _object_attrs(
            {**fields, "x-amz-acl": fields.get("acl", "private")},
            None if tagging is None else xml.parse_tagging(tagging.encode()),
        )

        async def file_bytes() -> AsyncIterator[bytes]:
            size = len(first)
            check_size(policy, size, final=form.file_done)
            if first:
                yield first
            while not form.file_done:
                raw = await anext(body, None)
                if raw is None:
                    raise MalformedPOSTRequest("The body ends inside the file.")
                data = form.feed(raw)
                size += len(data)
                check_size(policy, size, final=form.file_done)
                if data:
                    yield data

        reader = PayloadReader(None, fields, default_checksum=DEFAULT_ALGORITHM)
        entry, answer = _new_object(await self.store.receive(file_bytes(), reader), attrs)
        await bucket.index.put(key, entry)
        etag = answer["ETag"]
        location = f"{url.rstrip('/')}/{quote(key, safe='/')}"
        answer["Location"] = location
        redirect = fields.get("success_action_redirect") or fields.get("redirect")
        if redirect and urlsplit(redirect).scheme in ("http", "https"):
            query = urlencode({"bucket": bucket.name, "key": key, "etag": etag})
            answer["Location"] = f"{redirect}{'&' if '?' in redirect else '?'}{query}"
            return Response(status_code=303, headers=answer)
        status = fields.get("success_action_status")
        if status == "201":
            document = xml.render_post_response(location, bucket.name, key, etag)
            return _xml(document, 201, answer)
        return Response(status_code=200 if status == "200" else 204, headers=answer)

    async def _get_or_head(self, req: S3Request, with_body: bool) -> Response:
        check_encryption(req.headers, writing=False)
        bucket = await self._bucket(req)
        entry = await self._entry(bucket.index, req.key)
        info = entry.info
        evaluate(
            Conditions.from_headers(req.headers), info["etag"], _mtime(info), method=req.method
        )
        size = int(info["size"])
        byte_range: ByteRange | None
        part = parse_part_number(req.query["partNumber"]) if "partNumber" in req.query else None
        if part is not None:
            if "range" in req.headers:
                raise InvalidRequest(
                    "Cannot specify both Range header and partNumber query parameter"
                )
            byte_range = self._part_range(entry, part)
        else:
            byte_range = parse_range(req.headers.get("range"), size)
        # a checksum covers the whole object (or part): S3 sends it only with all of it
        wants_checksums = req.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED"
        headers = self._object_headers(entry, wants_checksums and byte_range is None)
        headers.update((k.lower(), v) for k, v in response_overrides(req.query).items())
        if part is not None and entry.cap is None:
            headers["x-amz-mp-parts-count"] = str(len(info["parts"]))
            algorithm, _ = _checksum_kind(info)
            if wants_checksums and algorithm is not None and info.get("part_checksums"):
                headers[header_name(algorithm)] = info["part_checksums"][part - 1]
        status = 200
        start, end = 0, size - 1
        if byte_range is not None:
            status = 206
            start, end = byte_range.start, byte_range.end
            headers["content-range"] = byte_range.content_range
        headers["content-length"] = str(end - start + 1)
        if not with_body or end < start:
            return Response(status_code=status, headers=headers)
        chunks = self.store.read_object(entry.cap, info, start, end)
        if end - start < WHOLE_BODY_MAX:  # a plain response costs less than a streaming one
            return Response(b"".join([c async for c in chunks]), status, headers)
        try:
            first = await anext(chunks)
        except StopAsyncIteration:
            first = b""
        return StreamingResponse(_prepend(first, chunks), status, headers)

    def _part_range(self, entry: IndexEntry, number: int) -> ByteRange | None:
        size = int(entry.info["size"])
        if entry.cap is not None:
            if number != 1:
                raise InvalidPartNumber()
            return None
        parts = object_parts(entry.info)
        if number > len(parts):
            raise InvalidPartNumber()
        start = sum(p.size for p in parts[: number - 1])
        return ByteRange(start, start + parts[number - 1].size - 1, size)

    async def op_get_object(self, req: S3Request) -> Response:
        return await self._get_or_head(req, with_body=True)

    async def op_head_object(self, req: S3Request) -> Response:
        return await self._get_or_head(req, with_body=False)

    async def op_delete_object(self, req: S3Request) -> Response:
        bucket = await self._bucket(req)
        await self._delete(bucket.index, req.key, DeleteConditions.from_headers(req.headers))
        return Response(status_code=204)

    async def _delete(self, index: BucketIndex, key: str, cond: DeleteConditions) -> None:
        """Delete `key`, if its object still meets `cond` when the index changes."""
        check = None
        if cond.any:

            def check(current: IndexEntry | None) -> None:
                if current is None:
                    evaluate_delete(cond, None)
                    return
                info = current.info
                evaluate_delete(cond, (info["etag"], _mtime(info), int(info["size"])))

        await index.delete(key, check=check)

    async def op_delete_objects(self, req: S3Request) -> Response:
        bucket = await self._bucket(req)
        quiet, objects = xml.parse_delete(await self._body(req))

        async def one(target: xml.DeleteTarget) -> xml.DeleteError | None:
            if target.version_id not in (None, "null"):  # never the object: its one is null
                missing = NoSuchVersion()
                return xml.DeleteError(target.key, missing.code, missing.message)
            try:
                await self._delete(bucket.index, target.key, target.conditions)
            except Exception as exc:  # each key answers for itself
                err = from_exception(exc)
                return xml.DeleteError(target.key, err.code, err.message)
            return None

        results = await asyncio.gather(*(one(target) for target in objects))
        errors = [r for r in results if r is not None]
        deleted = [
            (obj.key, obj.version_id) for obj, result in zip(objects, results) if result is None
        ]
        return _xml(xml.render_delete_result(deleted, errors, quiet=quiet))

    async def _copy_source(self, req: S3Request) -> IndexEntry:
        source = parse_copy_source(req.headers["x-amz-copy-source"])
        src_bucket = await self._bucket(req, source.bucket)
        entry = await self._entry(src_bucket.index, source.key)
        cond = Conditions.from_headers(req.headers, prefix="x-amz-copy-source-")
        evaluate(cond, entry.info["etag"], _mtime(entry.info), copy_source=True)
        return entry

    async def op_copy_object(self, req: S3Request) -> Response:
        bucket = await self._bucket(req)
        check_copy_to_self(
            parse_copy_source(req.headers["x-amz-copy-source"]), req.bucket, req.key, req.headers
        )
        entry = await self._copy_source(req)
        info = dict(entry.info)
        attrs = self._attrs(req)
        if directive(req.headers, "x-amz-metadata-directive") == "REPLACE":
            info["headers"], info["meta"] = attrs["headers"], attrs["meta"]
            info.pop("storage_class", None)
            if "storage_class" in attrs:
                info["storage_class"] = attrs["storage_class"]
        if directive(req.headers, "x-amz-tagging-directive") == "REPLACE":
            info["tags"] = attrs.get("tags", [])
        if "x-amz-checksum-algorithm" in req.headers:
            alg = named_algorithm(req.headers["x-amz-checksum-algorithm"])
            info["checksums"] = {alg: await self._whole_checksum(entry, alg)}
            info.pop("checksum_type", None)  # a whole object's: FULL_OBJECT
            info.pop("part_checksums", None)
        info["mtime"] = time.time()
        await self._commit(req, bucket.index, req.key, IndexEntry(entry.cap, info))
        return _xml(
            xml.render_copy_object_result(
                info["etag"], _mtime(info), checksums=info.get("checksums")
            ),
            headers=ENCRYPTION,
        )

    async def _whole_checksum(self, entry: IndexEntry, algorithm: str) -> str:
        """The object's `algorithm` checksum, for a copy that asks for it (how S3 changes an
        object's checksum) or a part copied whole: the one kept, if it covers the whole
        object, else computed from its bytes."""
        info = entry.info
        value = info.get("checksums", {}).get(algorithm)
        if value is not None and _checksum_kind(info)[1] == FULL_OBJECT:
            return str(value)
        hasher = ChecksumVerifier(algorithm)
        size = int(info["size"])
        if size:
            async for chunk in self.store.read_object(entry.cap, info, 0, size - 1):
                hasher.update(chunk)
        return hasher.b64digest()

    # -- tagging --------------------------------------------------------------

    async def op_get_object_tagging(self, req: S3Request) -> Response:
        bucket = await self._bucket(req)
        entry = await self._entry(bucket.index, req.key)
        tags = [(k, v) for k, v in entry.info.get("tags", [])]
        return _xml(xml.render_tagging(tags))

    async def op_put_object_tagging(self, req: S3Request) -> Response:
        bucket = await self._bucket(req)
        tags = [list(t) for t in xml.parse_tagging(await self._body(req))]
        await self._modify_entry(bucket.index, req.key, lambda info: {**info, "tags": tags})
        return Response()

    async def op_delete_object_tagging(self, req: S3Request) -> Response:
        bucket = await self._bucket(req)
        await self._modify_entry(bucket.index, req.key, lambda info: {**info, "tags": []})
        return Response(status_code=204)

    # -- multipart ------------------------------------------------------------

    async def op_create_multipart_upload(self, req: S3Request) -> Response:
        checksum = upload_checksum(
            req.headers.get("x-amz-checksum-algorithm"), req.headers.get("x-amz-checksum-type")
        )
        bucket = await self._bucket(req)
        upload = await bucket.uploads.create(req.key, req.account, self._attrs(req), checksum)
        headers = dict(ENCRYPTION)
        if checksum.declared:
            headers["x-amz-checksum-algorithm"] = checksum.algorithm
            headers["x-amz-checksum-type"] = checksum.type
        return _xml(
            xml.render_initiate_multipart_upload(bucket.name, req.key, upload.upload_id),
            headers=headers,
        )

    async def _upload(self, req: S3Request) -> tuple[Bucket, Upload]:
        bucket = await self._bucket(req)
        upload = await bucket.uploads.get(req.query["uploadId"], req.key)
        return bucket, upload

    async def op_upload_part(self, req: S3Request) -> Response:
        number = parse_part_number(req.query.get("partNumber"))
        bucket, upload = await self._upload(req)
        checksum = upload.checksum
        # an upload naming no checksum gets CRC64NVME, built from every part's, whatever
        # checksum the part itself carries (boto3 sends CRC32 with every part)
        reader = PayloadReader(
            req.auth,
            req.headers,
            default_checksum=checksum.algorithm if checksum.declared else None,
            extra_checksum=None if checksum.declared else checksum.algorithm,
        )
        check_part_checksum(checksum, reader.declared_checksum)
        stored = await self.store.receive(req.body, reader)
        payload = stored.payload
        await bucket.uploads.add_part(
            upload, number, stored.cap, payload.md5_hex, payload.size, payload.checksums
        )
        headers = {"ETag": xml.quote_etag(payload.md5_hex), **ENCRYPTION}
        headers.update((header_name(alg), value) for alg, value in payload.checksums.items())
        return Response(headers=headers)

    async def op_upload_part_copy(self, req: S3Request) -> Response:
        number = parse_part_number(req.query.get("partNumber"))
        bucket, upload = await self._upload(req)
        entry = await self._copy_source(req)
        size = int(entry.info["size"])
        if "x-amz-copy-source-range" in req.headers:
            r = parse_copy_source_range(req.headers["x-amz-copy-source-range"], size)
            start, end = r.start, r.end
        else:
            start, end = 0, size - 1
        algorithm = upload.checksum.algorithm
        if entry.cap is not None and (start, end) == (0, size - 1):
            # the whole single-file object: share its cap
            cap, etag = entry.cap, entry.info["etag"]
            checksum = await self._whole_checksum(entry, algorithm)
        else:
            # stored as a body is: a reader of no request, computing the upload's checksum
            chunks = self.store.read_object(entry.cap, entry.info, start, end)
            reader = PayloadReader(None, {}, max_size=end - start + 1, default_checksum=algorithm)
            stored = await self.store.receive(chunks, reader)
            cap, etag = stored.cap, stored.payload.md5_hex
            checksum = stored.payload.checksums[algorithm]
        checksums = {algorithm: checksum}
        await bucket.uploads.add_part(upload, number, cap, etag, end - start + 1, checksums)
        return _xml(
            xml.render_copy_object_result(etag, datetime.now(UTC), part=True, checksums=checksums)
        )

    async def op_complete_multipart_upload(self, req: S3Request) -> Response:
        bucket, upload = await self._upload(req)
        # checksum headers here describe the object, not this body
        body_headers = {k: v for k, v in req.headers.items() if algorithm_of_header(k) is None}
        requested = xml.parse_complete_multipart_upload(await self._body(req, body_headers))
        if len(requested) > MAX_PARTS:
            raise InvalidArgument(f"A multipart upload has at most {MAX_PARTS} parts.")
        stored = await bucket.uploads.parts(upload)
        checksum = upload.checksum
        completion = check_complete(requested, {n: p.part for n, p in stored.items()}, checksum)
        check_completion_headers(req.headers, checksum, completion)
        parts = [[stored[p.number].cap, p.size, p.etag] for p in completion.parts]
        info: dict[str, Any] = {
            "size": completion.size,
            "etag": completion.etag,
            "mtime": time.time(),
            **upload.attrs,
            "parts": parts,
            "parts-cap": await self.store.store_part_list(parts),
        }
        checksums = {}
        if completion.checksum is not None:
            checksums = {checksum.algorithm: completion.checksum}
            info["checksums"] = checksums
            info["checksum_type"] = checksum.type
            info["part_checksums"] = list(completion.part_checksums or ())
        await self._commit(req, bucket.index, req.key, IndexEntry(None, info))
        await bucket.uploads.remove(upload)
        location = f"/{quote(bucket.name)}/{quote(req.key)}"
        return _xml(
            xml.render_complete_multipart_upload(
                location,
                bucket.name,
                req.key,
                completion.etag,
                checksums,
                checksum.type if checksums else None,
            ),
            headers=ENCRYPTION,
        )

    async def op_abort_multipart_upload(self, req: S3Request) -> Response:
        bucket, upload = await self._upload(req)
        await bucket.uploads.remove(upload)
        return Response(status_code=204)

    async def op_list_parts(self, req: S3Request) -> Response:
        bucket, upload = await self._upload(req)
        marker, max_parts = parse_part_paging(
            req.query.get("part-number-marker"), req.query.get("max-parts")
        )
        stored = await bucket.uploads.parts(upload)
        page, truncated, next_marker = paginate_parts(
            list(stored.items()), part_number_marker=marker, max_parts=max_parts
        )
        entries = [
            xml.PartEntry(n, p.modified, p.part.etag, p.part.size, p.part.checksums)
            for n, p in page
        ]
        declared = upload.checksum.declared
        return _xml(
            xml.render_list_parts(
                bucket=bucket.name,
                key=req.key,
                upload_id=upload.upload_id,
                part_number_marker=marker,
                next_part_number_marker=next_marker,
                max_parts=max_parts,
                is_truncated=truncated,
                parts=entries,
                owner=owner_of(upload.owner),
                storage_class=upload.attrs.get("storage_class", "STANDARD"),
                checksum_algorithm=upload.checksum.algorithm if declared else None,
                checksum_type=upload.checksum.type if declared else None,
            )
        )

    async def op_list_multipart_uploads(self, req: S3Request) -> Response:
        bucket = await self._bucket(req)
        q = req.query
        encoding = q.get("encoding-type")
        if encoding is not None and encoding.lower() != "url":
            raise InvalidArgument("Invalid Encoding Method specified in Request")
        max_uploads = parse_max_keys(q.get("max-uploads"), "max-uploads")
        uploads = await bucket.uploads.list()
        page = paginate_uploads(
            [(u.key, u.upload_id, u) for u in uploads],
            prefix=q.get("prefix", ""),
            delimiter=q.get("delimiter") or None,
            key_marker=q.get("key-marker", ""),
            upload_id_marker=q.get("upload-id-marker", ""),
            max_uploads=max_uploads,
        )
        entries = [
            xml.UploadEntry(
                u.key,
                u.upload_id,
                u.initiated,
                owner_of(u.owner),
                u.attrs.get("storage_class", "STANDARD"),
                u.checksum.algorithm if u.checksum.declared else None,
                u.checksum.type if u.checksum.declared else None,
            )
            for _, _, u in page.uploads
        ]
        return _xml(
            xml.render_list_multipart_uploads(
                bucket=bucket.name,
                key_marker=q.get("key-marker", ""),
                upload_id_marker=q.get("upload-id-marker", ""),
                next_key_marker=page.next_key_marker,
                next_upload_id_marker=page.next_upload_id_marker,
                max_uploads=max_uploads,
                is_truncated=page.is_truncated,
                uploads=entries,
                prefix=q.get("prefix", ""),
                delimiter=q.get("delimiter") or None,
                common_prefixes=page.common_prefixes,
                encoding_type="url" if encoding is not None else None,
            )
        )


class _Changed(Exception):
    """The entry changed between our read and our write: read again."""


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk


__all__ = ["Gateway", "S3Request"]
