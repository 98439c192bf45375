"""The websites file: each website's name and time zone (``ANALYTICS_WEBSITES_FILE``).

A website's day D is ``[local midnight of D, local midnight of D+1)`` in its own IANA time zone,
so a day is 23, 24 or 25 hours long around daylight-saving changes. Websites not listed use
``ANALYTICS_DEFAULT_TIMEZONE``. With no file and the default ``UTC``, every day is a UTC day.

The file is validated when it is read: an entry with an unknown zone is reported (file, entry,
problem) and falls back to the default zone; an entry without an id is reported and skipped.
Nothing here imports Dagster, so every stage, the CLI, the API and the tests share it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import cached_property, lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from analytics_pipeline import settings
from analytics_pipeline.config_files import FileProblem, YamlFileError, read_yaml

UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class Website:
    id: str
    name: str
    timezone: str


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if isinstance(name, str) and name.strip() == name and name else None
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


@dataclass
class WebsiteDirectory:
    """The websites file as read, with the problems found in it."""

    websites: dict[str, Website] = field(default_factory=dict)
    default_timezone: str = "UTC"
    problems: list[FileProblem] = field(default_factory=list)
    source: str = ""

    def timezone_name(self, website_id: str) -> str:
        site = self.websites.get(website_id)
        return site.timezone if site else self.default_timezone

    def zone(self, website_id: str) -> ZoneInfo:
        return ZoneInfo(self.timezone_name(website_id))

    def name(self, website_id: str) -> str:
        site = self.websites.get(website_id)
        return site.name if site else website_id

    @property
    def all_utc(self) -> bool:
        """True when every website's day is a UTC day (no file, default UTC): the old behaviour."""
        return _is_utc(self.default_timezone) and all(_is_utc(w.timezone) for w in self.websites.values())

    def zones(self) -> set[str]:
        """Every zone in use: the listed websites' and the default."""
        return {self.default_timezone, *(w.timezone for w in self.websites.values())}

    def day_bounds(self, website_id: str, day: date) -> tuple[datetime, datetime]:
        """``[start, end)`` in UTC of ``website_id``'s local day ``day``."""
        return local_day_bounds(self.timezone_name(website_id), day)

    def period_bounds(self, website_id: str, start: date, end: date) -> tuple[datetime, datetime]:
        """``[start, end)`` in UTC of the website's local days ``start`` (inclusive) to ``end``
        (exclusive): a week or a month in its own calendar."""
        zone = self.timezone_name(website_id)
        return local_midnight(zone, start), local_midnight(zone, end)

    def local_day(self, website_id: str, moment: datetime) -> date:
        """The website's local calendar day that contains the UTC instant ``moment``."""
        return moment.astimezone(self.zone(website_id)).date()


def _is_utc(name: str) -> bool:
    """True for a zone whose offset is zero all year (UTC, Etc/UTC, Africa/Abidjan...)."""
    zone = _zone(name)
    probes = [datetime(year, month, 1, tzinfo=timezone.utc) for year in (1990, 2024, 2040) for month in (1, 4, 7, 10)]
    return zone is not None and all(zone.utcoffset(p) == timedelta(0) for p in probes)


def local_midnight(zone_name: str, day: date) -> datetime:
    """The UTC instant at which ``day`` starts in ``zone_name``. Where midnight does not exist
    (a DST jump at 00:00), the day starts at the first local instant after it."""
    zone = ZoneInfo(zone_name)
    naive = datetime.combine(day, time(0))
    # fold=0 resolves an ambiguous midnight to its first occurrence; a skipped midnight maps
    # forward, which round-tripping through UTC detects.
    candidate = naive.replace(tzinfo=zone).astimezone(timezone.utc)
    if candidate.astimezone(zone).replace(tzinfo=None) != naive:
        # midnight was skipped: the day starts at the first instant that is on `day` locally
        candidate = _first_instant_of_day(zone, day, candidate)
    return candidate


def _first_instant_of_day(zone: ZoneInfo, day: date, guess: datetime) -> datetime:
    lo, hi = guess - timedelta(hours=3), guess + timedelta(hours=3)
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(zone).date() >= day:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)


def local_day_bounds(zone_name: str, day: date) -> tuple[datetime, datetime]:
    """``[start, end)`` in UTC of ``day`` in ``zone_name`` (23, 24 or 25 hours long)."""
    return local_midnight(zone_name, day), local_midnight(zone_name, day + timedelta(days=1))


