"""Where BagIt profiles come from: a local JSON file, an `s3://` object, or every JSON object under an
S3 prefix (the deployment's `ProfilesLocation`), read into `bag.profile.Profile`s.

A bag is checked against a profile it names only by matching its `BagIt-Profile-Identifier` with
the identifiers of the profiles found here: no URL a bag holds is ever fetched (the identifier is
matched, not dereferenced), so a depositor can't make the verifier reach out anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from bagverify.bag.profile import Profile, ProfileInvalid, load_profile
from bagverify.bag.profile_choice import ProfileChoice
from bagverify.sources.location import S3Location
from bagverify.verdict import Kind, Problem

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# A profile is a few KB; anything much larger under the prefix is not one.
MAX_PROFILE_BYTES = 1024 * 1024


class ProfileUnavailable(Exception):
    """A profile could not be read (no such file or object, access denied): the operator's to fix."""

    kind = Kind.PROFILE_NOT_FOUND


def profile_error(failure: ProfileInvalid | ProfileUnavailable) -> Problem:
    """The *error* a profile that can't be used gives: nothing of the bag is judged against it."""
    return Problem(failure.kind, str(failure))


def read_profile(where: str, client: S3Client | None = None) -> Profile:
    """The profile at `where` (a local path or s3://bucket/key). Raises ProfileInvalid or
    ProfileUnavailable."""
    if where.startswith("s3://"):
        location = S3Location.from_url(where)
        return load_profile(_get(_client(client), location.bucket, location.key), where)
    try:
        data = Path(where).read_bytes()
    except OSError as error:
        raise ProfileUnavailable(f"{where}: {error.strerror}") from error
    return load_profile(data, where)


def catalog_from_prefix(
    prefix_url: str, client: S3Client | None = None
) -> dict[str, Profile | ProfileInvalid]:
    """Every `.json` object under `prefix_url` (s3://bucket/prefix/), by its profile's identifier; a
    malformed one is kept as its ProfileInvalid under the identifier it claims, if any, so a bag that
    names it gets an *error* naming the fault, not a silent pass."""
    location = S3Location.from_url(prefix_url.rstrip("/") + "/x")
    prefix = location.key[:-1]
    s3 = _client(client)
    catalog: dict[str, Profile | ProfileInvalid] = {}
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=prefix)
        keys = [
            item["Key"]
            for page in pages
            for item in page.get("Contents", [])
            if item["Key"].endswith(".json")
        ]
    except (ClientError, BotoCoreError) as error:
        raise ProfileUnavailable(f"{prefix_url}: the profiles could not be listed: {error}") from error
    for key in sorted(keys):
        url = f"s3://{location.bucket}/{key}"
        data = _get(s3, location.bucket, key)
        try:
            profile = load_profile(data, url)
        except ProfileInvalid as invalid:
            claimed = _claimed_identifier(data)
            if claimed:
                catalog.setdefault(claimed, invalid)
            continue
        catalog.setdefault(profile.identifier, profile)
    return catalog


def choice_from(
    profile: str | None, profiles_location: str | None, *, required: bool, client: S3Client | None = None
) -> ProfileChoice:
    """The ProfileChoice of an invocation: an explicit profile (`profile`: a path, an s3:// URL, or an
    identifier found under `profiles_location`), else the catalog under `profiles_location`.
    Raises ProfileInvalid or ProfileUnavailable."""
    catalog = catalog_from_prefix(profiles_location, client) if profiles_location else {}
    explicit: Profile | None = None
    if profile:
        named = catalog.get(profile)
        if isinstance(named, ProfileInvalid):
            raise named
        explicit = named if named is not None else read_profile(profile, client)
    return ProfileChoice(explicit=explicit, catalog=catalog, required=required)


def _claimed_identifier(data: bytes) -> str | None:
    try:
        document: Any = json.loads(data)
        identifier = document["BagIt-Profile-Info"]["BagIt-Profile-Identifier"]
    except (ValueError, KeyError, TypeError):
        return None
    return identifier if isinstance(identifier, str) else None


def _get(client: S3Client, bucket: str, key: str) -> bytes:
    try:
        response = client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{MAX_PROFILE_BYTES}")
        return response["Body"].read(MAX_PROFILE_BYTES + 1)
    except (ClientError, BotoCoreError) as error:
        raise ProfileUnavailable(f"s3://{bucket}/{key}: {error}") from error


def _client(client: S3Client | None) -> S3Client:
    if client is not None:
        return client
    from bagverify.sources.location import make_s3_client

    return make_s3_client()
