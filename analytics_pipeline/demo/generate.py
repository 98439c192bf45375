"""Realistic, reproducible analytics events for demos, tests and benchmarks.

Sessions of several events with exponential gaps, a daily traffic curve, zipf-distributed
pages and referrers, returning visitors, custom events, a sprinkling of malformed lines and of
re-sent duplicates. The same seed gives the same bytes.

Event and session ids name their day and the generator's state at the start of that day
(``e-20240310-3f9a1c2b-0000001``): a day generated again from the same state gets the same ids
(its events are the same events), while other days, seeds or settings get ids of their own. So
``generate-events --days 1`` after ``make demo`` adds new events instead of duplicates of the
demo's.
"""

from __future__ import annotations

import gzip
import hashlib
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import orjson

PAGES = ["/", "/pricing", "/features", "/blog", "/docs", "/signup", "/login", "/about", "/contact",
         "/careers", "/docs/getting-started", "/docs/api", "/blog/launch", "/blog/how-we-scale",
         "/integrations", "/changelog", "/security", "/status", "/terms", "/privacy"]
PAGES += [f"/products/{i}" for i in range(1, 121)] + [f"/blog/post-{i}" for i in range(1, 61)]
REFERRERS = [None, "https://www.google.com/search?q=analytics", "https://news.ycombinator.com/item?id=1",
             "https://www.facebook.com/", "https://t.co/abc", "https://www.bing.com/search",
             "https://duckduckgo.com/", "https://www.reddit.com/r/dataengineering", "newsletter",
             "https://github.com/trending", "https://www.linkedin.com/feed/", "android-app://com.slack"]
CUSTOM_EVENTS = ["signup", "add_to_cart", "purchase", "video_play", "newsletter_subscribe", "search",
                 "download", "share"]
# Share of sessions starting in each UTC hour: quiet nights, busy afternoons.
HOURLY = [2, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 8, 9, 9, 9, 8, 7, 6, 5, 5, 4, 3, 2]


def _day_ids(day: date, *state: object) -> str:
    """``YYYYMMDD-<8 hex>``: the day, and a hash of everything that decides its events."""
    token = hashlib.blake2b(repr((day.isoformat(), *state)).encode(), digest_size=4).hexdigest()
    return f"{day:%Y%m%d}-{token}"


def _zipf_weights(n: int, s: float = 1.1) -> list[float]:
    total = 0.0
    out = []
    for k in range(1, n + 1):
        total += 1.0 / k**s
        out.append(total)
    return out


@dataclass
class GeneratedFiles:
    paths: list[Path]
    events: int  # valid events written (duplicates excluded)
    duplicates: int
    malformed: int

    @property
    def lines(self) -> int:
        return self.events + self.duplicates + self.malformed


def _write_jsonl(final: Path, parts: Iterable[list[bytes]], gzip_file: bool) -> Path:
    """Write the lines of ``parts`` to ``final`` through a hidden temporary name, then rename it,
    so a watching sensor never sees half a file; lines are written about 10,000 at a time."""
    tmp = final.parent / f".{final.name}.tmp"
    opener = gzip.open if gzip_file else open
    with opener(tmp, "wb") as handle:
        lines: list[bytes] = []
        for part in parts:
            lines += part
            if len(lines) > 10_000:
                handle.write(b"\n".join(lines) + b"\n")
                lines.clear()
        if lines:
            handle.write(b"\n".join(lines) + b"\n")
    tmp.rename(final)
    return final