def load_websites(path: Path | None = None, default_timezone: str | None = None) -> WebsiteDirectory:
    """Read and validate the websites file. A missing file is no problem (every website uses the
    default zone); an invalid default zone is reported and replaced by UTC."""
    path = Path(path) if path is not None else settings.websites_file()
    default = default_timezone if default_timezone is not None else settings.default_timezone()
    directory = WebsiteDirectory(default_timezone=default, source=str(path))
    if _zone(default) is None:
        directory.problems.append(FileProblem("ANALYTICS_DEFAULT_TIMEZONE", "timezone",
                                              f"unknown time zone {default!r}; using UTC"))
        directory.default_timezone = default = "UTC"
    if not path.exists():
        return directory
    try:
        content = read_yaml(path)
    except YamlFileError as exc:
        where = f" at line {exc.line}, column {exc.column}" if exc.line else ""
        directory.problems.append(FileProblem(path.name, "file", f"{exc.problem}{where}; every website uses {default}"))
        return directory
    entries = content.get("websites") if isinstance(content, dict) else None
    if not isinstance(entries, list):
        directory.problems.append(FileProblem(path.name, "websites", "expected a list under 'websites:'"))
        return directory
    for index, entry in enumerate(entries):
        label = f"websites[{index}]"
        if not isinstance(entry, dict):
            directory.problems.append(FileProblem(path.name, label, "expected a mapping with id, name, timezone"))
            continue
        site_id = entry.get("id")
        if not isinstance(site_id, str) or not 1 <= len(site_id) <= 64:
            directory.problems.append(FileProblem(path.name, f"{label}.id", "missing or not a string of 1-64 characters; entry skipped"))
            continue
        label = f"websites[{index}] ({site_id})"
        if site_id in directory.websites:
            directory.problems.append(FileProblem(path.name, f"{label}.id", "listed twice; the first entry is used"))
            continue
        zone_name = entry.get("timezone", default)
        if _zone(zone_name) is None:
            directory.problems.append(FileProblem(path.name, f"{label}.timezone",
                                                  f"unknown time zone {zone_name!r}; this website uses {default}"))
            zone_name = default
        name = entry.get("name")
        directory.websites[site_id] = Website(site_id, str(name) if name is not None else site_id, zone_name)
    return directory


@lru_cache(maxsize=8)
def _cached(path: str, default: str, mtime: float) -> WebsiteDirectory:
    return load_websites(Path(path), default)


def current_websites() -> WebsiteDirectory:
    """The websites file named by the environment now (re-read when the file changes)."""
    path = settings.websites_file()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = -1.0
    return _cached(str(path), settings.default_timezone(), mtime)


@dataclass(frozen=True)
class ZoneGroup:
    """Websites that share one time zone, for SQL that runs once per zone: ``include`` lists
    the website ids of the group, or is ``None`` for "every website not listed in ``exclude``"
    (the websites that use the default zone, including ones the file does not name)."""

    timezone: str
    include: tuple[str, ...] | None
    exclude: tuple[str, ...] = ()


def zone_groups(directory: WebsiteDirectory) -> list[ZoneGroup]:
    """One group per zone in use; the default zone's group covers every unlisted website. With
    no websites file this is a single group ``ZoneGroup(default, None, ())``."""
    by_zone: dict[str, list[str]] = {}
    for site in directory.websites.values():
        by_zone.setdefault(site.timezone, []).append(site.id)
    listed_elsewhere = tuple(sorted(sid for zone, ids in by_zone.items()
                                    if zone != directory.default_timezone for sid in ids))
    groups = [ZoneGroup(directory.default_timezone, None, listed_elsewhere)]
    groups += [ZoneGroup(zone, tuple(sorted(ids)), ()) for zone, ids in sorted(by_zone.items())
               if zone != directory.default_timezone]
    return groups


def group_bounds(group: ZoneGroup, start: date, end: date) -> tuple[datetime, datetime]:
    """``[start, end)`` in UTC of the local days ``start`` (inclusive) to ``end`` (exclusive)
    in the group's zone: the window its SQL runs over."""
    return local_midnight(group.timezone, start), local_midnight(group.timezone, end)


def zones_in_use(directory: WebsiteDirectory) -> list[str]:
    """The zones of :func:`zone_groups`, in the same order."""
    return [g.timezone for g in zone_groups(directory)]


def span_bounds(directory: WebsiteDirectory, start: date, end: date) -> tuple[datetime, datetime]:
    """The UTC span that holds every website's local days ``start`` .. ``end`` (exclusive): from
    the earliest zone's local midnight of ``start`` to the latest zone's of ``end``."""
    zones = zones_in_use(directory)
    return (min(local_midnight(z, start) for z in zones), max(local_midnight(z, end) for z in zones))


def unfinished_zones(directory: WebsiteDirectory, start: date, end: date, now: datetime) -> dict[str, datetime]:
    """Zones in use whose local period ``start`` .. ``end`` (exclusive) has not ended at ``now``,
    with the UTC instant it ends. Empty when every website's period is complete."""
    ends = {zone: local_midnight(zone, end) for zone in zones_in_use(directory)}
    return {zone: at for zone, at in ends.items() if at > now}


BUCKET = timedelta(minutes=15)
"""Events are counted per website and 15-minute UTC bucket where their local day is needed:
every time zone's offset and every daylight-saving change since 1972 is a whole multiple of
15 minutes, so a bucket never straddles a website's local midnight."""


def bucket_start(value: object) -> datetime:
    """A 15-minute bucket as either warehouse returns it (SQLite text ``'2024-03-01 10:45'``,
    PostgreSQL a timestamptz) as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"not a bucket: {value!r}")
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def bucket_day(directory: WebsiteDirectory, website_id: str, bucket_start: datetime) -> date:
    """The website's local day of every instant in the 15-minute bucket starting ``bucket_start``."""
    return directory.local_day(website_id, bucket_start)


def describe(directory: WebsiteDirectory) -> list[dict[str, str]]:
    """The websites file as rows for the UI: id, name, zone, and the UTC span of its day today
    (or the default zone's row when the file lists none)."""
    today = datetime.now(timezone.utc).date()
    rows = []
    for site in sorted(directory.websites.values(), key=lambda s: s.id):
        start, end = local_day_bounds(site.timezone, today)
        rows.append({"website": site.id, "name": site.name, "timezone": site.timezone,
                     f"day {today} in UTC": f"{start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M}"})
    start, end = local_day_bounds(directory.default_timezone, today)
    rows.append({"website": "(every other website)", "name": "", "timezone": directory.default_timezone,
                 f"day {today} in UTC": f"{start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M}"})
    return rows


def local_today(directory: WebsiteDirectory, website_id: str, now: datetime) -> date:
    """The website's local date at ``now``: its last full day is the day before."""
    return directory.local_day(website_id, now)


def today_everywhere(directory: WebsiteDirectory, now: datetime) -> date:
    """The earliest local date at ``now`` among the zones in use: every day before it has ended
    for every website (the end, exclusive, of windows over all websites together)."""
    return min(now.astimezone(ZoneInfo(z)).date() for z in zones_in_use(directory))


@dataclass(frozen=True)
class FrozenLocalDays:
    """Days whose raw events retention has deleted (``retention_dropped_days``) when some
    website is not at UTC: those are local dates, so an event is judged by its website's local
    day. Plain data, so ingestion's worker processes receive it as they receive the dates.
    Only events whose UTC date is within a day of a frozen date need the conversion."""

    days: frozenset[str]
    zones: tuple[tuple[str, str], ...]  # (website_id, zone) of listed websites
    default_timezone: str

    @classmethod
    def of(cls, directory: WebsiteDirectory, days: frozenset[str]) -> FrozenLocalDays:
        return cls(days, tuple((w.id, w.timezone) for w in directory.websites.values()), directory.default_timezone)

    def __bool__(self) -> bool:
        return bool(self.days)

    @cached_property
    def near_days(self) -> frozenset[str]:
        """The UTC days an event on a frozen local day can have (a day either side: no zone is a
        day or more from UTC); events on other UTC days are never on a frozen day."""
        near: set[str] = set()
        for day in self.days:
            base = date.fromisoformat(day)
            near.update(str(base + timedelta(days=k)) for k in (-1, 0, 1))
        return frozenset(near)

    def local_day(self, website_id: str, utc_day: str, timestamp: str) -> str | None:
        """The event's local date when it is a frozen day, else None."""
        if utc_day not in self.near_days:
            return None
        moment = datetime.fromisoformat(timestamp.replace(" ", "T").removesuffix("+00"))
        moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment
        zone = dict(self.zones).get(website_id, self.default_timezone)
        local = moment.astimezone(ZoneInfo(zone)).date().isoformat()
        return local if local in self.days else None