class EventGenerator:
    def __init__(self, *, seed: int = 42, websites: int = 3, malformed_rate: float = 0.002,
                 duplicate_rate: float = 0.001) -> None:
        self.rng = random.Random(seed)
        self.websites = [f"site-{i + 1:02d}" for i in range(websites)]
        self.site_weights = _zipf_weights(websites, 0.8)
        self.page_weights = _zipf_weights(len(PAGES))
        self.ref_weights = _zipf_weights(len(REFERRERS), 0.9)
        self.malformed_rate = malformed_rate
        self.duplicate_rate = duplicate_rate
        self.visitors = max(50, 1)

    def sessions_for_day(self, day: date, events_target: int) -> Iterator[list[dict]]:
        """Sessions starting on ``day`` until about ``events_target`` events."""
        rng = self.rng
        produced = 0
        visitor_pool = max(100, events_target // 6)
        day_start = datetime.combine(day, time(0), tzinfo=timezone.utc)
        ids = _day_ids(day, rng.getstate(), events_target, self.websites, self.malformed_rate, self.duplicate_rate)
        session_seq = event_seq = 0  # numbered within the day: the ids name the day
        while produced < events_target:
            session_seq += 1
            site = rng.choices(self.websites, cum_weights=self.site_weights)[0]
            visitor = f"v-{site}-{int(rng.paretovariate(1.2) * 37) % (visitor_pool * 4):06d}"
            hour = rng.choices(range(24), weights=HOURLY)[0]
            at = day_start + timedelta(hours=hour, seconds=rng.random() * 3600)
            n_events = min(40, 1 + int(rng.expovariate(1 / 3.0)))
            referrer = rng.choices(REFERRERS, cum_weights=self.ref_weights)[0]
            session_id = f"s-{ids}-{session_seq:06d}"
            events = []
            for i in range(n_events):
                event_seq += 1
                if i and rng.random() < 0.18:
                    event = {"event_type": "custom", "event_name": rng.choice(CUSTOM_EVENTS),
                             "properties": {"value": round(rng.random() * 100, 2), "plan": rng.choice(["free", "pro", "team"])}}
                    if rng.random() < 0.5:
                        event["url_path"] = events[-1].get("url_path", "/") if events else "/"
                else:
                    event = {"event_type": "pageview",
                             "url_path": rng.choices(PAGES, cum_weights=self.page_weights)[0]}
                    if rng.random() < 0.2:
                        event["properties"] = {"utm_source": rng.choice(["ads", "mail", "social"])}
                event.update({
                    "event_id": f"e-{ids}-{event_seq:07d}",
                    "website_id": site,
                    "session_id": session_id,
                    "visitor_id": visitor,
                    "referrer": referrer if i == 0 else None,
                    "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                    "context": {"ip": f"203.0.113.{rng.randrange(1, 255)}", "user_agent": "Mozilla/5.0"},
                })
                events.append(event)
                at += timedelta(seconds=5 + rng.expovariate(1 / 55.0))
            produced += n_events
            yield events

    def malformed_line(self, valid: dict) -> bytes:
        rng = self.rng
        kind = rng.randrange(6)
        if kind == 0:
            return orjson.dumps(valid)[:-7]  # truncated JSON
        broken = dict(valid)
        if kind == 1:
            broken.pop("session_id")
        elif kind == 2:
            broken["occurred_at"] = broken["occurred_at"].rstrip("Z")  # naive
        elif kind == 3:
            broken["event_type"] = "click"
        elif kind == 4:
            broken["website_id"] = 12345
        else:
            broken["url_path"] = "no-leading-slash"
            broken["event_type"] = "pageview"
        return orjson.dumps(broken)

    def write_days(self, out_dir: Path, start: date, days: int, events_per_day: int, *,
                   gzip_files: bool = False, prefix: str = "events") -> GeneratedFiles:
        """One JSONL file per day (``{prefix}-YYYY-MM-DD.jsonl[.gz]``), written then renamed so a
        watching sensor never sees half a file."""
        out_dir.mkdir(parents=True, exist_ok=True)
        paths: list[Path] = []
        events = duplicates = malformed = 0
        rng = self.rng
        for offset in range(days):
            day = start + timedelta(days=offset)
            name = f"{prefix}-{day.isoformat()}.jsonl" + (".gz" if gzip_files else "")
            final = out_dir / name

            def lines(day: date = day) -> Iterator[list[bytes]]:
                nonlocal events, duplicates, malformed
                for session in self.sessions_for_day(day, events_per_day):
                    out: list[bytes] = []
                    for event in session:
                        r = rng.random()
                        if r < self.malformed_rate:
                            out.append(self.malformed_line(event))
                            malformed += 1
                            continue
                        line = orjson.dumps(event)
                        out.append(line)
                        events += 1
                        if r > 1 - self.duplicate_rate:
                            out.append(line)  # the client re-sent it
                            duplicates += 1
                    yield out

            paths.append(_write_jsonl(final, lines(), gzip_files))
        return GeneratedFiles(paths, events, duplicates, malformed)


COURSES = [f"course-{i}" for i in range(101, 109)]
MODULES_PER_COURSE = 6
LEARNING_PAGES = ["/", "/courses", "/dashboard", "/profile"] + [f"/courses/{c}" for c in COURSES]


class LearningEventGenerator:
    """A learning platform (website ``learning-platform``): learners browse, enrol in courses,
    complete modules, take assessments and complete courses, as the custom events
    ``UserEnrolled {courseId}``, ``ModuleCompleted {courseId, moduleId}``,
    ``AssessmentCompleted {courseId, passed, score}`` and ``UserCompletedCourse {courseId}``.

    It has its own random stream and event-id prefix, so adding it leaves the other websites'
    files byte-identical. About 1 in 200 scores is the text ``"n/a"`` (a client bug), which
    numeric metrics skip and count as ignored."""

    website = "learning-platform"

    def __init__(self, *, seed: int = 42, learners: int = 2000) -> None:
        self.rng = random.Random(f"learning-platform-{seed}")
        self.learners = learners
        self.course_weights = _zipf_weights(len(COURSES), 0.7)
        self._session_seq = 0
        self._event_seq = 0
        self._ids = ""
        # learner -> course -> modules completed so far (progress carries across days)
        self.progress: dict[str, dict[str, set[int]]] = {}
        self.completed: set[tuple[str, str]] = set()  # (learner, course) pairs already completed

    def _event(self, learner: str, session: str, at: datetime, kind: str, name: str | None = None,
               props: dict | None = None, path: str | None = None) -> dict:
        self._event_seq += 1
        event = {"event_id": f"l-{self._ids}-{self._event_seq:07d}", "website_id": self.website, "session_id": session,
                 "visitor_id": learner, "event_type": kind,
                 "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}
        if name:
            event["event_name"] = name
        if path:
            event["url_path"] = path
        if props is not None:
            event["properties"] = props
        return event

    def sessions_for_day(self, day: date, events_target: int) -> Iterator[list[dict]]:
        rng = self.rng
        produced = 0
        day_start = datetime.combine(day, time(0), tzinfo=timezone.utc)
        progress = sorted((learner, sorted((course, sorted(done)) for course, done in courses.items()))
                          for learner, courses in self.progress.items())
        self._ids = _day_ids(day, rng.getstate(), events_target, self.learners, progress, sorted(self.completed))
        self._session_seq = self._event_seq = 0
        while produced < events_target:
            self._session_seq += 1
            session = f"ls-{self._ids}-{self._session_seq:06d}"
            learner = f"learner-{int(rng.paretovariate(1.1) * 13) % self.learners:05d}"
            at = day_start + timedelta(hours=rng.choices(range(24), weights=HOURLY)[0], seconds=rng.random() * 3600)
            course = rng.choices(COURSES, cum_weights=self.course_weights)[0]
            events = [self._event(learner, session, at, "pageview", path=f"/courses/{course}")]
            courses = self.progress.setdefault(learner, {})
            if course not in courses:
                courses[course] = set()
                events.append(self._event(learner, session, at + timedelta(seconds=20), "custom", "UserEnrolled",
                                          {"courseId": course}))
            done = courses[course]
            for step in range(1 + int(rng.expovariate(1 / 2.5))):
                at += timedelta(seconds=60 + rng.expovariate(1 / 400))
                remaining = [m for m in range(1, MODULES_PER_COURSE + 1) if m not in done]
                module = remaining[0] if remaining and rng.random() < 0.8 else rng.randint(1, MODULES_PER_COURSE)
                events.append(self._event(learner, session, at, "pageview", path=f"/courses/{course}/modules/{module}"))
                if rng.random() < 0.7:
                    done.add(module)
                    events.append(self._event(learner, session, at + timedelta(seconds=30), "custom", "ModuleCompleted",
                                              {"courseId": course, "moduleId": f"{course}-m{module}"}))
                if rng.random() < 0.25:
                    score = round(min(100.0, max(0.0, rng.gauss(72, 15))), 1)
                    props = {"courseId": course, "passed": score >= 60, "score": "n/a" if rng.random() < 0.005 else score}
                    events.append(self._event(learner, session, at + timedelta(seconds=45), "custom",
                                              "AssessmentCompleted", props))
            # A course is completed once; a learner who comes back to it later only revisits it.
            # (The random draw stays where it was, so every other event is unchanged.)
            if len(done) == MODULES_PER_COURSE and rng.random() < 0.6 and (learner, course) not in self.completed:
                self.completed.add((learner, course))
                events.append(self._event(learner, session, at + timedelta(seconds=90), "custom", "UserCompletedCourse",
                                          {"courseId": course}))
            produced += len(events)
            yield events

    def write_days(self, out_dir: Path, start: date, days: int, events_per_day: int, *,
                   prefix: str = "learning") -> GeneratedFiles:
        """One JSONL file per day (``{prefix}-YYYY-MM-DD.jsonl``), written then renamed."""
        out_dir.mkdir(parents=True, exist_ok=True)
        paths, events = [], 0
        for offset in range(days):
            day = start + timedelta(days=offset)
            final = out_dir / f"{prefix}-{day.isoformat()}.jsonl"

            def lines(day: date = day) -> Iterator[list[bytes]]:
                nonlocal events
                for session in self.sessions_for_day(day, events_per_day):
                    events += len(session)
                    yield [orjson.dumps(e) for e in session]

            paths.append(_write_jsonl(final, lines(), False))
        return GeneratedFiles(paths, events, 0, 0)
